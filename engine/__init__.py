"""The dispatch core: accept, durable commit, queues, upstream binds, receipts, MO, recovery, the CLI."""
