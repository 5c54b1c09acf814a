"""What an SMPP data_coding value means for the bytes of short_message: which alphabet, which message class.

SMPP 3.4 5.2.19 gives its own meaning to 0x00-0x0E; above that the GSM data coding scheme of
3GPP TS 23.038 4 applies (general data coding with class, automatic deletion, message waiting and the
0xF0-0xFF message class group). Also the plain text codecs for the non-GSM alphabets live here.
This module must never guess an alphabet for a value it does not know: such bytes pass through as
bytes (Alphabet.OCTETS), never decoded into wrong text.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from smpp.text.errors import BinaryPayloadRequiredError, UnencodableTextError


class DataCoding(IntEnum):
    """SMPP 3.4 5.2.19 data_coding values we send."""

    SMSC_DEFAULT = 0x00  # we use it for GSM-7 (with or without national shift tables)
    IA5 = 0x01
    OCTET_UNSPECIFIED = 0x02
    LATIN_1 = 0x03
    OCTET_UNSPECIFIED_2 = 0x04
    CYRILLIC = 0x06
    LATIN_HEBREW = 0x07
    UCS2 = 0x08
    GSM7_CLASS_0 = 0xF0  # "flash" SMS, GSM-7
    GSM7_CLASS_1 = 0xF1
    GSM7_CLASS_2 = 0xF2
    GSM7_CLASS_3 = 0xF3
    OCTET_CLASS_0 = 0xF4
    OCTET_CLASS_1 = 0xF5
    OCTET_CLASS_2 = 0xF6
    OCTET_CLASS_3 = 0xF7


class Alphabet(StrEnum):
    """How the octets of short_message represent the message."""

    GSM7 = "gsm7"  # septets, one per octet unless the connector packs them
    UCS2 = "ucs2"  # UTF-16BE: surrogate pairs for characters outside the BMP
    LATIN_1 = "latin1"
    IA5 = "ia5"  # ASCII
    CYRILLIC = "cyrillic"  # ISO-8859-5
    HEBREW = "hebrew"  # ISO-8859-8
    OCTETS = "octets"  # binary, or an alphabet we do not know: bytes, never text


_SMPP_SPECIFIC: dict[int, Alphabet] = {
    0x00: Alphabet.GSM7,
    0x01: Alphabet.IA5,
    0x02: Alphabet.OCTETS,
    0x03: Alphabet.LATIN_1,
    0x04: Alphabet.OCTETS,
    # 0x05 JIS, 0x09 pictogram, 0x0A music codes, 0x0D extended JIS, 0x0E KS C 5601: vendor-specific
    # byte forms; passed through as octets rather than decoded wrongly.
    0x06: Alphabet.CYRILLIC,
    0x07: Alphabet.HEBREW,
    0x08: Alphabet.UCS2,
}

_GSM_ALPHABET_BITS = (Alphabet.GSM7, Alphabet.OCTETS, Alphabet.UCS2, Alphabet.OCTETS)  # 11 is reserved


def alphabet_of(data_coding: int) -> Alphabet:
    """The alphabet a data_coding value carries (SMPP values first, then the TS 23.038 4 groups)."""
    if data_coding in _SMPP_SPECIFIC:
        return _SMPP_SPECIFIC[data_coding]
    if 0x10 <= data_coding <= 0x7F and not data_coding & 0x20:
        # General data coding (0x10-0x3F with class) and automatic deletion (0x40-0x7F), uncompressed:
        # bits 3..2 give the alphabet. Compressed text (bit 5) stays octets: we do not implement TS 23.042.
        return _GSM_ALPHABET_BITS[(data_coding >> 2) & 0x03]
    if 0xC0 <= data_coding <= 0xDF:
        return Alphabet.GSM7  # message waiting indication, discard / store, GSM-7
    if 0xE0 <= data_coding <= 0xEF:
        return Alphabet.UCS2  # message waiting indication, store, UCS-2
    if data_coding >= 0xF0:
        return Alphabet.OCTETS if data_coding & 0x04 else Alphabet.GSM7
    return Alphabet.OCTETS


def message_class_of(data_coding: int) -> int | None:
    """GSM message class 0-3 (0 is "flash") when the data_coding sets one, else None."""
    if data_coding >= 0xF0:
        return data_coding & 0x03
    if 0x10 <= data_coding <= 0x7F and data_coding & 0x10:
        return data_coding & 0x03
    return None


_PYTHON_CODECS: dict[Alphabet, str] = {
    Alphabet.LATIN_1: "latin-1",
    Alphabet.IA5: "ascii",
    Alphabet.CYRILLIC: "iso8859_5",
    Alphabet.HEBREW: "iso8859_8",
    Alphabet.UCS2: "utf-16-be",
}


def encode_octet_text(text: str, alphabet: Alphabet) -> bytes:
    """Text in one of the non-GSM alphabets; raises UnencodableTextError with the offending positions."""
    codec = _PYTHON_CODECS.get(alphabet)
    if codec is None:
        raise ValueError(f"{alphabet.value} is not an octet text alphabet")
    try:
        return text.encode(codec)
    except UnicodeEncodeError:
        positions = tuple((index, char) for index, char in enumerate(text) if not _encodes(char, codec))
        raise UnencodableTextError(alphabet.value, positions) from None


def _encodes(char: str, codec: str) -> bool:
    try:
        char.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def decode_octet_text(body: bytes, alphabet: Alphabet) -> str:
    """Text from a non-GSM alphabet; what does not decode becomes U+FFFD (a peer's bug must not cost the
    rest of the message)."""
    codec = _PYTHON_CODECS.get(alphabet)
    if codec is None:
        raise ValueError(f"{alphabet.value} is not an octet text alphabet")
    return body.decode(codec, "replace")


def require_text_alphabet(data_coding: int) -> Alphabet:
    """The alphabet of `data_coding`, refusing the ones that carry bytes rather than text."""
    alphabet = alphabet_of(data_coding)
    if alphabet is Alphabet.OCTETS:
        raise BinaryPayloadRequiredError(data_coding)
    return alphabet
