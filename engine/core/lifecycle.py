"""A message's life after accept, written in batches: carrier outcomes, receipts, money, deliveries.

Everything that changes a message after it was accepted is an item of one of the lifecycle's lanes:

- `Submitted`: every part accepted by a carrier: carrier ids on the row, the reservation captured;
- `Failed`: the message cannot be sent: final, its money released (or captured for parts that went);
- `ReceiptIn` (engine/carriers/receipts.py): a carrier's final receipt: the part's status, rolled up to
  the message, refunded by the account's policy, and a delivery owed to the customer.

Lanes: `lanes` group committers (Policy.RETRY: an outage is waited out, nothing is dropped), each with
one batch in flight, so they commit on separate connections at once; a message's items always go to the
same lane (by message id), so they apply in the order they happened. A receipt not matched in memory
goes to a lane by its carrier key and is matched in `carrier_keys` (its INSERT ... ON CONFLICT meets the
submit_sm_resp side whichever commits first); it may then change a message of another lane, which is
safe because every change to a row is conditioned on what the row holds (final or not, money state).

One batch is a handful of statements whatever its size: the carrier_keys upserts (only for what was not
matched in memory), one UPDATE of every message changed (HOT unless it becomes final), the batch's
postings (billing.items: one per kind and group), the deliveries owed, the webhook rows. The commonest
path — a receipt that arrives while its submit_sm_resp is still waiting for its batch — writes the
message row once for both and no carrier_keys row at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
import structlog

from billing.items import ItemSettle, Legs, refund_policies, settle_items
from billing.model import Capture, PostingKind
from billing.postings import capture_batch, refund_batch, release_batch
from engine.carriers.receipts import ReceiptIn
from engine.core.group_commit import GroupCommitter, OnDone, Policy
from engine.core.ids import format_id
from engine.core.status import MoneyState, Status, wants_receipt, webhook_event, worst
from engine.dispatch.job import Job
from engine.dispatch.sms import PartSubmitted, SmsJob
from engine.infra import metrics
from engine.outbox.deliveries import Delivery, DeliveryOutbox, ReceiptNotice
from engine.outbox.webhooks import WebhookEvent, WebhookSender

if TYPE_CHECKING:
    from billing.db import Connection

log = structlog.get_logger("engine.lifecycle")

_SEP = "\x1f"  # joins a message's carrier ids into one text (SMPP ids are C-strings: never contain it)


class Submitted(msgspec.Struct, frozen=True):
    message_id: int
    route_index: int
    cost: int  # what the carriers that took the parts charge, all segments
    carrier: str
    parts: tuple[PartSubmitted, ...]
    possible_duplicate: bool = False


class Failed(msgspec.Struct, frozen=True):
    message_id: int
    status: Status  # failed | rejected | expired
    reason: str
    error_code: int | None = None
    charge_cost: int | None = None  # some parts went out: capture with this cost instead of releasing
    carrier: str | None = None


Item = Submitted | Failed | ReceiptIn


class _Change:
    """What one batch does to one message row (fields None: left as they are)."""

    __slots__ = ("by_receipt", "cap", "carrier", "cids", "cost", "dup", "err", "fin", "ner", "ps", "rel",
                 "rer", "ri", "rsn", "rst", "st", "sub")  # fmt: skip

    def __init__(self) -> None:
        self.st: str | None = None
        self.fin = False
        self.sub = False
        self.cids: str | None = None
        self.carrier: str | None = None
        self.cost: int | None = None
        self.ri: int | None = None
        self.dup = False
        self.rsn: str | None = None
        self.err: int | None = None
        self.rst: str | None = None
        self.rer: str | None = None
        self.ner: int | None = None
        self.ps: str | None = None
        self.cap = False
        self.rel = False
        self.by_receipt = False

    def as_json(self, message_id: int) -> dict[str, Any]:
        return {
            "id": message_id, "st": self.st, "fin": self.fin, "sub": self.sub, "cids": self.cids,
            "car": self.carrier, "cost": self.cost, "ri": self.ri, "dup": self.dup, "rsn": self.rsn,
            "err": self.err, "rst": self.rst, "rer": self.rer, "ner": self.ner, "ps": self.ps,
            "cap": self.cap, "rel": self.rel,
        }  # fmt: skip


_SUBMITTED_KEYS = """
INSERT INTO carrier_keys (carrier, key, message_id, part)
SELECT carrier, key, message_id, part
FROM json_to_recordset($1::json) AS t(carrier text, key text, message_id bigint, part smallint)
ON CONFLICT (carrier, key) DO UPDATE SET
    message_id = EXCLUDED.message_id, part = EXCLUDED.part, created_at = now(),
    -- a receipt that came first stays; one left by an older message under a reused id does not
    receipt_state = CASE WHEN carrier_keys.message_id IS NULL THEN carrier_keys.receipt_state END,
    receipt_stat = CASE WHEN carrier_keys.message_id IS NULL THEN carrier_keys.receipt_stat END,
    receipt_err = CASE WHEN carrier_keys.message_id IS NULL THEN carrier_keys.receipt_err END,
    network_error = CASE WHEN carrier_keys.message_id IS NULL THEN carrier_keys.network_error END
