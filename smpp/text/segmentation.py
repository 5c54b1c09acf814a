"""Cutting an outgoing message into SMS segments and building each segment's short_message.

Two steps, so that a concatenation reference is only taken for messages that need one:
`plan_text` / `plan_binary` choose the encoding and cut the message into the fewest air-interface parts
(see segment_capacity for the arithmetic); `build_segments(plan, reference)` renders each part as the
short_message octets (UDH included in UDH mode), the esm_class UDHI need, and the SAR triple in SAR mode.
In PAYLOAD mode there is one wire segment holding the whole message (the SMSC cuts it), while the plan
still counts the air parts, because that is what the destination network charges.
The SMPP codec turns Segments into PDUs; this module must never import it, nor do I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import msgspec

from smpp.text.data_coding import Alphabet, DataCoding, decode_octet_text, encode_octet_text
from smpp.text.encoding_choice import EncodingChoice, choose_beyond_default, choose_encoding
from smpp.text.errors import MessageTooLongError, UnencodableTextError
from smpp.text.gsm7 import gsm7_codec, pack_septets
from smpp.text.segment_capacity import MAX_PARTS, Carriage, capacities, cut_septets, cut_ucs2
from smpp.text.udh import build_udh, concatenation_ie, national_shift_ies

# Enum members cost ~200 ns per attribute lookup; this module is on the path of every message.
_GSM7: Final = Alphabet.GSM7
_GSM7_DATA_CODING: Final = int(DataCoding.SMSC_DEFAULT)
_DEFAULT_GSM7: Final = gsm7_codec(0, 0)
_OCTETS: Final = Alphabet.OCTETS
_PAYLOAD: Final = Carriage.PAYLOAD
_SAR: Final = Carriage.SAR
_UCS2: Final = Alphabet.UCS2


class SarInfo(msgspec.Struct, frozen=True):
    """Values of the sar_msg_ref_num, sar_total_segments and sar_segment_seqnum TLVs."""

    reference: int
    total: int
    sequence: int  # 1-based


class Segment(msgspec.Struct, frozen=True):
    """One submit_sm's worth: short_message (or message_payload in PAYLOAD mode) and what goes around it."""

    short_message: bytes
    udhi: bool  # set esm_class UDHI (0x40): short_message starts with a UDH
    sar: SarInfo | None = None  # SAR mode only
    text: str | None = None  # the text this segment carries (None for binary)


class MessagePlan(msgspec.Struct, frozen=True):
    """An outgoing message, encoded and cut into air-interface parts, before any reference is assigned."""

    data_coding: int
    alphabet: Alphabet
    carriage: Carriage
    reference_bits: int
    parts: tuple[bytes, ...]  # encoded user data of each part, without UDH (septets one per octet)
    part_texts: tuple[str, ...] = ()  # text of each part; empty for binary messages
    national_ies: bytes = b""  # encoded national language IEs that every part carries
    choice: EncodingChoice | None = None

    @property
    def part_count(self) -> int:
        """Segments on the air interface: what the destination network delivers and charges."""
        return len(self.parts)

    @property
    def needs_reference(self) -> bool:
        """Whether build_segments needs a concatenation reference (take one from the allocator)."""
        return len(self.parts) > 1 and self.carriage is not _PAYLOAD


def plan_text(
    text: str,
    *,
    data_coding: int | None = None,
    national_languages: Collection[int] = (),
    smart_encoding: bool = False,
    carriage: Carriage = Carriage.UDH,
    reference_bits: int = 8,
) -> MessagePlan:
    """Choose the encoding of `text` and cut it into the fewest parts (see choose_encoding for errors)."""
    if reference_bits != 8 and reference_bits != 16:
        raise ValueError("reference_bits must be 8 or 16")
    if data_coding is None:
        # The common case, decided with one encoding pass: plain GSM-7.
        septets = _DEFAULT_GSM7.encode_or_none(text)
        if septets is not None:
            choice = EncodingChoice(text, _GSM7, _GSM7_DATA_CODING)
            return _plan_septets(choice, septets, carriage, reference_bits)
        choice = choose_beyond_default(text, national_languages, smart_encoding, reference_bits)
        return plan_choice(choice, carriage=carriage, reference_bits=reference_bits)
    choice = choose_encoding(
        text,
        data_coding=data_coding,
        national_languages=national_languages,
        smart_encoding=smart_encoding,
        reference_bits=reference_bits,
    )
    return plan_choice(choice, carriage=carriage, reference_bits=reference_bits)


