"""This process as one node of several on one PostgreSQL: identity, lease, fencing, and taking over.

Every engine process is a node with a stable name and a number (0..1023, embedded in every id it makes),
recorded in `engine_nodes`. It holds a lease it renews every `heartbeat_seconds`:

- **starting**: a name gets back its number (so a restarted node resumes its own messages); a new name
  gets a number never used, or one whose last holder is long dead and was taken over. A name still held by
  a live process is refused — unless that process is this host's and gone (a kill -9 then a restart).
- **fencing**: a node that could not renew its lease for `lease_seconds` may have been taken over, so it
  stops starting new sends (`on_fenced(True)`) until it renews; a node that finds it *was* taken over
  while it could not reach the database stops for good (`on_adopted`): its messages are someone else's.
- **taking over**: a node that has held its lease for at least one lease period claims each node whose
  lease expired (one UPDATE: one node wins), becomes the owner of that node's messages that were not with
  a carrier yet and of its MO parts, and hands them to `on_adopt` (dispatch). Deliveries and webhooks
  the dead node had claimed come back by their own leases.
- **members**: each heartbeat also reads the live nodes, so that carriers' binds can be shared out
  (`on_members`).

This module decides who owns what; it never sends anything itself.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import structlog

from engine.core.ids import MAX_NODE

log = structlog.get_logger("engine.nodes")

_LOCK = 0x5D5E6E2  # serialises number allocation between nodes starting at once

_BY_NAME = """
SELECT node, host, pid, heartbeat_at > now() - make_interval(secs => lease_seconds) AS alive
FROM engine_nodes WHERE name = $1
"""
_FREE = """
SELECT n FROM generate_series(0, $1::integer) AS n
WHERE NOT EXISTS (SELECT 1 FROM engine_nodes e WHERE e.node = n) ORDER BY n LIMIT 1
"""
# A number used before may be given again only once its holder is dead, was taken over, and an hour has
# passed (what it dispatched is final or another node's by then).
_REUSABLE = """
SELECT node FROM engine_nodes
WHERE adopted_by IS NOT NULL AND heartbeat_at < now() - interval '1 hour' ORDER BY heartbeat_at LIMIT 1
"""
_CLAIM_NEW = """
INSERT INTO engine_nodes (node, name, host, pid, lease_seconds) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (node) DO UPDATE SET name = EXCLUDED.name, host = EXCLUDED.host, pid = EXCLUDED.pid,
    lease_seconds = EXCLUDED.lease_seconds, started_at = now(), heartbeat_at = now(), adopted_by = NULL,
    adopted_at = NULL, stopped_at = NULL, dispatched_upto = 0
"""
# A node back under its own name: the watermark stays (recovery reads it) until recovery has run.
_CLAIM_OWN = """
UPDATE engine_nodes SET host = $2, pid = $3, lease_seconds = $4, started_at = now(), heartbeat_at = now(),
    adopted_by = NULL, adopted_at = NULL, stopped_at = NULL
WHERE node = $1
"""
_RENEW = """
UPDATE engine_nodes SET heartbeat_at = now() WHERE node = $1 AND pid = $2 AND host = $3
RETURNING adopted_by
"""
_MEMBERS = """
SELECT node FROM engine_nodes
WHERE heartbeat_at > now() - make_interval(secs => lease_seconds) AND stopped_at IS NULL ORDER BY node
"""
_DEAD = """
SELECT node FROM engine_nodes
WHERE node <> $1 AND adopted_by IS NULL AND heartbeat_at < now() - make_interval(secs => lease_seconds)
ORDER BY node
"""
_STOPPED = "UPDATE engine_nodes SET stopped_at = now() WHERE node = $1 AND pid = $2"


class NodeNameInUse(RuntimeError):
    """Another live process runs under this node name."""


def default_name(smpp_port: int, data_dir: str) -> str:
    """host:port when the port is fixed (so a restart is the same node); else a name of this start."""
    host = socket.gethostname()
    if smpp_port:
        return f"{host}:{smpp_port}"
    return f"{host}:{os.getpid()}:{time.time_ns()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def claim_number(pool: asyncpg.Pool, name: str, lease_seconds: float) -> tuple[int, bool]:
    """The node number for `name`, and whether it is this name's own from before (then: resume)."""
    host, pid = socket.gethostname(), os.getpid()
    deadline = time.monotonic() + lease_seconds * 2
    while True:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
            row = await conn.fetchrow(_BY_NAME, name)
            if row is not None:
                stale = row["host"] == host and not _pid_alive(row["pid"])  # killed, on this host
                if not row["alive"] or stale:
                    await conn.execute(_CLAIM_OWN, row["node"], host, pid, lease_seconds)
                    return int(row["node"]), True
            else:
                number = await conn.fetchval(_FREE, MAX_NODE)
                if number is None:
                    number = await conn.fetchval(_REUSABLE)
                if number is None:
                    raise RuntimeError(f"all {MAX_NODE + 1} node numbers are taken by nodes not yet retired")
                await conn.execute(_CLAIM_NEW, number, name, host, pid, lease_seconds)
                return int(number), False
        if time.monotonic() > deadline:
            raise NodeNameInUse(
                f"node name {name!r} is held by a live process ({row['host']} pid {row['pid']})"
            )
        await asyncio.sleep(lease_seconds / 5)  # its lease may be running out (a crash elsewhere)