RETURNING carrier, key, message_id, part, receipt_state, receipt_stat, receipt_err, network_error
"""

_RECEIPT_KEYS = """
INSERT INTO carrier_keys (carrier, key, receipt_state, receipt_stat, receipt_err, network_error)
SELECT carrier, key, state, stat, err, nerr
FROM json_to_recordset($1::json)
    AS t(carrier text, key text, state smallint, stat text, err text, nerr integer)
ON CONFLICT (carrier, key) DO UPDATE SET
    receipt_state = EXCLUDED.receipt_state, receipt_stat = EXCLUDED.receipt_stat,
    receipt_err = EXCLUDED.receipt_err, network_error = EXCLUDED.network_error
RETURNING carrier, key, message_id, part
"""

_LOCK_PARTS = """
SELECT id, segments, part_status FROM messages WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE
"""

_APPLY = """
WITH u AS MATERIALIZED (
    SELECT * FROM json_to_recordset($1::json) AS t(id bigint, st text, fin bool, sub bool, cids text,
        car text, cost bigint, ri smallint, dup bool, rsn text, err integer, rst text, rer text, ner integer,
        ps text, cap bool, rel bool)
)
UPDATE messages m SET
    status = CASE WHEN m.final_at IS NULL AND u.st IS NOT NULL THEN u.st ELSE m.status END,
    final_at = CASE WHEN m.final_at IS NULL AND u.fin THEN now() ELSE m.final_at END,
    submitted_at = CASE WHEN u.sub AND m.submitted_at IS NULL THEN now() ELSE m.submitted_at END,
    carrier_ids = coalesce(string_to_array(u.cids, E'\\x1f'), m.carrier_ids),
    carrier = coalesce(m.carrier, u.car, m.route[m.route_index + 1]),
    cost = coalesce(u.cost, m.cost),
    route_index = coalesce(u.ri, m.route_index),
    possible_duplicate = m.possible_duplicate OR u.dup,
    reason = coalesce(u.rsn, m.reason),
    error_code = coalesce(u.err, m.error_code),
    receipt_stat = coalesce(u.rst, m.receipt_stat),
    receipt_err = coalesce(u.rer, m.receipt_err),
    network_error = coalesce(u.ner, m.network_error),
    part_status = coalesce(string_to_array(u.ps, ','), m.part_status),
    money = CASE WHEN m.money = 'reserved' AND u.cap THEN 'captured'
                 WHEN m.money = 'reserved' AND u.rel THEN 'released' ELSE m.money END,
    settle_batch = CASE WHEN m.money = 'reserved' AND (u.cap OR u.rel) THEN $2 ELSE m.settle_batch END,
    updated_at = now()
FROM u WHERE m.id = u.id
RETURNING m.id, m.account_id, m.amount, m.segments, m.country, m.carrier, m.cost, m.money,
          m.settle_batch IS NOT DISTINCT FROM $2 AS settled, m.reserve_batch IS NULL AS legacy, m.status,
          m.final_at = now() AS finalised, m.final_at, m.registered_delivery, m.source, m.destination,
          m.created_at, m.client_ref, m.channel, m.system_id, m.receipt_err, m.receipt_stat,
          m.network_error
"""
# The rows come back as one JSON array of arrays, decoded by msgspec into `Applied` in one C call: far
# cheaper than a Record per row. Rows that did not become final carry only what settlement needs.
_APPLY = f"""
WITH changed AS ({_APPLY.strip()})
SELECT coalesce(json_agg(CASE WHEN finalised THEN json_build_array(
    id, account_id, amount, segments, country, carrier, cost, money, settled, legacy, status, finalised,
    final_at, registered_delivery, source, destination, created_at, client_ref, channel, system_id,
    receipt_err, receipt_stat, network_error)
  ELSE json_build_array(id, account_id, amount, segments, country, carrier, cost, money, settled, legacy,
    status, finalised) END), '[]')
