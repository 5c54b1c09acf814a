"""Decoding what a carrier (or a customer) sends: any data_coding, with or without a UDH."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smpp.text import Alphabet, alphabet_of, decode_short_message, message_class_of, pack_septets


def test_gsm7_default_alphabet_with_escapes() -> None:
    decoded = decode_short_message(b"Price \x1be5 \x1b<ok\x1b>", 0x00)
    assert decoded.text == "Price €5 [ok]"
    assert decoded.alphabet is Alphabet.GSM7


def test_ucs2_with_a_surrogate_pair() -> None:
    decoded = decode_short_message("Hi 😀 ж".encode("utf-16-be"), 0x08)
    assert decoded.text == "Hi 😀 ж"


@pytest.mark.parametrize(
    ("data_coding", "raw", "text"),
    [
        (0x01, b"plain ascii", "plain ascii"),
        (0x03, "Grüße".encode("latin-1"), "Grüße"),
        (0x06, "Привет".encode("iso8859_5"), "Привет"),
        (0x07, "שלום".encode("iso8859_8"), "שלום"),
        (0xF0, b"flash", "flash"),  # class 0, GSM-7
        (0x10, b"class 0 general", "class 0 general"),
        (0x18, "ж".encode("utf-16-be"), "ж"),  # general data coding, class 0, UCS-2
        (0xC0, b"voicemail", "voicemail"),  # message waiting, discard, GSM-7
        (0xE0, "ж".encode("utf-16-be"), "ж"),  # message waiting, store, UCS-2
    ],
)
def test_text_data_codings_decode(data_coding: int, raw: bytes, text: str) -> None:
    assert decode_short_message(raw, data_coding).text == text


@pytest.mark.parametrize(
    "data_coding", [0x02, 0x04, 0xF4, 0xF7, 0x05, 0x09, 0x0A, 0x0D, 0x0E, 0x0F, 0x30, 0x80, 0xB3]
)
def test_binary_and_unknown_data_codings_pass_through_as_bytes(data_coding: int) -> None:
    decoded = decode_short_message(b"\x00\xff\x10", data_coding)
    assert decoded.text is None
    assert decoded.body == b"\x00\xff\x10"
    assert decoded.alphabet is Alphabet.OCTETS


def test_message_class_is_reported() -> None:
    assert message_class_of(0xF0) == 0
    assert message_class_of(0xF5) == 1
    assert message_class_of(0x12) == 2
    assert message_class_of(0x00) is None
    assert alphabet_of(0x11) is Alphabet.GSM7 and alphabet_of(0x15) is Alphabet.OCTETS


def test_udh_concatenation_and_body() -> None:
    decoded = decode_short_message(bytes.fromhex("050003A70302") + b"hello", 0x00, udhi=True)
    assert decoded.text == "hello"
    assert decoded.concatenation is not None
    assert (decoded.concatenation.reference, decoded.concatenation.total, decoded.concatenation.sequence) == (
        0xA7,
        3,
        2,
    )
    assert decoded.concatenation.reference_bits == 8


def test_udh_sixteen_bit_concatenation() -> None:
    decoded = decode_short_message(bytes.fromhex("060804BEEF0201") + "ж".encode("utf-16-be"), 0x08, udhi=True)
    assert decoded.text == "ж"
    assert decoded.concatenation is not None
    assert (decoded.concatenation.reference, decoded.concatenation.reference_bits) == (0xBEEF, 16)


def test_national_language_ies_select_the_tables() -> None:
    # Turkish locking shift IE (0x25): septet 0x07 is 'ı' there, 'ì' in the default table.
    decoded = decode_short_message(bytes.fromhex("03250101") + b"\x07", 0x00, udhi=True)
    assert decoded.text == "ı"
    assert decode_short_message(b"\x07", 0x00).text == "ì"


def test_unknown_ies_are_kept_untouched() -> None:
    decoded = decode_short_message(bytes.fromhex("060504158A0000") + b"\x01\x02", 0x04, udhi=True)
    assert [(ie.iei, ie.data) for ie in decoded.information_elements] == [(0x05, bytes.fromhex("158A0000"))]
    assert decoded.body == b"\x01\x02"


@pytest.mark.parametrize(
    "raw", [b"", b"\x09\x00\x03", bytes.fromhex("05000301"), bytes.fromhex("0300050102")]
)
def test_malformed_udh_never_raises_and_keeps_every_octet(raw: bytes) -> None:
    decoded = decode_short_message(raw, 0x04, udhi=True)
    assert decoded.malformed_udh
    assert decoded.body == raw


def test_packed_gsm7_after_a_udh() -> None:
    udh = bytes.fromhex("050003010201")
    packed = udh + pack_septets(b"hello world", fill_bits=1)
    assert decode_short_message(packed, 0x00, udhi=True, packed=True).text == "hello world"


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=255), st.booleans(), st.booleans())
def test_any_octets_with_any_data_coding_decode_without_raising(
    raw: bytes, data_coding: int, udhi: bool, packed: bool
) -> None:
    decoded = decode_short_message(raw, data_coding, udhi=udhi, packed=packed)
    assert decoded.text is None or isinstance(decoded.text, str)
