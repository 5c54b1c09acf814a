"""Rate cards and least-cost route selection: pure decision code plus its PostgreSQL storage.

Modules, one concept each:
- model: the Structs routing speaks (carriers, tariff rows, rules, health, requests, decisions, NoRoute);
- numbers: destination addresses (SMPP ton/npi or a default region) to E.164 digits;
- prefix_index: longest-prefix match and the precomputed per-prefix cost ranking;
- rules: matching route rules against a request;
- table: the immutable RoutingTable snapshot and `select` (pure, no I/O, no clock, no randomness);
- tariff_csv: rate card / price list CSV, exact micro-units, per-row error report;
- storage: the RoutingStore interface and PgRoutingStore (asyncpg, COPY imports, consistent snapshots);
- live: LiveRoutingTable, which swaps in a new snapshot when `routing_version` moves;
- explain / operator: what the operator CLI calls (imports, exports, `routes explain`).

routing imports nothing from engine/, billing/, smpp/ or http_api/; the engine depends on it, not back.
"""
