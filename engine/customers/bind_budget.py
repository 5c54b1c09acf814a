"""A customer's SMPP bind limit and throughput, held across every node it is bound to.

`max_binds` counts the customer's binds on all live nodes (`customer_binds`, one row per node and
system_id): a bind is admitted in one transaction that locks the customer's credential row, sums the live
nodes' binds and records this one, so two nodes admitting at once cannot both take the last place. A dead
node's binds stop counting when its lease runs out (its customers reconnect elsewhere).

`throughput` (messages per second) is the customer's, not each bind's: every node holding binds of a
customer gets the part of it its binds are of the customer's binds on all nodes, recomputed at every
heartbeat and at every local bind or unbind, and all binds of the customer on a node share one bucket.
This module never authenticates anyone (that is engine/customers/credentials.py).
"""

from __future__ import annotations

import time

import asyncpg

from engine.core.throttle import TokenBucket

_LOCK = "SELECT max_binds FROM smpp_credentials WHERE system_id = $1 FOR UPDATE"
_LIVE = """
SELECT coalesce(sum(b.binds), 0) FROM customer_binds b JOIN engine_nodes e ON e.node = b.node
WHERE b.system_id = $1 AND e.heartbeat_at > now() - make_interval(secs => e.lease_seconds)
  AND e.stopped_at IS NULL
"""
_TAKE = """
INSERT INTO customer_binds (node, system_id, binds) VALUES ($1, $2, 1)
ON CONFLICT (node, system_id) DO UPDATE SET binds = customer_binds.binds + 1
"""
_GIVE_BACK = """
UPDATE customer_binds SET binds = greatest(binds - 1, 0) WHERE node = $1 AND system_id = $2
"""
_TOTALS = """
SELECT b.system_id, sum(b.binds) AS binds FROM customer_binds b JOIN engine_nodes e ON e.node = b.node
WHERE b.system_id = ANY($1::text[]) AND e.heartbeat_at > now() - make_interval(secs => e.lease_seconds)
  AND e.stopped_at IS NULL
GROUP BY b.system_id
"""


class BindBudget:
    def __init__(self, pool: asyncpg.Pool, node: int) -> None:
        self._pool = pool
        self._node = node
        self._local: dict[str, int] = {}  # system_id -> binds here
        self._totals: dict[str, int] = {}  # system_id -> binds on all live nodes, as last read
        self._throughput: dict[str, int] = {}
        self._buckets: dict[str, TokenBucket] = {}

    async def forget_previous_run(self) -> None:
        await self._pool.execute("DELETE FROM customer_binds WHERE node = $1", self._node)

    async def admit(self, system_id: str, max_binds: int) -> int | None:
        """Count this bind in if the customer has room on all nodes; its place (1-based), else None."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.fetchval(_LOCK, system_id)
            live = int(await conn.fetchval(_LIVE, system_id))
            if live >= max_binds:
                return None
            await conn.execute(_TAKE, self._node, system_id)
        self._local[system_id] = self._local.get(system_id, 0) + 1
        self._totals[system_id] = live + 1
        return live + 1

    async def release(self, system_id: str) -> None:
        self._local[system_id] = max(0, self._local.get(system_id, 0) - 1)
        self._totals[system_id] = max(self._local[system_id], self._totals.get(system_id, 1) - 1)
        self._reshare(system_id)
        await self._pool.execute(_GIVE_BACK, self._node, system_id)

    def bucket(self, system_id: str, throughput: int) -> TokenBucket:
        """The bucket all of this customer's binds on this node take from."""
        self._throughput[system_id] = throughput
        bucket = self._buckets.get(system_id)
        if bucket is None:
            bucket = self._buckets[system_id] = TokenBucket(throughput, now=time.monotonic())
        self._reshare(system_id)
        return bucket

    async def refresh(self) -> None:
        """Re-read how many binds each locally bound customer has on all live nodes (each heartbeat)."""
        bound = [s for s, n in self._local.items() if n > 0]
        if not bound:
            return
        for row in await self._pool.fetch(_TOTALS, bound):
            self._totals[row["system_id"]] = int(row["binds"])
        for system_id in bound:
            self._reshare(system_id)

    def _reshare(self, system_id: str) -> None:
        bucket = self._buckets.get(system_id)
        if bucket is None:
            return
        local = self._local.get(system_id, 0)
        total = max(local, self._totals.get(system_id, local), 1)
        rate = max(1.0, self._throughput.get(system_id, 1) * max(local, 1) / total)
        bucket.rate = rate
        bucket.burst = max(1.0, rate / 5)