def plan_choice(
    choice: EncodingChoice, *, carriage: Carriage = Carriage.UDH, reference_bits: int = 8
) -> MessagePlan:
    """Cut a text whose encoding is already chosen."""
    if reference_bits not in (8, 16):
        raise ValueError("reference_bits must be 8 or 16")
    text = choice.text
    alphabet = choice.alphabet
    single, multi = capacities(alphabet, reference_bits, choice.national_ies)
    parts: list[bytes]
    texts: list[str]
    if alphabet is _GSM7:
        septets = gsm7_codec(choice.locking_shift, choice.single_shift).encode(text)
        return _plan_septets(choice, septets, carriage, reference_bits)
    if alphabet is _UCS2:
        try:
            encoded = text.encode("utf-16-be")
        except UnicodeEncodeError:  # a lone surrogate: no UCS-2 for it, the customer must fix the text
            raise UnencodableTextError("UCS-2", _lone_surrogates(text)) from None
        parts = cut_ucs2(encoded, single, multi)
        texts = [text] if len(parts) == 1 else [part.decode("utf-16-be") for part in parts]
    else:
        # One octet per character in every other text alphabet.
        encoded = encode_octet_text(text, alphabet)
        parts = [encoded] if len(encoded) <= single else _cut_octets(encoded, multi)
        texts = [text] if len(parts) == 1 else [decode_octet_text(part, alphabet) for part in parts]
    _check_part_count(len(parts), carriage)
    return MessagePlan(
        choice.data_coding,
        alphabet,
        carriage,
        reference_bits,
        tuple(parts),
        tuple(texts),
        national_shift_ies(choice.locking_shift, choice.single_shift),
        choice,
    )


def plan_binary(
    payload: bytes, data_coding: int, *, carriage: Carriage = Carriage.UDH, reference_bits: int = 8
) -> MessagePlan:
    """Cut octets (binary data_coding, or any value we do not know, passed through) into parts."""
    if reference_bits not in (8, 16):
        raise ValueError("reference_bits must be 8 or 16")
    single, multi = capacities(_OCTETS, reference_bits, 0)
    parts = [payload] if len(payload) <= single else _cut_octets(payload, multi)
    _check_part_count(len(parts), carriage)
    return MessagePlan(data_coding, _OCTETS, carriage, reference_bits, tuple(parts))


def _plan_septets(
    choice: EncodingChoice, septets: bytes, carriage: Carriage, reference_bits: int
) -> MessagePlan:
    single, multi = capacities(_GSM7, reference_bits, choice.national_ies)
    if len(septets) <= single:
        parts = [septets]
        texts = [choice.text]
    else:
        parts = cut_septets(septets, single, multi)
        codec = gsm7_codec(choice.locking_shift, choice.single_shift)
        texts = [codec.decode(part) for part in parts]
        _check_part_count(len(parts), carriage)
    return MessagePlan(
        choice.data_coding,
        _GSM7,
        carriage,
        reference_bits,
        tuple(parts),
        tuple(texts),
        national_shift_ies(choice.locking_shift, choice.single_shift) if choice.national_ies else b"",
        choice,
    )


def _cut_octets(octets: bytes, multi: int) -> list[bytes]:
    return [octets[start : start + multi] for start in range(0, len(octets), multi)]


def _lone_surrogates(text: str) -> tuple[tuple[int, str], ...]:
    return tuple((index, char) for index, char in enumerate(text) if "\ud800" <= char <= "\udfff")


def _check_part_count(count: int, carriage: Carriage) -> None:
    if count > MAX_PARTS and carriage is not _PAYLOAD:
        raise MessageTooLongError(f"message needs {count} segments; concatenation allows at most {MAX_PARTS}")


def build_segments(plan: MessagePlan, reference: int = 0, *, packed: bool = False) -> tuple[Segment, ...]:
    """The short_message of each segment. `reference` (from ConcatReferenceAllocator) is used only when
    plan.needs_reference; `packed` packs GSM-7 septets 8-into-7 for connectors that want it."""
    packed = packed and plan.alphabet is _GSM7
    texts: tuple[str | None, ...] = plan.part_texts or (None,) * len(plan.parts)
    ies = plan.national_ies
    if plan.carriage is _PAYLOAD or len(plan.parts) == 1:
        body = b"".join(plan.parts)
        text = "".join(plan.part_texts) if plan.part_texts else None
        return (Segment(_user_data(build_udh(ies), body, packed), bool(ies), None, text),)
    total = len(plan.parts)
    if plan.carriage is _SAR:
        udh = build_udh(ies)
        return tuple(
            Segment(
                _user_data(udh, body, packed),
                bool(ies),
                SarInfo(reference, total, sequence),
                texts[sequence - 1],
            )
            for sequence, body in enumerate(plan.parts, start=1)
        )
    return tuple(
        Segment(
            _user_data(
                build_udh(concatenation_ie(reference, total, sequence, plan.reference_bits) + ies),
                body,
                packed,
            ),
            True,
            None,
            texts[sequence - 1],
        )
        for sequence, body in enumerate(plan.parts, start=1)
    )


def _user_data(udh: bytes, body: bytes, packed: bool) -> bytes:
    if not packed:
        return udh + body if udh else body
    # Septets after a UDH start on the next septet boundary (TS 23.040 9.2.3.24).
    fill_bits = (7 - (len(udh) * 8) % 7) % 7
    return udh + pack_septets(body, fill_bits)