class NodeLease:
    """Renews this node's lease, fences it when it cannot, and takes over nodes that died."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        node: int,
        *,
        lease_seconds: float,
        heartbeat_seconds: float,
        on_fenced: Callable[[bool], None],
        on_adopted: Callable[[int], None],
        on_adopt: Callable[[int], Awaitable[int | None]],
        on_members: Callable[[Sequence[int]], None] = lambda _: None,
        on_beat: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self.node = node
        self._lease = lease_seconds
        self._interval = heartbeat_seconds
        self._on_fenced = on_fenced
        self._on_adopted = on_adopted
        self._on_adopt = on_adopt
        self._on_members = on_members
        self._on_beat = on_beat
        self._clock = clock
        self._host, self._pid = socket.gethostname(), os.getpid()
        self._renewed = clock()  # the engine claimed its number just now
        self._held_since = clock()
        self._fenced = False
        self._task: asyncio.Task[None] | None = None
        self.members: list[int] = [node]
        self.adopted: list[int] = []  # nodes this one has taken over

    @property
    def fenced(self) -> bool:
        return self._fenced

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"node-{self.node}-lease")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self._pool.execute(_STOPPED, self.node, self._pid)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass  # it will look dead when its lease runs out, which is the same thing

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("node lease not renewed", node=self.node, error=repr(exc))
            self._check_fence()
            await asyncio.sleep(self._interval)  # a heartbeat is a schedule, not a wait for an event

    def _check_fence(self) -> None:
        expired = self._clock() - self._renewed >= self._lease - self._interval
        if expired != self._fenced:
            self._fenced = expired
            log.warning("node fenced: not sending" if expired else "node lease back: sending", node=self.node)
            self._on_fenced(expired)
            if expired:
                self._held_since = float("inf")  # a fresh full lease must pass before taking anyone over

    async def beat(self) -> None:
        """Renew the lease; read the members; take over dead nodes once the lease has been held a while."""
        async with asyncio.timeout(self._lease / 2):
            adopted_by = await self._pool.fetchval(_RENEW, self.node, self._pid, self._host)
        now = self._clock()
        self._renewed = now
        if self._held_since == float("inf"):
            self._held_since = now
        if adopted_by is not None:
            log.error("this node was taken over while it could not renew its lease", node=self.node,
                      by=adopted_by)  # fmt: skip
            self._on_adopted(int(adopted_by))
            return
        self._check_fence()
        members = [int(r["node"]) for r in await self._pool.fetch(_MEMBERS)]
        if members != self.members:
            self.members = members
            self._on_members(members)
        if self._on_beat is not None:
            await self._on_beat()
        if now - self._held_since >= self._lease:
            for row in await self._pool.fetch(_DEAD, self.node):
                await self._take_over(int(row["node"]))

    async def _take_over(self, dead: int) -> None:
        count = await self._on_adopt(dead)  # claims it and owns its messages, in one transaction
        if count is None:
            return  # another node claimed it first, or it came back
        self.adopted.append(dead)
        log.warning("took over a dead node", node=self.node, dead=dead, messages=count)
