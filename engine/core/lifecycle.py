"""A message's life after accept, written in batches: sending marks, carrier outcomes, receipts.

Everything that changes a message after it was accepted goes through one `Lifecycle` group committer, so
each change is durable before anyone relies on it, and many changes share one transaction:

- `mark_sending`: before a message goes to a carrier (awaited by the dispatcher: after a crash, a
  message found 'sending' is sent again once, flagged possible_duplicate);
- `submitted`: every part accepted by the carrier: record the carrier ids, capture the reservation;
- `failed`: the message cannot be sent: final state, release (or capture what was sent);
- `receipt`: a carrier receipt: stored, matched to its part, rolled up to the message, refunded by the
  account's policy, and turned into a delivery owed to the customer.

A receipt can arrive before its submit_sm_resp is recorded, or on another bind. Both the receipt and the
submitted outcome take a transaction-scoped advisory lock on (carrier, key) before looking for each
other, so whichever commits second always sees the first: nothing is left unmatched, without any sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec

from billing.model import Capture
from billing.postings import capture_batch, refund_batch, release_batch
from engine.core.group_commit import GroupCommitter
from engine.core.ids import format_id
from engine.outbox.webhooks import WebhookEvent, WebhookSender, message_event_name
from smpp.constants import MessageState
from smpp.receipt import state_of_stat

if TYPE_CHECKING:
    from billing.db import Connection

FINAL_PART = {"delivered", "undeliverable", "expired", "rejected", "failed"}
STATE_STATUS = {
    MessageState.DELIVERED: "delivered",
    MessageState.EXPIRED: "expired",
    MessageState.DELETED: "rejected",
    MessageState.UNDELIVERABLE: "undeliverable",
    MessageState.REJECTED: "rejected",
    MessageState.UNKNOWN: "failed",
}
STATUS_STATE = {
    "delivered": MessageState.DELIVERED,
    "expired": MessageState.EXPIRED,
    "undeliverable": MessageState.UNDELIVERABLE,
    "rejected": MessageState.REJECTED,
    "failed": MessageState.UNDELIVERABLE,
}
# The worst part decides a multipart message's final state.
_SEVERITY = ["delivered", "expired", "rejected", "failed", "undeliverable"]


def roll_up(part_statuses: Sequence[str]) -> str | None:
    """The message's final status when every part is final, else None."""
    if any(s not in FINAL_PART for s in part_statuses):
        return None
    return max(part_statuses, key=_SEVERITY.index)


class SendingMark(msgspec.Struct, frozen=True):
    message_id: int
    carrier: str


class PartSubmitted(msgspec.Struct, frozen=True):
    part: int
    carrier: str
    carrier_message_id: str
    key: str


class Submitted(msgspec.Struct, frozen=True):
    message_id: int
    route_index: int
    cost: int  # what the carrier charges for all segments
    carrier: str
    parts: tuple[PartSubmitted, ...]
    possible_duplicate: bool = False


class Failed(msgspec.Struct, frozen=True):
    message_id: int
    status: str  # failed | rejected | expired
    reason: str
    error_code: int | None = None
    charge_cost: int | None = None  # some parts went out: capture with this cost instead of releasing


class ReceiptIn(msgspec.Struct, frozen=True):
    carrier: str
    key: str
    state: int | None
    network_error: int | None
    stat: str
    err: str


class Delivery(msgspec.Struct, frozen=True):
    """Something owed to a customer (receipt or MO), as stored in `deliveries`."""

    id: int
    account_id: int
    kind: str
    message_id: int | None
    body: dict[str, Any]


Item = SendingMark | Submitted | Failed | ReceiptIn

_LOCK_KEYS = """
SELECT pg_advisory_xact_lock(h) FROM (
    SELECT DISTINCT hashtextextended(c || ':' || k, 0) AS h FROM unnest($1::text[], $2::text[]) AS t(c, k)
    ORDER BY 1
) s
"""

_MARK = """
UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = now()
WHERE id = ANY($1::bigint[]) AND final_at IS NULL
"""

_PARTS_SUBMITTED = """
UPDATE message_parts p
SET carrier = u.carrier, carrier_key = u.key, carrier_message_id = u.cid, status = 'submitted'
FROM unnest($1::bigint[], $2::smallint[], $3::text[], $4::text[], $5::text[])
    AS u(mid, part, carrier, key, cid)
WHERE p.message_id = u.mid AND p.part = u.part AND p.status NOT IN ('delivered', 'undeliverable', 'expired',
    'rejected', 'failed')
"""

