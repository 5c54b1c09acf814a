"""Durable accept: reserve the price and store the message, many messages per transaction.

`Acceptor.submit(prepared)` returns a future that resolves once the message is durably committed (None)
or refused by the ledger (`Rejected`). Nothing is acknowledged to a customer before that future resolves:
an OK (submit_sm_resp ROK, HTTP 202) means the message, its parts, its reservation and its first event
are on disk. A batch is one transaction: the ledger's batch reservation, then COPY of the accepted rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import asyncpg

from billing.model import LowBalance, Reservation, ReserveOutcome
from billing.postings import reserve_batch
from engine.core.group_commit import CommitQueueFull, GroupCommitter
from engine.core.ids import format_id
from engine.core.intake import PreparedMessage
from engine.core.rejections import Reject, Rejected

MESSAGE_COLUMNS = (
    "id", "account_id", "channel", "system_id", "source", "source_ton", "source_npi", "destination",
    "data_coding", "encoding", "segments", "registered_delivery", "status", "route", "route_costs",
    "price", "cost", "currency", "country", "client_ref", "batch_id", "campaign_id", "scheduled_at",
    "expires_at", "created_at", "updated_at", "final_at",
)  # fmt: skip
PART_COLUMNS = ("message_id", "part", "short_message", "esm_class", "data_coding", "sar", "payload")
EVENT_COLUMNS = ("message_id", "at", "status", "reason")
_FORGET = """
WITH parts AS (DELETE FROM message_parts WHERE message_id = ANY($1::bigint[])),
     events AS (DELETE FROM message_events WHERE message_id = ANY($1::bigint[]))
DELETE FROM messages WHERE id = ANY($1::bigint[])
"""


def message_row(m: PreparedMessage, now: datetime) -> tuple[object, ...]:
    r = m.request
    # A sandbox message is final at once: delivered, so recovery and dispatch never look at it again.
    status, final_at = ("delivered", now) if r.sandbox else ("queued", None)
    return (
        m.id, r.account_id, r.channel, r.system_id, r.source, r.source_ton, r.source_npi, m.destination,
        m.data_coding, m.encoding, m.segments, r.registered_delivery, status, list(m.route),
        list(m.route_costs), m.price, 0, m.currency, m.country, r.client_ref, r.batch_id, r.campaign_id,
        r.scheduled_at, r.expires_at, now, now, final_at,
    )  # fmt: skip


def part_row(m: PreparedMessage, index: int) -> tuple[object, ...]:
    p = m.parts[index]
    sar = list(p.sar) if p.sar else None
    return (m.id, index, p.short_message, p.esm_class, p.data_coding, sar, p.payload)


class Acceptor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        on_committed: Callable[[Sequence[PreparedMessage]], None],
        on_low_balance: Callable[[LowBalance], None] = lambda _: None,
        max_pending: int = 20_000,
    ) -> None:
        self._pool = pool
        self._on_committed = on_committed
        self._on_low_balance = on_low_balance
        self._committer: GroupCommitter[PreparedMessage, Rejected | None] = GroupCommitter(
            self._commit, max_pending=max_pending, concurrency=2, name="accept"
        )

    @property
    def pending(self) -> int:
        return self._committer.pending

    def start(self) -> None:
        self._committer.start()

    async def close(self) -> None:
        await self._committer.close()

    def submit(self, message: PreparedMessage) -> asyncio.Future[Rejected | None]:
        try:
            return self._committer.submit(message)
        except CommitQueueFull as exc:
            raise Rejected(Reject.QUEUE_FULL, str(exc)) from None

    async def _commit(self, batch: Sequence[PreparedMessage]) -> list[Rejected | None]:
        now = datetime.now(UTC)
        # Sandbox messages are never charged: no reservation, and the ledger never hears of them.
        charged = [m for m in batch if not m.request.sandbox]
        reservations = [
            Reservation(format_id(m.id), m.request.account_id, m.amount, m.segments, m.country, m.route[0])
            for m in charged
        ]
        async with self._pool.acquire() as conn, conn.transaction():
            # Rows first, money last: the ledger locks the account's balance rows and every other
            # transaction of that account waits on them until we commit, so take them as late as possible.
            await conn.copy_records_to_table(
                "messages", records=[message_row(m, now) for m in batch], columns=MESSAGE_COLUMNS
            )
            await conn.copy_records_to_table(
                "message_parts",
                records=[part_row(m, i) for m in charged for i in range(len(m.parts))],
                columns=PART_COLUMNS,
            )
            await conn.copy_records_to_table(
                "message_events",
                records=[
                    (m.id, now, s, "sandbox" if m.request.sandbox else m.request.channel)
                    for m in batch
                    for s in (("accepted", "delivered") if m.request.sandbox else ("accepted",))
                ],
                columns=EVENT_COLUMNS,
            )
            reserved = await reserve_batch(conn, reservations)
            outcomes = iter(reserved.results)
            results: list[Rejected | None] = []
            accepted: list[PreparedMessage] = []
            refused: list[int] = []
            for message in batch:
                if message.request.sandbox:
                    results.append(None)
                    continue
                result = next(outcomes)
                if result.outcome is ReserveOutcome.ACCEPTED:
                    accepted.append(message)
                    results.append(None)
                    continue
                refused.append(message.id)
                if result.outcome is ReserveOutcome.INSUFFICIENT:
                    results.append(
                        Rejected(Reject.INSUFFICIENT_BALANCE, f"{message.amount} micro-units needed")
                    )
                else:  # unknown account, or an id reserved twice (cannot happen with fresh ids)
                    results.append(Rejected(Reject.SYSTEM_ERROR, f"ledger: {result.outcome.value}"))
            if refused:  # rare: a refused message leaves no trace
                await conn.execute(_FORGET, refused)
        if accepted:  # sandbox messages never reach dispatch: nothing is sent
            self._on_committed(accepted)
        for low in reserved.low_balance:
            self._on_low_balance(low)
        return results
