"""What carriers send us: delivery receipts and mobile-originated (MO) messages.

Receipts are parsed (engine/carriers/receipts.py), matched in memory when this process sent the part,
and handed to the lifecycle; deliver_sm_resp goes back only after the receipt is durably applied (through
a database outage, however long: the carrier's own window bounds how many wait). Intermediate receipts
(ENROUTE, ACCEPTED) change nothing we keep and are acknowledged at once.

MO: each part is stored (mo_parts) before it is acknowledged; parts are reassembled in memory (rebuilt
from mo_parts after a restart); a whole message becomes a delivery owed to the account owning its
destination number. STOP / UNSUBSCRIBE / START / UNSTOP keywords update that account's opt-out list.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
import structlog

from engine import consent
from engine.carriers.link import CarrierLink
from engine.carriers.receipts import ReceiptIn, ReceiptMatcher, content_of, is_receipt, receipt_of
from engine.core.group_commit import CommitQueueFull, GroupCommitter, Policy
from engine.core.lifecycle import Lifecycle
from engine.outbox.deliveries import Delivery, DeliveryOutbox
from engine.outbox.webhooks import WebhookEvent, WebhookSender
from smpp.connection import SmppConnection
from smpp.constants import CommandStatus, EsmClass, Tag
from smpp.pdu import DataSm, DeliverSm, Pdu
from smpp.text import InboundPart, MultipartReassembler, ReassembledMessage, SarInfo, decode_short_message

log = structlog.get_logger("engine.inbound")

_UDHI = int(EsmClass.UDHI)


class MoIn(msgspec.Struct, frozen=True):
    """A whole MO message, or one part of a multipart one to store before acknowledging it."""

    carrier: str
    source: str
    destination: str
    data_coding: int
    text: str | None
    body: bytes
    part: bool = False  # True: store into mo_parts only
    esm_class: int = 0
    short_message: bytes = b""
    sar: tuple[int, int, int] | None = None
    part_ids: tuple[int, ...] = ()  # mo_parts rows this whole message was reassembled from
    complete: bool = True


_OWNERS = "SELECT number, account_id FROM mo_numbers WHERE number = ANY($1::text[])"
_STORE_PARTS = """
INSERT INTO mo_parts (carrier, source, destination, data_coding, esm_class, short_message, sar, node)
SELECT c, s, d, dc, e, sm, CASE WHEN r IS NULL THEN NULL ELSE string_to_array(r, ',')::integer[] END, $8
FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::smallint[], $6::bytea[], $7::text[])
    AS t(c, s, d, dc, e, sm, r)