_MESSAGES_SUBMITTED = """
UPDATE messages m
SET status = 'submitted', cost = u.cost, route_index = u.ri,
    possible_duplicate = m.possible_duplicate OR u.dup, updated_at = now()
FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::bool[]) AS u(id, cost, ri, dup)
WHERE m.id = u.id AND m.final_at IS NULL
"""

_EVENTS = """
INSERT INTO message_events (message_id, status, reason, error_code)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::integer[])
"""

_EARLY_RECEIPTS = """
UPDATE carrier_receipts r SET matched_message_id = p.message_id, matched_part = p.part
FROM message_parts p
WHERE p.message_id = ANY($1::bigint[]) AND p.carrier_key IS NOT NULL
  AND r.matched_message_id IS NULL AND r.carrier = p.carrier AND r.carrier_key = p.carrier_key
RETURNING p.message_id, p.part, r.state, r.network_error, r.stat, r.err
"""

_INSERT_RECEIPTS = """
INSERT INTO carrier_receipts (carrier, carrier_key, state, network_error, stat, err)
SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::integer[], $5::text[], $6::text[])
RETURNING id
"""

_MATCH_RECEIPTS = """
UPDATE carrier_receipts r SET matched_message_id = p.message_id, matched_part = p.part
FROM message_parts p
WHERE r.id = ANY($1::bigint[]) AND p.carrier = r.carrier AND p.carrier_key = r.carrier_key
RETURNING p.message_id, p.part, r.state, r.network_error, r.stat, r.err
"""

_PART_FINAL = """
UPDATE message_parts p SET status = u.status, error_code = u.err
FROM unnest($1::bigint[], $2::smallint[], $3::text[], $4::integer[]) AS u(mid, part, status, err)
WHERE p.message_id = u.mid AND p.part = u.part
  AND p.status NOT IN ('delivered', 'undeliverable', 'expired', 'rejected', 'failed')
"""

_ROLL_UP = """
SELECT m.id, m.account_id, m.channel, m.system_id, m.source, m.destination, m.registered_delivery,
       m.segments, m.created_at, m.client_ref, array_agg(p.status ORDER BY p.part) AS parts
FROM messages m JOIN message_parts p ON p.message_id = m.id
WHERE m.id = ANY($1::bigint[]) AND m.final_at IS NULL
GROUP BY m.id
"""

_FINALISE = """
UPDATE messages m SET status = u.status, final_at = now(), updated_at = now(),
    error_code = coalesce(u.err, m.error_code), reason = coalesce(u.reason, m.reason)
FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[]) AS u(id, status, err, reason)
WHERE m.id = u.id AND m.final_at IS NULL
RETURNING m.id, m.account_id, m.channel, m.system_id, m.source, m.destination, m.registered_delivery,
          m.segments, m.created_at, m.client_ref, m.status, m.final_at
"""

_FAIL_PARTS = """
UPDATE message_parts SET status = 'failed'
WHERE message_id = ANY($1::bigint[]) AND status NOT IN ('submitted', 'delivered', 'undeliverable',
    'expired', 'rejected', 'failed')
"""

_INSERT_DELIVERIES = """
INSERT INTO deliveries (account_id, kind, message_id, body)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::jsonb[])
RETURNING id, account_id, kind, message_id, body
"""

_JSON = msgspec.json.Encoder()


def _wants_receipt(registered_delivery: int, status: str) -> bool:
    """SMPP 3.4 5.2.17: bits 1-0 = 01 receipt on any final outcome, 10 on failure only."""
    wanted = registered_delivery & 0x03
    return wanted == 1 or (wanted == 2 and status != "delivered")


async def insert_deliveries(
    conn: Connection, rows: list[tuple[int, str, int | None, dict[str, Any]]]
) -> list[Delivery]:
    if not rows:
        return []
    records = await conn.fetch(
        _INSERT_DELIVERIES,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [_JSON.encode(r[3]).decode() for r in rows],
    )
    return [
        Delivery(r["id"], r["account_id"], r["kind"], r["message_id"], msgspec.json.decode(r["body"]))
        for r in records
    ]


class _Money:
    """Ledger work collected during a batch and applied at its end, in an order that is always valid:
    a message captured in this batch may be refunded by a receipt in the same batch."""

    def __init__(self) -> None:
        self.captures: list[Capture] = []
        self.releases: list[str] = []
        self.refunds: list[str] = []
        self.webhook_rows = 0  # not money, but per-batch too: wake the webhook sender after commit

    async def apply(self, conn: Connection) -> None:
        if self.captures:
            await capture_batch(conn, self.captures)
        if self.releases:
            await release_batch(conn, self.releases)
        if self.refunds:
            await refund_batch(conn, self.refunds)