FROM changed
"""


class Applied(msgspec.Struct, array_like=True, gc=False):
    """One message row as the batch's UPDATE left it (the tail only when it became final)."""

    id: int
    account_id: int
    amount: int
    segments: int
    country: str | None
    carrier: str | None
    cost: int
    money: str
    settled: bool
    legacy: bool
    status: str
    finalised: bool | None
    final_at: datetime | None = None
    registered_delivery: int = 0
    source: str = ""
    destination: str = ""
    created_at: datetime | None = None
    client_ref: str = ""
    channel: str = ""
    system_id: str = ""
    receipt_err: str | None = None
    receipt_stat: str | None = None
    network_error: int | None = None


_APPLIED = msgspec.json.Decoder(list[Applied])

_REFUND = """
UPDATE messages SET money = 'refunded', refund_batch = $2
WHERE id = ANY($1::bigint[]) AND money = 'captured'
RETURNING id, account_id, amount, segments, country, carrier, reserve_batch IS NULL AS legacy
"""

_JSON = msgspec.json.Encoder()


class Lifecycle:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        new_id: Callable[[], int],
        outbox: DeliveryOutbox | None = None,
        webhooks: WebhookSender | None = None,
        lanes: int = 2,
    ) -> None:
        self._pool = pool
        self._new_id = new_id  # batch ids and delivery ids: unique across nodes
        self.outbox = outbox  # where receipts owed to customers go (the forwarder), set before start
        self._webhooks = webhooks
        self._lanes: list[GroupCommitter[Item, None]] = [
            GroupCommitter(self._commit, concurrency=1, policy=Policy.RETRY, name=f"lifecycle-{i}")
            for i in range(lanes)
        ]
        self._legs: dict[int, Legs] = {}  # customers' ledger accounts (immutable), for settlements
        self.receipts_stored = 0  # receipts stored without a message yet (they came first)

    def start(self) -> None:
        for lane in self._lanes:
            lane.start()

    async def close(self) -> None:
        await asyncio.gather(*(lane.close() for lane in self._lanes))

    @property
    def pending(self) -> int:
        return sum(lane.pending for lane in self._lanes)

    @property
    def lanes(self) -> list[GroupCommitter[Item, None]]:
        return self._lanes

    def _lane(self, item: Item) -> GroupCommitter[Item, None]:
        if isinstance(item, ReceiptIn):
            key = item.ref.message_id if item.ref is not None else hash((item.carrier, item.key))
        else:
            key = item.message_id
        return self._lanes[key % len(self._lanes)]

    def submit(self, item: Item) -> asyncio.Future[None]:
        return self._lane(item).submit(item)

    def post(self, item: Item, on_done: OnDone[None] | None = None) -> None:
        """submit() without a future: `on_done(None, error)` runs right after the commit, if given."""
        self._lane(item).post(item, on_done)

    # ------------------------------------------------------------------------------ OutcomeSink

    def sent(self, job: Job) -> None:
        assert isinstance(job, SmsJob)
        parts = tuple(job.submitted[i] for i in sorted(job.submitted))
        item = Submitted(job.id, job.route_index, job.charge(), job.target, parts, job.possible_duplicate)
        self.post(item)  # owed, so retried until durable; an item refused for its data is logged there

    def failed(self, job: Job, status: Status, reason: str, error_code: int | None) -> None:
        charge = None
        if isinstance(job, SmsJob) and job.submitted:  # some parts went out: they are charged
            charge = job.charge()
        carrier = job.route[min(job.route_index, len(job.route) - 1)] if job.route else None
        self.post(Failed(job.id, status, reason, error_code, charge, carrier))

    # ------------------------------------------------------------------------------ batch

    async def _commit(self, batch: Sequence[Item]) -> list[None]:
        batch_id = self._new_id()
        changes: dict[int, _Change] = {}
        # per message: part -> (status, receipt) of the final receipts this batch applies
        finals: dict[int, dict[int, tuple[Status, ReceiptIn | asyncpg.Record]]] = {}
        single: set[int] = set()  # messages known to have one part
        keys: list[dict[str, Any]] = []
        unmatched: list[ReceiptIn] = []
        for item in batch:
            if type(item) is Submitted:
                ch = changes.get(item.message_id) or changes.setdefault(item.message_id, _Change())
                ch.st, ch.sub, ch.ri, ch.cost, ch.carrier = (
                    Status.SUBMITTED.value,
                    True,
                    item.route_index,
                    item.cost,
                    item.carrier,
                )
                ch.cids = _SEP.join(p.carrier_message_id for p in item.parts)
                ch.dup = ch.dup or item.possible_duplicate
                ch.cap = True
                keys += [
                    {"carrier": p.carrier, "key": p.key, "message_id": item.message_id, "part": p.part}
                    for p in item.parts
                    if p.ref is None or not p.ref.receipt_seen
                ]
            elif type(item) is Failed:
                ch = changes.get(item.message_id) or changes.setdefault(item.message_id, _Change())
                ch.st, ch.fin, ch.rsn, ch.err, ch.carrier = (
                    item.status.value,
                    True,
                    item.reason,
                    item.error_code,
                    item.carrier,
                )
                if item.charge_cost is not None:
                    ch.cap, ch.cost = True, item.charge_cost
                else:
                    ch.rel = True
            elif isinstance(item, ReceiptIn) and item.ref is not None:  # matched in memory
                ref = item.ref
                finals.setdefault(ref.message_id, {})[ref.part] = (item.status, item)
                if ref.segments == 1:
                    single.add(ref.message_id)
            else:
                assert isinstance(item, ReceiptIn)
                unmatched.append(item)
        deliveries: list[Delivery] = []
        emitted = 0
        finalised: list[Applied] = []  # metrics: the messages this batch made final
        async with self._pool.acquire() as conn, conn.transaction():
            if keys:
                for row in await conn.fetch(_SUBMITTED_KEYS, _JSON.encode(keys).decode()):
                    if row["receipt_state"] is not None:  # the receipt came before its submit_sm_resp
                        self._add_db_receipt(finals, row, row)
            if unmatched:
                stored = await conn.fetch(
                    _RECEIPT_KEYS,
                    _JSON.encode([
                        {"carrier": r.carrier, "key": r.key, "state": r.state, "stat": r.stat, "err": r.err,
                         "nerr": r.network_error}
                        for r in unmatched
                    ]).decode(),
                )  # fmt: skip
                by_key = {(r.carrier, r.key): r for r in unmatched}
                for row in stored:
                    if row["message_id"] is None:
                        self.receipts_stored += 1  # it waits in carrier_keys for its submit_sm_resp
                    else:
                        receipt = by_key[(row["carrier"], row["key"])]
                        finals.setdefault(row["message_id"], {})[row["part"]] = (receipt.status, receipt)
            if finals:
                await self._roll_up(conn, finals, single, changes)
            if changes:
                deliveries, emitted = await self._apply(conn, batch_id, changes, finalised)
        metrics.finalised(finalised)  # metrics: engine/infra/metrics.py (after the commit, so counted once)
        if deliveries:
            assert self.outbox is not None
            self.outbox.push(deliveries)
        if emitted and self._webhooks is not None:
            self._webhooks.wake()
        return [None] * len(batch)

    @staticmethod
    def _add_db_receipt(
        finals: dict[int, dict[int, tuple[Status, ReceiptIn | asyncpg.Record]]],
        row: asyncpg.Record,
        receipt: asyncpg.Record,
    ) -> None:
        from engine.core.status import status_of_receipt

        status = status_of_receipt(receipt["receipt_state"])
        if status is not None:
            finals.setdefault(row["message_id"], {})[row["part"]] = (status, receipt)

    async def _roll_up(
        self,
        conn: Connection,
        finals: dict[int, dict[int, tuple[Status, ReceiptIn | asyncpg.Record]]],
        single: set[int],
        changes: dict[int, _Change],
    ) -> None:
        """Turn the batch's final receipts into message changes: final when every part is."""
        multi = [mid for mid in finals if mid not in single]
        states: dict[int, list[str]] = {}
        if multi:
            for row in await conn.fetch(_LOCK_PARTS, sorted(multi)):
                current: list[str] = list(row["part_status"] or [Status.QUEUED.value] * row["segments"])
                if len(current) < row["segments"]:
                    current += [Status.QUEUED.value] * (row["segments"] - len(current))
                states[row["id"]] = current
        for mid, parts in finals.items():
            ch = changes.get(mid) or changes.setdefault(mid, _Change())
            if mid in single:
                status, receipt = parts[0] if 0 in parts else next(iter(parts.values()))
                final: Status | None = status
            else:
                known = states.get(mid)
                if known is None:
                    continue  # no such message (a key reused after its message was purged)
                for part, (status, _receipt) in parts.items():
                    if 0 <= part < len(known):
                        known[part] = status.value
                ch.ps = ",".join(known)
                part_states = [Status(s) for s in known]
                final = worst(part_states) if all(s.final for s in part_states) else None
                receipt = parts[max(parts)][1]
            if final is None:
                continue
            ch.st, ch.fin, ch.by_receipt, ch.cap = final.value, True, True, True
            ch.rst, ch.rer, ch.ner = _receipt_fields(receipt)

    async def _apply(
        self, conn: Connection, batch_id: int, changes: dict[int, _Change], finalised: list[Applied]
    ) -> tuple[list[Delivery], int]:
        raw = await conn.fetchval(
            _APPLY, _JSON.encode([ch.as_json(mid) for mid, ch in changes.items()]).decode(), batch_id
        )
        settlements: list[ItemSettle] = []
        legacy: dict[PostingKind, list[Capture]] = {}
        refund_wanted: list[Applied] = []
        for row in _APPLIED.decode(raw):
            if row.settled:
                kind = PostingKind.RELEASE if row.money == _RELEASED else PostingKind.CAPTURE
                _settle(settlements, legacy, kind, row.id, row.account_id, row.amount, row.segments,
                        row.country, row.carrier, row.cost, row.legacy)  # fmt: skip
            if row.finalised:
                finalised.append(row)
                if row.status != _DELIVERED and changes[row.id].by_receipt:
                    refund_wanted.append(row)
        if refund_wanted:  # the ledger's policy per account says whether undelivered messages are refunded
            policy = await refund_policies(conn, sorted({r.account_id for r in refund_wanted}))
            ids = [r.id for r in refund_wanted if policy.get(r.account_id)]
            if ids:
                for r in await conn.fetch(_REFUND, ids, batch_id):
                    _settle(settlements, legacy, PostingKind.REFUND, r["id"], r["account_id"], r["amount"],
                            r["segments"], r["country"], r["carrier"], 0, r["legacy"])  # fmt: skip
        owed = await self._owed(conn, finalised)
        # Money last: the ledger locks the accounts' balance rows until commit, and the accept path of the
        # same accounts waits on them; everything above (deliveries, webhook rows) is done before.
        if settlements:
            await settle_items(conn, batch_id, settlements, legs=self._legs)
        for kind, captures in legacy.items():  # messages reserved one by one, before batched postings
            if kind is PostingKind.CAPTURE:
                await capture_batch(conn, captures)
            elif kind is PostingKind.RELEASE:
                await release_batch(conn, [c.message_ref for c in captures])
            else:
                await refund_batch(conn, [c.message_ref for c in captures])
        return owed

    async def _owed(self, conn: Connection, finalised: list[Applied]) -> tuple[list[Delivery], int]:
        """Receipts owed to customers (on their binds or callbacks) and webhook events, for final messages."""
        if not finalised:
            return [], 0
        owed = []
        events = []
        hooked = self._webhooks.directory.may_have if self._webhooks is not None else None
        new_id = self._new_id
        for row in finalised:
            status = _STATUS[row.status]
            wanted = wants_receipt(row.registered_delivery, status)
            if not wanted and (hooked is None or not hooked(row.account_id)):
                continue
            assert row.created_at is not None and row.final_at is not None
            notice = ReceiptNotice(
                row.id, status, row.receipt_err or "000", row.network_error, row.receipt_stat or "",
                row.source, row.destination, row.segments, row.created_at, row.final_at, row.client_ref,
                row.channel, row.system_id,
            )  # fmt: skip
            if wanted:
                owed.append(Delivery(new_id(), row.account_id, "receipt", row.id, notice=notice))
            if hooked is not None and hooked(row.account_id):  # whatever registered_delivery asked for
                events.append(
                    WebhookEvent(row.account_id, webhook_event(status), notice.body(), row.final_at)
                )
        emitted = await self._webhooks.emit(conn, events) if self._webhooks is not None and events else 0
        if owed:
            assert self.outbox is not None
            await self.outbox.store(conn, owed)
        return owed, emitted


def _settle(
    settlements: list[ItemSettle],
    legacy: dict[PostingKind, list[Capture]],
    kind: PostingKind,
    message_id: int,
    account_id: int,
    amount: int,
    segments: int,
    country: str | None,
    carrier: str | None,
    cost: int,
    is_legacy: bool,
) -> None:
    if is_legacy:
        legacy.setdefault(kind, []).append(Capture(format_id(message_id), cost, carrier))
        return
    charged_cost = cost if kind is PostingKind.CAPTURE else 0
    settlements.append(
        ItemSettle(kind, account_id, amount, segments, country or "", carrier or "", charged_cost)
    )


def _receipt_fields(receipt: ReceiptIn | asyncpg.Record) -> tuple[str, str, int | None]:
    if isinstance(receipt, ReceiptIn):
        return receipt.stat, receipt.err, receipt.network_error
    return receipt["receipt_stat"] or "", receipt["receipt_err"] or "", receipt["network_error"]


_STATUS = {s.value: s for s in Status}  # row text -> enum, without Enum.__call__ per message
_DELIVERED, _RELEASED = Status.DELIVERED.value, MoneyState.RELEASED.value
