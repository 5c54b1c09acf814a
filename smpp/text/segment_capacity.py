"""How much text fits in one SMS, and how to cut a text into the fewest parts that fit.

The air interface carries 140 octets of user data (TS 23.040 9.2.3.24). A user data header (UDH) takes
its octets first; GSM-7 septets then start on the next septet boundary. So with a UDH of n octets the
room is 160 - ceil(8n / 7) septets, (140 - n) // 2 UCS-2 code units, or 140 - n octets:
160/153/152 septets and 70/67/66 units for no UDH / 8-bit / 16-bit concatenation reference, and each
national language shift IE (3 octets) takes its room too (155 single, 149 with an 8-bit reference).

Cutting is greedy: fill each part as far as the next character allows. With per-character costs of 1 or 2
(an escape pair, a surrogate pair) and a fixed capacity per part, greedy filling yields the fewest
parts (any cut can only be moved later by greedy, never earlier, so greedy never needs an extra part);
a two-unit character that does not fit moves whole to the next part, so it is never split.
The cuts work on the encoded octets (one septet per octet for GSM-7), where the pairs are easy to see.
This module must never choose an encoding: it counts and cuts what it is given.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from smpp.text.data_coding import Alphabet

AIR_USER_DATA_OCTETS: Final = 140
CONCAT_8BIT_IE_OCTETS: Final = 5  # IEI 0x00, length 3, reference, total, sequence
CONCAT_16BIT_IE_OCTETS: Final = 6  # IEI 0x08, length 4, reference (2), total, sequence
NATIONAL_SHIFT_IE_OCTETS: Final = 3  # IEI 0x24 / 0x25, length 1, language
MAX_PARTS: Final = 255  # the concatenation IE counts parts in one octet


class Carriage(StrEnum):
    """How a long message travels to the SMSC (per connector)."""

    UDH = "udh"  # concatenation IE in each short_message, esm_class UDHI set
    SAR = "sar"  # sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs
    PAYLOAD = "payload"  # the whole message in one message_payload TLV; the SMSC cuts it


def udh_octets(*, concatenated: bool, reference_bits: int, national_ies: int) -> int:
    """Octets of a UDH (including its length octet) with these IEs; 0 when there is no IE at all."""
    body = NATIONAL_SHIFT_IE_OCTETS * national_ies
    if concatenated:
        body += CONCAT_8BIT_IE_OCTETS if reference_bits == 8 else CONCAT_16BIT_IE_OCTETS
    return body + 1 if body else 0


def part_capacity(alphabet: Alphabet, udh_length: int) -> int:
    """Room left beside a UDH of `udh_length` octets, in septets, UCS-2 units or octets."""
    if alphabet is Alphabet.GSM7:
        return (AIR_USER_DATA_OCTETS * 8 - -(-udh_length * 8 // 7) * 7) // 7
    if alphabet is Alphabet.UCS2:
        return (AIR_USER_DATA_OCTETS - udh_length) // 2
    return AIR_USER_DATA_OCTETS - udh_length


def capacities(alphabet: Alphabet, reference_bits: int, national_ies: int) -> tuple[int, int]:
    """(room in a single message, room in each part of a concatenated one)."""
    found = _CAPACITIES.get((alphabet, reference_bits, national_ies))
    return found if found is not None else _capacities(alphabet, reference_bits, national_ies)


def _capacities(alphabet: Alphabet, reference_bits: int, national_ies: int) -> tuple[int, int]:
    single = part_capacity(
        alphabet, udh_octets(concatenated=False, reference_bits=8, national_ies=national_ies)
    )
    multi = part_capacity(
        alphabet, udh_octets(concatenated=True, reference_bits=reference_bits, national_ies=national_ies)
    )
    return single, multi


# Every combination in use, computed once: this is on the path of every message.
_CAPACITIES: Final[dict[tuple[Alphabet, int, int], tuple[int, int]]] = {
    (alphabet, bits, ies): _capacities(alphabet, bits, ies)
    for alphabet in Alphabet
    for bits in (8, 16)
    for ies in (0, 1, 2)
}


def cut_septets(septets: bytes, single: int, multi: int) -> list[bytes]:
    """Cut unpacked GSM-7 septets into the fewest parts: whole when they fit `single`, else greedy parts of
    at most `multi`. An escape octet (0x1B) only ever starts a two-septet pair, so a part that would end
    on one ends a septet earlier and the pair moves whole to the next part."""
    if len(septets) <= single:
        return [septets]
    parts: list[bytes] = []
    start = 0
    end_of_text = len(septets)
    while start < end_of_text:
        end = start + multi
        if end < end_of_text and septets[end - 1] == 0x1B:
            end -= 1
        parts.append(septets[start:end])
        start = end
    return parts


def cut_ucs2(utf16: bytes, single: int, multi: int) -> list[bytes]:
    """Cut UTF-16BE into the fewest parts of at most `single` / `multi` code units; a part that would
    end on a high surrogate ends a unit earlier, so a surrogate pair is never split."""
    if len(utf16) <= single * 2:
        return [utf16]
    parts: list[bytes] = []
    start = 0
    end_of_text = len(utf16)
    width = multi * 2
    while start < end_of_text:
        end = start + width
        if end < end_of_text and 0xD8 <= utf16[end - 2] <= 0xDB:
            end -= 2
        parts.append(utf16[start:end])
        start = end
    return parts


def ucs2_units(text: str) -> int:
    """UTF-16 code units: characters outside the BMP take a surrogate pair."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for char in text if char > "\uffff")