class Lifecycle:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        on_deliveries: Callable[[list[Delivery]], None] = lambda _: None,
        webhooks: WebhookSender | None = None,
        concurrency: int = 2,
        max_pending: int = 200_000,
    ) -> None:
        self._pool = pool
        self._on_deliveries = on_deliveries
        self._webhooks = webhooks
        self._committer: GroupCommitter[Item, None] = GroupCommitter(
            self._commit, concurrency=concurrency, max_pending=max_pending, name="lifecycle"
        )
        # Sending marks are awaited by dispatch before each send: they get their own transactions, which
        # touch no ledger row and so never queue behind a capture.
        self._marks: GroupCommitter[SendingMark, None] = GroupCommitter(
            self._commit_marks, concurrency=2, max_pending=max_pending, name="sending-marks"
        )

    def start(self) -> None:
        self._committer.start()
        self._marks.start()

    async def close(self) -> None:
        await self._marks.close()
        await self._committer.close()

    @property
    def pending(self) -> int:
        return self._committer.pending + self._marks.pending

    def submit(self, item: Item) -> asyncio.Future[None]:
        if isinstance(item, SendingMark):
            return self._marks.submit(item)
        return self._committer.submit(item)

    async def _commit_marks(self, batch: Sequence[SendingMark]) -> list[None]:
        await self._pool.execute(_MARK, [m.message_id for m in batch])
        return [None] * len(batch)

    # ------------------------------------------------------------------------------------- batch

    async def _commit(self, batch: Sequence[Item]) -> list[None]:
        submitted = [i for i in batch if isinstance(i, Submitted)]
        failed = [i for i in batch if isinstance(i, Failed)]
        receipts = [i for i in batch if isinstance(i, ReceiptIn)]
        deliveries: list[Delivery] = []
        money = _Money()
        async with self._pool.acquire() as conn, conn.transaction():
            keys = [(p.carrier, p.key) for s in submitted for p in s.parts]
            keys += [(r.carrier, r.key) for r in receipts]
            if keys:
                await conn.execute(_LOCK_KEYS, [k[0] for k in keys], [k[1] for k in keys])
            matched: list[asyncpg.Record] = []
            if submitted:
                matched += await self._record_submitted(conn, submitted, money)
            if receipts:
                matched += await self._record_receipts(conn, receipts)
            if matched:
                deliveries += await self._apply_receipts(conn, matched, money)
            if failed:
                deliveries += await self._record_failed(conn, failed, money)
            # Money last: the ledger locks the accounts' balance rows until commit, and the accept path of
            # the same accounts waits on them; everything above is done before taking them.
            await money.apply(conn)
        if deliveries:
            self._on_deliveries(deliveries)
        if money.webhook_rows and self._webhooks is not None:
            self._webhooks.wake()
        return [None] * len(batch)

    async def _record_submitted(
        self, conn: Connection, items: list[Submitted], money: _Money
    ) -> list[asyncpg.Record]:
        parts = [(s.message_id, p) for s in items for p in s.parts]
        await conn.execute(
            _PARTS_SUBMITTED,
            [m for m, _ in parts],
            [p.part for _, p in parts],
            [p.carrier for _, p in parts],
            [p.key for _, p in parts],
            [p.carrier_message_id for _, p in parts],
        )
        ids = [s.message_id for s in items]
        await conn.execute(
            _MESSAGES_SUBMITTED,
            ids,
            [s.cost for s in items],
            [s.route_index for s in items],
            [s.possible_duplicate for s in items],
        )
        await conn.execute(
            _EVENTS, ids, ["submitted"] * len(items), [s.carrier for s in items], [None] * len(items)
        )
        money.captures += [Capture(format_id(s.message_id), s.cost, s.carrier) for s in items]
        return list(await conn.fetch(_EARLY_RECEIPTS, ids))

    async def _record_receipts(self, conn: Connection, items: list[ReceiptIn]) -> list[asyncpg.Record]:
        rows = await conn.fetch(
            _INSERT_RECEIPTS,
            [r.carrier for r in items],
            [r.key for r in items],
            [r.state for r in items],
            [r.network_error for r in items],
            [r.stat for r in items],
            [r.err for r in items],
        )
        return list(await conn.fetch(_MATCH_RECEIPTS, [r["id"] for r in rows]))

    async def _apply_receipts(
        self, conn: Connection, matched: list[asyncpg.Record], money: _Money
    ) -> list[Delivery]:
        finals = []
        detail: dict[int, asyncpg.Record] = {}
        for r in matched:
            status = part_status_of(r["state"], r["stat"])
            if status is not None:
                finals.append((r["message_id"], r["part"], status, _err_int(r["err"])))
                detail[r["message_id"]] = r
        if not finals:
            return []
        await conn.execute(
            _PART_FINAL,
            [f[0] for f in finals],
            [f[1] for f in finals],
            [f[2] for f in finals],
            [f[3] for f in finals],
        )
        rolled = await conn.fetch(_ROLL_UP, list({f[0] for f in finals}))
        done: list[tuple[int, str, int | None, str | None]] = []
        for row in rolled:
            status = roll_up(row["parts"])
            if status is not None:
                receipt = detail[row["id"]]
                done.append((row["id"], status, _err_int(receipt["err"]), None))
        return await self._finalise(conn, done, receipts=detail, money=money)

    async def _record_failed(self, conn: Connection, items: list[Failed], money: _Money) -> list[Delivery]:
        ids = [f.message_id for f in items]
        await conn.execute(_FAIL_PARTS, ids)
        money.releases += [format_id(f.message_id) for f in items if f.charge_cost is None]
        money.captures += [
            Capture(format_id(f.message_id), f.charge_cost) for f in items if f.charge_cost is not None
        ]
        done: list[tuple[int, str, int | None, str | None]] = [
            (f.message_id, f.status, f.error_code, f.reason) for f in items
        ]
        return await self._finalise(conn, done, receipts={}, money=money)

    async def _finalise(
        self,
        conn: Connection,
        done: list[tuple[int, str, int | None, str | None]],
        receipts: dict[int, asyncpg.Record],
        money: _Money,
    ) -> list[Delivery]:
        if not done:
            return []
        rows = await conn.fetch(
            _FINALISE, [d[0] for d in done], [d[1] for d in done], [d[2] for d in done], [d[3] for d in done]
        )
        if not rows:
            return []
        errors = {d[0]: d[2] for d in done}
        await conn.execute(
            _EVENTS,
            [r["id"] for r in rows],
            [r["status"] for r in rows],
            ["receipt" if r["id"] in receipts else "dispatch" for r in rows],
            [errors.get(r["id"]) for r in rows],
        )
        # refunds of undelivered messages: the ledger applies each account's refund policy
        money.refunds += [
            format_id(r["id"]) for r in rows if r["status"] != "delivered" and r["id"] in receipts
        ]
        owed = []
        for r in rows:
            if not _wants_receipt(r["registered_delivery"], r["status"]):
                continue
            receipt = receipts.get(r["id"])
            owed.append((r["account_id"], "receipt", r["id"], receipt_body(r, receipt)))
        if self._webhooks is not None:  # every final message, whatever registered_delivery asked for
            hooked = self._webhooks.directory.may_have  # no body built for accounts without webhooks
            events = [
                WebhookEvent(r["account_id"], message_event_name(r["status"]),
                             receipt_body(r, receipts.get(r["id"])), r["final_at"])
                for r in rows if hooked(r["account_id"])
            ]  # fmt: skip
            money.webhook_rows += await self._webhooks.emit(conn, events)
        return await insert_deliveries(conn, owed)


