"""Carrier receipts: reading one off a deliver_sm, and matching it to its message in memory.

`receipt_of(link, pdu)` reads the carrier id (receipted_message_id TLV, or the id in the Appendix B text),
the state (message_state TLV or the stat word), the network error, and keys the id by the carrier's id
format (engine/carriers/id_formats.py).

`ReceiptMatcher` remembers, for the parts this process sent, which (carrier, key) belongs to which
message part, from the submit_sm_resp until the part's final receipt. A receipt found here is applied
without reading the database; one not found (after a restart, evicted, or arriving before its
submit_sm_resp was read) is matched through `carrier_keys` by the lifecycle. The matcher is bounded:
past `max_entries` the oldest entries go (their receipts take the database path), so memory stays flat
whatever the carriers' receipt delays. This module never decides what a receipt means for the money or
the customer (engine/core/lifecycle.py does).
"""

from __future__ import annotations

import msgspec

from engine.carriers.id_formats import normalise
from engine.core.status import Status, status_of_receipt
from smpp.constants import MESSAGE_TYPE_MASK, MessageState, Tag
from smpp.pdu import DataSm, DeliverSm, NetworkErrorCode
from smpp.receipt import STAT_WORDS, parse_receipt, state_of_stat

_RECEIPT_TYPES = {0x04, 0x08, 0x10, 0x20}  # SMSC receipt, SME ack, manual ack, intermediate notification


class PartRef:
    """One sent part waiting for its receipt."""

    __slots__ = ("message_id", "part", "receipt_seen", "segments")

    def __init__(self, message_id: int, part: int, segments: int) -> None:
        self.message_id = message_id
        self.part = part
        self.segments = segments
        self.receipt_seen = False  # its final receipt has been matched in memory


class ReceiptIn(msgspec.Struct, frozen=True):
    """A final receipt from a carrier, as the lifecycle stores and applies it."""

    carrier: str
    key: str
    status: Status  # the part's final status
    state: int | None  # message_state as the carrier gave it
    network_error: int | None
    stat: str
    err: str
    ref: PartRef | None = None  # matched in memory: the part it belongs to


def is_receipt(pdu: DeliverSm | DataSm) -> bool:
    return (pdu.esm_class & MESSAGE_TYPE_MASK) in _RECEIPT_TYPES or Tag.RECEIPTED_MESSAGE_ID in pdu.tlvs


def content_of(pdu: DeliverSm | DataSm) -> bytes:
    payload = pdu.tlvs.get(Tag.MESSAGE_PAYLOAD)
    if isinstance(payload, bytes) and payload:
        return payload
    return pdu.short_message if isinstance(pdu, DeliverSm) else b""


class ParsedReceipt(msgspec.Struct, frozen=True):
    key: str
    state: int | None
    status: Status | None  # None: an intermediate receipt (ENROUTE, ACCEPTED, ...)
    network_error: int | None
    stat: str
    err: str


def receipt_of(resp_id_format: str, dlr_id_format: str, pdu: DeliverSm | DataSm) -> ParsedReceipt:
    parsed = parse_receipt(content_of(pdu))
    tlv_id = pdu.tlvs.get(Tag.RECEIPTED_MESSAGE_ID)
    from_tlv = isinstance(tlv_id, str) and bool(tlv_id)
    carrier_id = tlv_id if from_tlv and isinstance(tlv_id, str) else (parsed.message_id if parsed else None)
    state = pdu.tlvs.get(Tag.MESSAGE_STATE)
    stat = (parsed.stat or "") if parsed else ""
    if not isinstance(state, int):
        state = int(parsed.state) if parsed is not None and parsed.state is not None else None
    if state is None and stat:
        by_word = state_of_stat(stat)
        state = int(by_word) if by_word is not None else None
    if not stat and state is not None:  # a receipt with TLVs only: the word its state stands for
        try:
            stat = STAT_WORDS.get(MessageState(state), "")
        except ValueError:
            pass
    network = pdu.tlvs.get(Tag.NETWORK_ERROR_CODE)
    # the TLV and the text may write the id differently: the TLV is the response's format, the text the
    # receipt's, as configured per carrier
    fmt = resp_id_format if from_tlv else dlr_id_format
    return ParsedReceipt(
        key=normalise(carrier_id, fmt) if carrier_id else "",
        state=state,
        status=status_of_receipt(state),
        network_error=network.error_code if isinstance(network, NetworkErrorCode) else None,
        stat=stat,
        err=(parsed.err or "") if parsed else "",
    )


class ReceiptMatcher:
    def __init__(self, max_entries: int = 200_000) -> None:
        self._entries: dict[tuple[str, str], PartRef] = {}
        self._max = max_entries
        self.matched = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def expect(self, carrier: str, key: str, message_id: int, part: int, segments: int) -> PartRef:
        """A part was accepted by `carrier` under `key`: its receipt will come."""
        ref = PartRef(message_id, part, segments)
        entries = self._entries
        entries[(carrier, key)] = ref
        if len(entries) > self._max:
            del entries[next(iter(entries))]  # the oldest: its receipt will take the database path
            self.evicted += 1
        return ref

    def match(self, carrier: str, key: str) -> PartRef | None:
        """The part a final receipt belongs to, if this process sent it and still remembers it."""
        ref = self._entries.pop((carrier, key), None)
        if ref is not None:
            ref.receipt_seen = True
            self.matched += 1
        return ref
