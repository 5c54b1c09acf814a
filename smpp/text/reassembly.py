"""Reassembly of multipart mobile-originated messages, sans-IO: parts in, whole messages out, time passed in.

Parts are keyed by (source, destination, reference, total) and may arrive in any order, from UDH
concatenation (8- or 16-bit reference) or SAR TLVs. A message is delivered as soon as its last part
arrives; `expire(now)` delivers what arrived of messages whose first part is older than the timeout,
flagged incomplete with the missing sequence numbers. The bodies are joined *before* decoding, so an
escape pair or a surrogate pair that a sloppy sender split across parts still comes out whole.
Memory is bounded by `max_pending`: beyond it the oldest message is delivered incomplete early.
This module must never read a clock, sleep, or drop a part it was given (a duplicate of a part already
held is the one exception: the first copy is kept).
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from smpp.text.data_coding import Alphabet, decode_octet_text
from smpp.text.gsm7 import decode_gsm7
from smpp.text.gsm_tables import LOCKING_SHIFT_TABLES, SINGLE_SHIFT_TABLES
from smpp.text.inbound import InboundText
from smpp.text.segmentation import SarInfo
from smpp.text.udh import InformationElement


class ReassembledMessage(msgspec.Struct, frozen=True):
    """A whole (or, after a timeout, partial) inbound message."""

    source: str
    destination: str
    reference: int | None  # None for a message that came in one part
    total: int
    data_coding: int
    text: str | None  # None for octet data_codings
    body: bytes  # the received parts' bodies joined in sequence order
    received: tuple[int, ...]  # sequence numbers that arrived, ascending
    missing: tuple[int, ...] = ()
    complete: bool = True
    information_elements: tuple[InformationElement, ...] = ()  # of the first part that arrived


class InboundPart(msgspec.Struct, frozen=True):
    """One received deliver_sm, as far as reassembly cares."""

    source: str
    destination: str
    content: InboundText
    sar: SarInfo | None = None  # from the sar_* TLVs, when the carrier used them instead of a UDH


_Key: TypeAlias = tuple[str, str, int, int]


class _Pending:
    __slots__ = ("deadline", "parts")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.parts: dict[int, InboundText] = {}


class MultipartReassembler:
    """Collects parts of concatenated inbound messages; time is always an argument."""

    def __init__(self, timeout: float = 180.0, *, max_pending: int = 100_000) -> None:
        if timeout <= 0 or max_pending < 1:
            raise ValueError("timeout and max_pending must be positive")
        self._timeout = timeout
        self._max_pending = max_pending
        # Insertion order is first-arrival order, and every deadline is first arrival + timeout, so the
        # first entry always expires first (given a `now` that does not go backwards).
        self._pending: dict[_Key, _Pending] = {}

    def add(self, inbound: InboundPart, now: float) -> list[ReassembledMessage]:
        """Take one received part; return the messages this completes (or pushes out when over
        max_pending). A part without concatenation information is a whole message by itself."""
        source, destination, part, sar = inbound.source, inbound.destination, inbound.content, inbound.sar
        if sar is not None:
            reference, total, sequence = sar.reference, sar.total, sar.sequence
        elif part.concatenation is not None:
            concat = part.concatenation
            reference, total, sequence = concat.reference, concat.total, concat.sequence
        else:
            return [_assemble(source, destination, None, 1, {1: part})]
        if total <= 1 or not 1 <= sequence <= total:
            # Nonsense numbering (TS 23.040 says ignore the IE): deliver the part as a message of its own.
            return [_assemble(source, destination, None, 1, {1: part})]
        key = (source, destination, reference, total)
        pending = self._pending.get(key)
        delivered: list[ReassembledMessage] = []
        if pending is None:
            if len(self._pending) >= self._max_pending:
                oldest_key = next(iter(self._pending))
                delivered.append(self._finish(oldest_key, self._pending.pop(oldest_key)))
            pending = self._pending[key] = _Pending(now + self._timeout)
        pending.parts.setdefault(sequence, part)
        if len(pending.parts) == total:
            del self._pending[key]
            delivered.append(self._finish(key, pending))
        return delivered

    def expire(self, now: float) -> list[ReassembledMessage]:
        """Deliver, flagged incomplete, every message whose deadline is at or before `now`."""
        delivered: list[ReassembledMessage] = []
        pending = self._pending
        while pending:
            key = next(iter(pending))
            entry = pending[key]
            if entry.deadline > now:
                break
            del pending[key]
            delivered.append(self._finish(key, entry))
        return delivered

    def next_deadline(self) -> float | None:
        """When `expire` next has something to do (for the adapter's timer), or None."""
        for entry in self._pending.values():
            return entry.deadline
        return None

    def __len__(self) -> int:
        return len(self._pending)

    @staticmethod
    def _finish(key: _Key, entry: _Pending) -> ReassembledMessage:
        source, destination, reference, total = key
        return _assemble(source, destination, reference, total, entry.parts)


def _assemble(
    source: str, destination: str, reference: int | None, total: int, parts: dict[int, InboundText]
) -> ReassembledMessage:
    received = tuple(sorted(parts))
    ordered = [parts[sequence] for sequence in received]
    first = ordered[0]
    body = b"".join(part.body for part in ordered)
    uniform = all(
        part.alphabet is first.alphabet
        and part.locking_shift == first.locking_shift
        and part.single_shift == first.single_shift
        for part in ordered
    )
    text: str | None
    if not uniform:
        pieces = [part.text for part in ordered]
        text = None if any(piece is None for piece in pieces) else "".join(p for p in pieces if p is not None)
    elif first.alphabet is Alphabet.GSM7:
        text = decode_gsm7(
            body,
            first.locking_shift if first.locking_shift in LOCKING_SHIFT_TABLES else 0,
            first.single_shift if first.single_shift in SINGLE_SHIFT_TABLES else 0,
        )
    elif first.alphabet is Alphabet.OCTETS:
        text = None
    else:
        text = decode_octet_text(body, first.alphabet)
    missing = tuple(sequence for sequence in range(1, total + 1) if sequence not in parts)
    return ReassembledMessage(
        source,
        destination,
        reference,
        total,
        first.data_coding,
        text,
        body,
        received,
        missing,
        not missing,
        first.information_elements,
    )
