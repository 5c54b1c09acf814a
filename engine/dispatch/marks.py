"""Dispatch marks: before a job goes out, it is durably known that it may have gone out.

After a crash, a job that may have reached its platform is sent again once, flagged possible_duplicate;
one that certainly did not is sent again unflagged. Writing a 'sending' mark on every row before every
send would double the writes of the hot path, so two mechanisms share the work:

- the node's **dispatch watermark** (`engine_nodes.dispatched_upto`): fresh jobs of this node go out
  roughly in id order, so one durable number covers them all — a queued job of node N with an id at or
  below N's watermark may have been sent, one above it was not. When a job is not covered yet, the
  watermark moves past both the jobs about to go (a few windows' worth beyond the head of the queue)
  and every id this node will hand out in the next `LOOKAHEAD_MS`: one small UPDATE covers all that
  traffic, so the advance is paid a few times a second, not per batch. After a crash this flags as
  possible duplicates at most what was accepted in that last fraction of a second and not yet sent;
- an explicit **'sending' mark** on the job's own row for everything else (jobs recovered after a
  restart, whose ids belong to another node's watermark, and scheduled jobs that come due out of order).

Both are written by one committer (Policy.RETRY: never dropped) and both are read by recovery
(engine/core/recovery.py). This module must never let a job out before its mark is durable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import asyncpg

from engine.core.group_commit import GroupCommitter, Policy
from engine.core.ids import MessageIdGenerator
from engine.dispatch.job import Job

_WATERMARK = """
UPDATE engine_nodes SET dispatched_upto = greatest(dispatched_upto, $2), heartbeat_at = now() WHERE node = $1
"""
# {table} is a job kind's table (messages for SMS); the set of tables is fixed at construction.
_EXPLICIT = """
UPDATE {table} SET status = 'sending', attempts = attempts + 1, updated_at = now()
WHERE id = ANY($1::bigint[]) AND final_at IS NULL
"""


class Marks(Protocol):
    """What the dispatch loop asks of the marks (DispatchMarks; a stand-in in the loop's own tests)."""

    def covered(self, job: Job) -> bool: ...

    def in_hand(self, job: Job) -> bool: ...

    def request(self, job: Job, horizon: int) -> None: ...

    def add_listener(self, listener: Callable[[], None]) -> None: ...


class DispatchMarks:
    LOOKAHEAD_MS = 200

    def __init__(
        self, pool: asyncpg.Pool, ids: MessageIdGenerator, *, tables: Mapping[str, str], watermark: int = 0
    ) -> None:
        self._pool = pool
        self._ids = ids
        self._node = ids.node
        self._tables = dict(tables)  # job kind -> the table of its rows
        self.watermark = watermark  # durable: every fresh job of this node with an id <= it is covered
        self._requested = watermark
        self._listeners: list[Callable[[], None]] = []
        self._committer: GroupCommitter[int | Job, None] = GroupCommitter(
            self._commit, concurrency=1, policy=Policy.RETRY, name="dispatch-marks"
        )

    def start(self) -> None:
        self._committer.start()

    async def close(self) -> None:
        await self._committer.close()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called after each commit of marks: jobs waiting for one may go now."""
        self._listeners.append(listener)

    @property
    def pending(self) -> int:
        return self._committer.pending

    @property
    def committer(self) -> GroupCommitter[int | Job, None]:
        return self._committer

    def covered(self, job: Job) -> bool:
        return job.marked or (not job.needs_mark and job.id <= self.watermark)

    def in_hand(self, job: Job) -> bool:
        """A mark covering `job` is already on its way: nothing to ask for, only to wait."""
        return job.mark_requested if job.needs_mark else job.id <= self._requested

    def request(self, job: Job, horizon: int) -> None:
        """Ask for `job` to be covered: by its own mark, or by moving the watermark up to `horizon`."""
        if job.needs_mark:
            if not job.mark_requested:
                job.mark_requested = True
                self._committer.post(job)
        elif job.id > self._requested:
            self._requested = max(horizon, job.id, self._ids.ceiling(self.LOOKAHEAD_MS))
            self._committer.post(self._requested)

    async def _commit(self, batch: Sequence[int | Job]) -> list[None]:
        upto = max((b for b in batch if isinstance(b, int)), default=0)
        jobs = [b for b in batch if isinstance(b, Job)]
        by_table: dict[str, list[int]] = {}
        for job in jobs:
            by_table.setdefault(self._tables[job.kind], []).append(job.id)
        async with self._pool.acquire() as conn:
            if upto and not by_table:  # the common case: one statement, its own transaction
                await conn.execute(_WATERMARK, self._node, upto)
            else:
                async with conn.transaction():
                    if upto:
                        await conn.execute(_WATERMARK, self._node, upto)
                    for table, ids in by_table.items():
                        await conn.execute(_EXPLICIT.format(table=table), ids)
        self.watermark = max(self.watermark, upto)
        for job in jobs:
            job.marked = True
        for listener in self._listeners:
            listener()
        return [None] * len(batch)