def part_status_of(state: int | None, stat: str) -> str | None:
    """The final part status a receipt reports, None for an intermediate one (ENROUTE, ACCEPTED)."""
    if state is not None:
        try:
            return STATE_STATUS.get(MessageState(state))
        except ValueError:
            return None
    parsed = state_of_stat(stat)
    return STATE_STATUS.get(parsed) if parsed is not None else None


def _err_int(err: str | None) -> int | None:
    return int(err) if err and err.isdigit() else None


def receipt_body(row: asyncpg.Record, receipt: asyncpg.Record | None) -> dict[str, Any]:
    """What the customer is told, on its bind or its callback."""
    final_at: datetime = row["final_at"] or datetime.now(UTC)
    return {
        "message_id": format_id(row["id"]),
        "status": row["status"],
        "message_state": int(STATUS_STATE.get(row["status"], MessageState.UNKNOWN)),
        "err": (receipt["err"] if receipt is not None else "") or "000",
        # seed 001 hook: the carrier's own stat, shown to webhooks as carrier_status (engine.outbox.webhooks)
        "stat": receipt["stat"] if receipt is not None else "",
        "network_error": receipt["network_error"] if receipt is not None else None,
        "source": row["source"],
        "destination": row["destination"],
        "segments": row["segments"],
        "submitted_at": row["created_at"].isoformat(),
        "done_at": final_at.isoformat(),
        "client_ref": row["client_ref"],
        "channel": row["channel"],
        "system_id": row["system_id"],
    }
