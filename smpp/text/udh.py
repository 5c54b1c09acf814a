"""The user data header (TS 23.040 9.2.3.24): building it for outgoing parts, parsing it on incoming ones.

Only the IEs the text layer needs get names (concatenation with 8- and 16-bit reference, national
single- and locking-shift); every other IE is kept as (iei, data) and handed on untouched. This module
must never drop or rewrite an IE it does not understand.
"""

from __future__ import annotations

from enum import IntEnum

import msgspec

from smpp.text.errors import MalformedUdhError


class InformationElementId(IntEnum):
    """IEI values of TS 23.040 9.2.3.24 used here."""

    CONCAT_8BIT = 0x00
    CONCAT_16BIT = 0x08
    NATIONAL_SINGLE_SHIFT = 0x24
    NATIONAL_LOCKING_SHIFT = 0x25


class InformationElement(msgspec.Struct, frozen=True):
    iei: int
    data: bytes


class Concatenation(msgspec.Struct, frozen=True):
    """What a concatenation IE (or the SAR TLVs) says about a part."""

    reference: int
    total: int
    sequence: int  # 1-based
    reference_bits: int  # 8 or 16


def concatenation_ie(reference: int, total: int, sequence: int, reference_bits: int) -> bytes:
    """Encoded concatenation IE (IEI, length, data)."""
    if reference_bits == 8:
        return bytes((0x00, 3, reference & 0xFF, total, sequence))
    return bytes((0x08, 4, (reference >> 8) & 0xFF, reference & 0xFF, total, sequence))


def national_shift_ies(locking_shift: int, single_shift: int) -> bytes:
    """Encoded national language IEs for the non-default tables."""
    out = b""
    if single_shift:
        out += bytes((InformationElementId.NATIONAL_SINGLE_SHIFT, 1, single_shift))
    if locking_shift:
        out += bytes((InformationElementId.NATIONAL_LOCKING_SHIFT, 1, locking_shift))
    return out


def build_udh(information_elements: bytes) -> bytes:
    """A UDH (length octet + IEs) from encoded IEs; empty when there are none."""
    if not information_elements:
        return b""
    if len(information_elements) > 139:
        raise ValueError("user data header too long")
    return bytes((len(information_elements),)) + information_elements


def split_udh(user_data: bytes) -> tuple[tuple[InformationElement, ...], bytes]:
    """(IEs, the octets after the header) from a short_message whose esm_class says UDHI.

    Raises MalformedUdhError when the lengths do not add up."""
    if not user_data:
        raise MalformedUdhError("UDHI set but short_message is empty")
    header_length = user_data[0]
    if header_length + 1 > len(user_data):
        raise MalformedUdhError(
            f"UDH length {header_length} exceeds short_message of {len(user_data)} octets"
        )
    elements: list[InformationElement] = []
    index = 1
    end = header_length + 1
    while index < end:
        if index + 2 > end:
            raise MalformedUdhError("truncated information element header")
        iei = user_data[index]
        length = user_data[index + 1]
        if index + 2 + length > end:
            raise MalformedUdhError(f"information element 0x{iei:02x} overruns the header")
        elements.append(InformationElement(iei, user_data[index + 2 : index + 2 + length]))
        index += 2 + length
    return tuple(elements), user_data[end:]


def concatenation_of(elements: tuple[InformationElement, ...]) -> Concatenation | None:
    """The concatenation IE among `elements` (the last one wins, as TS 23.040 says for repeated IEs)."""
    found: Concatenation | None = None
    for element in elements:
        data = element.data
        if element.iei == InformationElementId.CONCAT_8BIT and len(data) == 3:
            found = Concatenation(data[0], data[1], data[2], 8)
        elif element.iei == InformationElementId.CONCAT_16BIT and len(data) == 4:
            found = Concatenation((data[0] << 8) | data[1], data[2], data[3], 16)
    return found


def national_shifts_of(elements: tuple[InformationElement, ...]) -> tuple[int, int]:
    """(locking-shift language, single-shift language) named by the IEs; 0 for the default tables."""
    locking = 0
    shift = 0
    for element in elements:
        if len(element.data) != 1:
            continue
        if element.iei == InformationElementId.NATIONAL_LOCKING_SHIFT:
            locking = element.data[0]
        elif element.iei == InformationElementId.NATIONAL_SINGLE_SHIFT:
            shift = element.data[0]
    return locking, shift