RETURNING id
"""


class CarrierInbound:
    def __init__(
        self,
        pool: asyncpg.Pool,
        lifecycle: Lifecycle,
        matcher: ReceiptMatcher,
        *,
        new_id: Callable[[], int],
        node: int = 0,
        outbox: DeliveryOutbox,
        on_opt_out: Callable[[int, str, bool], None] = lambda *_: None,
        webhooks: WebhookSender | None = None,
        reassembly_timeout: float = 180.0,
    ) -> None:
        self._webhooks = webhooks
        self._pool = pool
        self._lifecycle = lifecycle
        self._matcher = matcher
        self._new_id = new_id  # delivery ids
        self._node = node  # MO parts held here for reassembly are this node's
        self._outbox = outbox
        self._on_opt_out = on_opt_out
        self._reassembler = MultipartReassembler(reassembly_timeout)
        self._part_ids: dict[tuple[str, str, int], list[int]] = defaultdict(list)
        # Policy.FAIL: an MO part that cannot be stored is refused to the carrier (ESME_RX_T_APPN), which
        # keeps it and sends it again: the carrier is where it waits out an outage.
        self._mo: GroupCommitter[MoIn, int | None] = GroupCommitter(
            self._commit_mo, concurrency=1, policy=Policy.FAIL, name="mo"
        )
        self._expiry: asyncio.Task[None] | None = None
        self.receipts = 0
        self.intermediate_receipts = 0
        self.deferred = 0  # receipts and MO answered ESME_RX_T_APPN: stopping, or commits behind
        self.mo_messages = 0

    def start(self) -> None:
        self._mo.start()
        self._expiry = asyncio.get_running_loop().create_task(self._expire_loop())

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await self._mo.close()

    def restore(self, rows: list[asyncpg.Record]) -> int:
        """Stored MO parts this node now holds (its own after a restart, or a dead node's it took over)
        back into the reassembler."""
        for row in rows:
            sar = SarInfo(*row["sar"]) if row["sar"] else None
            self._reassemble(
                row["carrier"], row["source"], row["destination"], row["short_message"], row["data_coding"],
                row["esm_class"], sar, row["id"],
            )  # fmt: skip
        return len(rows)

    # ------------------------------------------------------------------------------------- intake

    def on_deliver(self, link: CarrierLink, conn: SmppConnection, pdu: Pdu) -> None:
        if not isinstance(pdu, DeliverSm | DataSm):
            conn.respond(pdu, CommandStatus.ESME_ROK)  # alert_notification has no response; others: ack
            return
        try:
            if is_receipt(pdu):
                self.receipts += 1
                self._receipt(link, conn, pdu)
            else:
                self._mo_part(link, conn, pdu)
        except CommitQueueFull as exc:  # stopping, or the commits are behind: the carrier sends it again
            self.deferred += 1
            log.debug("inbound refused for now; carrier will redeliver", reason=str(exc))
            conn.respond(pdu, CommandStatus.ESME_RX_T_APPN)

    def _receipt(self, link: CarrierLink, conn: SmppConnection, pdu: DeliverSm | DataSm) -> None:
        config = link.config
        parsed = receipt_of(config.resp_id_format, config.dlr_id_format, pdu)
        if parsed.status is None or not parsed.key:
            # An intermediate receipt (ENROUTE, ACCEPTED, ...) changes nothing we keep, and one without any
            # id can never be matched: acknowledged at once, so the carrier does not send it again.
            self.intermediate_receipts += 1
            conn.respond(pdu, CommandStatus.ESME_ROK)
            return
        receipt = ReceiptIn(
            link.name, parsed.key, parsed.status, parsed.state, parsed.network_error, parsed.stat, parsed.err,
            self._matcher.match(link.name, parsed.key),
        )  # fmt: skip
        self._lifecycle.post(receipt, _acknowledge(conn, pdu))

    def _acknowledge_after(self, conn: SmppConnection, pdu: Pdu, stored: asyncio.Future[Any]) -> None:
        def answer(f: asyncio.Future[Any]) -> None:
            failed = f.cancelled() or f.exception() is not None
            if failed:
                log.error("inbound not stored; carrier will redeliver", error=repr(f.exception()))
            conn.respond(pdu, CommandStatus.ESME_RX_T_APPN if failed else CommandStatus.ESME_ROK)

        stored.add_done_callback(answer)

    def _mo_part(self, link: CarrierLink, conn: SmppConnection, pdu: DeliverSm | DataSm) -> None:
        content = content_of(pdu)
        udhi = bool(pdu.esm_class & _UDHI)
        decoded = decode_short_message(content, pdu.data_coding, udhi=udhi)
        sar = _sar(pdu)
        if decoded.concatenation is None and sar is None:  # one part: the whole message
            item = MoIn(
                link.name, pdu.source_addr, pdu.destination_addr, pdu.data_coding, decoded.text, decoded.body
            )
            self._acknowledge_after(conn, pdu, self._mo.submit(item))
            return
        part = MoIn(
            link.name, pdu.source_addr, pdu.destination_addr, pdu.data_coding, None, b"", part=True,
            esm_class=pdu.esm_class, short_message=content,
            sar=(sar.reference, sar.total, sar.sequence) if sar else None,
        )  # fmt: skip
        stored = self._mo.submit(part)

        def reassemble(f: asyncio.Future[int | None]) -> None:
            if not f.cancelled() and f.exception() is None and (part_id := f.result()) is not None:
                self._reassemble(
                    link.name, pdu.source_addr, pdu.destination_addr, content, pdu.data_coding, pdu.esm_class,
                    sar, part_id,
                )  # fmt: skip

        stored.add_done_callback(reassemble)
        self._acknowledge_after(conn, pdu, stored)

    def _reassemble(
        self, carrier: str, source: str, destination: str, content: bytes, data_coding: int, esm_class: int,
        sar: SarInfo | None, part_id: int,
    ) -> None:  # fmt: skip
        decoded = decode_short_message(content, data_coding, udhi=bool(esm_class & _UDHI))
        reference = (
            sar.reference if sar else (decoded.concatenation.reference if decoded.concatenation else 0)
        )
        self._part_ids[(source, destination, reference)].append(part_id)
        for message in self._reassembler.add(
            InboundPart(source, destination, decoded, sar), time.monotonic()
        ):
            self._whole(carrier, message)

    def _whole(self, carrier: str, message: ReassembledMessage) -> None:
        ids = tuple(self._part_ids.pop((message.source, message.destination, message.reference or 0), ()))
        item = MoIn(
            carrier, message.source, message.destination, message.data_coding, message.text, message.body,
            part_ids=ids, complete=message.complete,
        )  # fmt: skip
        self._mo.submit(item)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(5.0)
            for message in self._reassembler.expire(time.monotonic()):
                self._whole("", message)

    # ------------------------------------------------------------------------------------- commit

    async def _commit_mo(self, batch: Sequence[MoIn]) -> list[int | None]:
        parts = [m for m in batch if m.part]
        whole = [m for m in batch if not m.part]
        results: dict[int, int | None] = {}
        deliveries: list[Delivery] = []
        opt_changes: list[tuple[int, str, bool]] = []
        told: list[tuple[int, str, bool]] = []  # every address that changed, for the engine's set
        events: list[WebhookEvent] = []
        emitted = 0
        async with self._pool.acquire() as conn, conn.transaction():
            if parts:
                rows = await conn.fetch(
                    _STORE_PARTS,
                    [p.carrier for p in parts], [p.source for p in parts], [p.destination for p in parts],
                    [p.data_coding for p in parts], [p.esm_class for p in parts],
                    [p.short_message for p in parts],
                    [",".join(map(str, p.sar)) if p.sar else None for p in parts], self._node,
                )  # fmt: skip
                for p, row in zip(parts, rows, strict=True):
                    results[id(p)] = row["id"]
            if whole:
                owners = dict(
                    (r["number"], r["account_id"])
                    for r in await conn.fetch(_OWNERS, list({_digits(m.destination) for m in whole}))
                )
                owed: list[Delivery] = []
                for m in whole:
                    account = owners.get(_digits(m.destination))
                    if account is None:
                        log.warning("MO for a number no account owns", destination=m.destination)
                        continue
                    keyword = (m.text or "").strip().upper()
                    body = _mo_body(m)
                    events.append(WebhookEvent(account, "message.received", body))
                    opting = consent.keyword_of(keyword)
                    if opting is not None:
                        opted_out = opting
                        opt_changes.append((account, _digits(m.source), opted_out))
                        notice = {"number": m.source, "opted_out": opted_out, "keyword": keyword,
                                  "to": m.destination, "received_at": body["received_at"]}  # fmt: skip
                        events.append(WebhookEvent(account, "opt_out", notice))
                    owed.append(Delivery(self._new_id(), account, "mo", None, body))
                for account, number, opted_out in opt_changes:
                    # the person's every address (their DM handles too: engine/consent), in this transaction
                    if opted_out:
                        changed = [r.number for r in await consent.opt_out(conn, account, number, "mo")]
                    else:
                        changed = await consent.opt_in(conn, account, number)
                    told.extend((account, address, opted_out) for address in changed)
                if owed:
                    await self._outbox.store(conn, owed)
                deliveries = owed
                if self._webhooks is not None:
                    emitted = await self._webhooks.emit(conn, events)
                done_parts = [i for m in whole for i in m.part_ids]
                if done_parts:
                    await conn.execute("DELETE FROM mo_parts WHERE id = ANY($1::bigint[])", done_parts)
        self.mo_messages += len(whole)
        for change in told:
            self._on_opt_out(*change)
        if deliveries:
            self._outbox.push(deliveries)
        if emitted and self._webhooks is not None:
            self._webhooks.wake()
        return [results.get(id(m)) for m in batch]


def _acknowledge(conn: SmppConnection, pdu: Pdu) -> Callable[[object, BaseException | None], None]:
    """Answer the carrier once what it sent is durable (or that it is not: it sends it again later)."""

    def answer(_: object, error: BaseException | None) -> None:
        if error is not None:
            log.error("inbound not stored; carrier will redeliver", error=repr(error))
        conn.respond(pdu, CommandStatus.ESME_RX_T_APPN if error is not None else CommandStatus.ESME_ROK)

    return answer


def _sar(pdu: DeliverSm | DataSm) -> SarInfo | None:
    ref = pdu.tlvs.get(Tag.SAR_MSG_REF_NUM)
    total = pdu.tlvs.get(Tag.SAR_TOTAL_SEGMENTS)
    seq = pdu.tlvs.get(Tag.SAR_SEGMENT_SEQNUM)
    if isinstance(ref, int) and isinstance(total, int) and isinstance(seq, int) and total > 1:
        return SarInfo(ref, total, seq)
    return None


def _digits(address: str) -> str:
    return address.lstrip("+")


def _mo_body(m: MoIn) -> dict[str, Any]:
    return {
        "from": m.source,
        "to": m.destination,
        "text": m.text,
        "body_hex": m.body.hex() if m.text is None else None,
        "data_coding": m.data_coding,
        "complete": m.complete,
        "carrier": m.carrier,
        "received_at": datetime.now(UTC).isoformat(),
    }
