"""Durable accept: store each message and hold its price, many messages per transaction.

`Acceptor.submit(prepared)` returns a future that resolves once the message is durably committed (None)
or refused by the ledger (`Rejected`). Nothing is acknowledged to a customer before that future resolves:
an OK (submit_sm_resp ROK, HTTP 202) means the message row (its parts inline) and its reservation are on
disk. A batch is one transaction: COPY of the message rows, then the ledger's hold of the whole batch
(one posting per account and group, billing.items), then — rarely — the removal of the rows the ledger
refused. Writes per message: one row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import asyncpg

from billing.items import ItemHold, hold_items
from billing.model import LowBalance, ReserveOutcome
from engine.core.group_commit import CommitQueueFull, GroupCommitter, OnDone
from engine.core.intake import PreparedMessage
from engine.core.parts import encode_parts
from engine.core.rejections import Reject, Rejected
from engine.core.status import MoneyState, Status

MESSAGE_COLUMNS = (
    "id", "account_id", "channel", "system_id", "source", "source_ton", "source_npi", "destination",
    "data_coding", "encoding", "segments", "registered_delivery", "status", "route", "route_costs",
    "price", "cost", "currency", "country", "client_ref", "batch_id", "campaign_id", "scheduled_at",
    "expires_at", "created_at", "updated_at", "final_at", "parts", "amount", "money", "reserve_batch",
)  # fmt: skip

_FORGET = "DELETE FROM messages WHERE id = ANY($1::bigint[])"


def initial_status(m: PreparedMessage, now: datetime) -> Status:
    r = m.request
    if r.sandbox:  # final at once: delivered, so recovery and dispatch never look at it again
        return Status.DELIVERED
    if r.scheduled_at is not None and r.scheduled_at > now:
        return Status.SCHEDULED
    return Status.QUEUED


def message_row(m: PreparedMessage, now: datetime, batch: int) -> tuple[object, ...]:
    r = m.request
    status = initial_status(m, now)
    sandbox = r.sandbox
    return (
        m.id, r.account_id, r.channel, r.system_id, r.source, r.source_ton, r.source_npi, m.destination,
        m.data_coding, m.encoding, m.segments, r.registered_delivery, status.value, list(m.route),
        list(m.route_costs), m.price, 0, m.currency, m.country, r.client_ref, r.batch_id, r.campaign_id,
        r.scheduled_at, r.expires_at, now, now, now if sandbox else None, encode_parts(m.parts),
        0 if sandbox else m.amount, (MoneyState.NONE if sandbox else MoneyState.RESERVED).value,
        None if sandbox else batch,
    )  # fmt: skip


class Acceptor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        new_batch_id: Callable[[], int],
        on_committed: Callable[[Sequence[PreparedMessage]], None],
        on_low_balance: Callable[[LowBalance], None] = lambda _: None,
        max_pending: int = 20_000,
    ) -> None:
        self._pool = pool
        self._new_batch_id = new_batch_id
        self._on_committed = on_committed
        self._on_low_balance = on_low_balance
        self._committer: GroupCommitter[PreparedMessage, Rejected | None] = GroupCommitter(
            self._commit, max_pending=max_pending, concurrency=2, name="accept"
        )

    @property
    def pending(self) -> int:
        return self._committer.pending

    @property
    def committer(self) -> GroupCommitter[PreparedMessage, Rejected | None]:
        return self._committer

    def start(self) -> None:
        self._committer.start()

    async def close(self) -> None:
        await self._committer.close()

    def submit(self, message: PreparedMessage) -> asyncio.Future[Rejected | None]:
        try:
            return self._committer.submit(message)
        except CommitQueueFull as exc:
            raise Rejected(Reject.QUEUE_FULL, str(exc)) from None

    def post(self, message: PreparedMessage, on_done: OnDone[Rejected | None]) -> None:
        """submit() for the SMPP front: `on_done(result, error)` runs right after the commit."""
        try:
            self._committer.post(message, on_done)
        except CommitQueueFull as exc:
            raise Rejected(Reject.QUEUE_FULL, str(exc)) from None

    async def _commit(self, batch: Sequence[PreparedMessage]) -> list[Rejected | None]:
        now = datetime.now(UTC)
        batch_id = self._new_batch_id()
        # Sandbox messages are never charged: the ledger never hears of them.
        charged = [m for m in batch if not m.request.sandbox]
        holds = [ItemHold(m.request.account_id, m.amount, m.segments, m.country, m.route[0]) for m in charged]
        async with self._pool.acquire() as conn, conn.transaction():
            # Rows first, money last: the ledger locks the accounts' balance rows and every other
            # transaction of those accounts waits on them until we commit, so take them as late as possible.
            await conn.copy_records_to_table(
                "messages", records=[message_row(m, now, batch_id) for m in batch], columns=MESSAGE_COLUMNS
            )
            held = await hold_items(conn, batch_id, holds)
            outcomes = iter(held.outcomes)
            results: list[Rejected | None] = []
            accepted: list[PreparedMessage] = []
            refused: list[int] = []
            for message in batch:
                if message.request.sandbox:
                    results.append(None)
                    continue
                outcome = next(outcomes)
                if outcome is ReserveOutcome.ACCEPTED:
                    accepted.append(message)
                    results.append(None)
                    continue
                refused.append(message.id)
                if outcome is ReserveOutcome.INSUFFICIENT:
                    results.append(
                        Rejected(Reject.INSUFFICIENT_BALANCE, f"{message.amount} micro-units needed")
                    )
                else:  # an account the ledger does not know
                    results.append(Rejected(Reject.SYSTEM_ERROR, f"ledger: {outcome.value}"))
            if refused:  # rare: a refused message leaves no trace
                await conn.execute(_FORGET, refused)
        # After the commit, never before: a batch retried (or split to isolate a bad item) does this once.
        if accepted:  # sandbox messages never reach dispatch: nothing is sent
            self._on_committed(accepted)
        for low in held.low_balance:
            self._on_low_balance(low)
        return results
