"""Durable accept: store each item and hold its price, many items of any kind per transaction.

`Acceptor.submit(item)` returns a future that resolves once the item is durably committed (None) or
refused by the ledger (`Rejected`); `post(item, on_done)` is the same with a callback. Nothing is
acknowledged to a customer before that: an OK (submit_sm_resp ROK, HTTP 202) means the item's row (an SMS
with its parts inline) and its reservation are on disk. A batch is one transaction: COPY of each kind's
rows into its table (engine/core/job_schema.py), then the ledger's hold of the whole batch (one posting
per account and group, billing.items), then — rarely — the removal of the rows the ledger refused.
After the commit, every accepted item's job goes to dispatch. Writes per item: one row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from billing.items import ItemHold, hold_items
from billing.model import LowBalance, ReserveOutcome
from engine.core.group_commit import CommitQueueFull, GroupCommitter, OnDone
from engine.core.job_schema import JobSchema
from engine.core.rejections import Reject, Rejected
from engine.dispatch.job import Job
from engine.infra import metrics


class Acceptor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        schemas: dict[type, JobSchema[Any]],
        new_batch_id: Callable[[], int],
        on_jobs: Callable[[Sequence[Job]], None],
        on_low_balance: Callable[[LowBalance], None] = lambda _: None,
        max_pending: int = 20_000,
    ) -> None:
        self._pool = pool
        self._schemas = schemas  # item type -> its kind's schema (PreparedMessage -> SMS, ...)
        self._new_batch_id = new_batch_id
        self._on_jobs = on_jobs
        self._on_low_balance = on_low_balance
        self._committer: GroupCommitter[Any, Rejected | None] = GroupCommitter(
            self._commit, max_pending=max_pending, concurrency=2, name="accept"
        )

    @property
    def pending(self) -> int:
        return self._committer.pending

    @property
    def committer(self) -> GroupCommitter[Any, Rejected | None]:
        return self._committer

    def start(self) -> None:
        self._committer.start()

    async def close(self) -> None:
        await self._committer.close()

    def submit(self, item: Any) -> asyncio.Future[Rejected | None]:
        self._schema(item)
        try:
            return self._committer.submit(item)
        except CommitQueueFull as exc:
            raise Rejected(Reject.QUEUE_FULL, str(exc)) from None

    def post(self, item: Any, on_done: OnDone[Rejected | None]) -> None:
        """submit() for the SMPP front: `on_done(result, error)` runs right after the commit."""
        self._schema(item)
        try:
            self._committer.post(item, on_done)
        except CommitQueueFull as exc:
            raise Rejected(Reject.QUEUE_FULL, str(exc)) from None

    def _schema(self, item: Any) -> JobSchema[Any]:
        schema = self._schemas.get(type(item))
        if schema is None:
            raise TypeError(f"no job schema for {type(item).__name__}")
        return schema

    async def _commit(self, batch: Sequence[Any]) -> list[Rejected | None]:
        now = datetime.now(UTC)
        batch_id = self._new_batch_id()
        schemas = [self._schemas[type(item)] for item in batch]
        by_table: dict[str, tuple[JobSchema[Any], list[tuple[object, ...]]]] = {}
        holds: list[ItemHold] = []
        charged: list[int] = []  # index in batch of each hold
        for index, (item, schema) in enumerate(zip(batch, schemas, strict=True)):
            by_table.setdefault(schema.table, (schema, []))[1].append(schema.row(item, now, batch_id))
            hold = schema.hold(item)
            if hold is not None:
                holds.append(hold)
                charged.append(index)
        results: list[Rejected | None] = [None] * len(batch)
        async with self._pool.acquire() as conn, conn.transaction():
            # Rows first, money last: the ledger locks the accounts' balance rows and every other
            # transaction of those accounts waits on them until we commit, so take them as late as possible.
            for table, (schema, rows) in by_table.items():
                await conn.copy_records_to_table(table, records=rows, columns=schema.columns)
            held = await hold_items(conn, batch_id, holds)
            refused: dict[str, list[int]] = {}
            for index, hold, outcome in zip(charged, holds, held.outcomes, strict=True):
                if outcome is ReserveOutcome.ACCEPTED:
                    continue
                schema = schemas[index]
                refused.setdefault(schema.table, []).append(schema.item_id(batch[index]))
                if outcome is ReserveOutcome.INSUFFICIENT:
                    needed = f"{hold.amount} micro-units needed"
                    results[index] = Rejected(Reject.INSUFFICIENT_BALANCE, needed)
                else:  # an account the ledger does not know
                    results[index] = Rejected(Reject.SYSTEM_ERROR, f"ledger: {outcome.value}")
            for table, ids in refused.items():  # rare: a refused item leaves no trace
                await conn.execute(f"DELETE FROM {table} WHERE id = ANY($1::bigint[])", ids)
        # After the commit, never before: a batch retried (or split to isolate a bad item) does this once.
        metrics.accepted([i for i, r in zip(batch, results, strict=True) if r is None])  # metrics
        jobs = [
            job
            for item, schema, result in zip(batch, schemas, results, strict=True)
            if result is None and (job := schema.job(item)) is not None
        ]
        if jobs:
            self._on_jobs(jobs)
        for low in held.low_balance:
            self._on_low_balance(low)
        return results
