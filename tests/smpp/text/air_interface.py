"""Independent arithmetic of TS 23.040 for the tests: what fits in 140 octets, and the fewest parts.

Written from the spec, not from smpp.text, so the tests do not grade our code against itself.
"""

from __future__ import annotations

AIR_OCTETS = 140


def gsm7_fits(udh_octets: int, septets: int) -> bool:
    """UDH octets, then fill bits to the next septet boundary, then the septets, within 140 octets."""
    header_bits = udh_octets * 8
    fill = (7 - header_bits % 7) % 7
    return header_bits + fill + 7 * septets <= AIR_OCTETS * 8


def ucs2_fits(udh_octets: int, units: int) -> bool:
    return udh_octets + 2 * units <= AIR_OCTETS


def udh_octets(short_message: bytes) -> int:
    return short_message[0] + 1


def fewest_parts(costs: list[int], single: int, multi: int) -> int:
    """Minimal number of contiguous parts by dynamic programming (no greedy argument assumed)."""
    if sum(costs) <= single:
        return 1
    count = len(costs)
    infinity = count + 10
    best = [infinity] * (count + 1)
    best[0] = 0
    for end in range(1, count + 1):
        used = 0
        for start in range(end - 1, -1, -1):
            used += costs[start]
            if used > multi:
                break
            if best[start] + 1 < best[end]:
                best[end] = best[start] + 1
    return best[count]


# TS 23.038 6.2.1: the GSM 7 bit default alphabet, typed from the spec's table (column by column,
# septet 0x00 to 0x7F). Position 0x1B is the escape to the extension table.
SPEC_DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# TS 23.038 6.2.1.1: the default alphabet extension table (reached by ESC 0x1B).
SPEC_DEFAULT_EXTENSION = {
    0x0A: "\x0c",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# Positions where the gsmcodecs oracle's transcription departs from TS 23.038 (checked against the
# V16.0.0 tables as transcribed by CyberChef and against Android's GsmAlphabet):
# (table, language, septet) -> (the spec's character, the oracle's character or None).
ORACLE_ERRATA: dict[tuple[str, int, int], tuple[str, str | None]] = {
    **{("locking", language, 0x2C): (",", "'") for language in range(4, 14)},
    ("singleShift", 12, 0x65): ("€", None),
}


def oracle_errata_characters(locking: int, shift: int) -> set[str]:
    """Characters the oracle cannot be trusted with for this table pair (the spec's and its own)."""
    chars: set[str] = set()
    for (table, language, _), (spec, oracle) in ORACLE_ERRATA.items():
        if (table == "locking" and language == locking) or (table == "singleShift" and language == shift):
            chars.add(spec)
            if oracle is not None:
                chars.add(oracle)
    return chars
