"""Rate cards and least-cost route selection: pure decision code plus its PostgreSQL storage."""
