"""Packing septets 8-into-7 for connectors that want packed GSM-7 (TS 23.038 6.1.2.1.1, 6.1.2.3.1)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smpp.text import build_segments, encode_gsm7, pack_septets, plan_text, unpack_septets
from tests.smpp.text.air_interface import udh_octets

septet_strings = st.binary(max_size=400).map(lambda data: bytes(b & 0x7F for b in data))


def test_hellohello_packs_to_the_classic_vector() -> None:
    # The worked example of GSM 03.38 packing found in every SMS PDU tutorial.
    assert pack_septets(encode_gsm7("hellohello")) == bytes.fromhex("E8329BFD4697D9EC37")
    assert unpack_septets(bytes.fromhex("E8329BFD4697D9EC37")) == encode_gsm7("hellohello")


def test_seven_spare_bits_carry_a_carriage_return_not_an_extra_at_sign() -> None:
    # 7 septets = 49 bits: 7 spare bits in the 7th octet would read as '@'; the spec fills them with CR.
    packed = pack_septets(encode_gsm7("1234567"))
    assert packed == bytes.fromhex("31D98C56B3DD1A")
    assert unpack_septets(packed) == encode_gsm7("1234567")


@given(septet_strings)
def test_unpack_inverts_pack(septets: bytes) -> None:
    unpacked = unpack_septets(pack_septets(septets))
    # The only allowed difference is the spec's doubled CR for a CR that ends on an octet boundary.
    assert unpacked == septets or (septets.endswith(b"\r") and unpacked == septets + b"\r")
    assert unpack_septets(pack_septets(septets), septet_count=len(septets)) == septets


@given(septet_strings, st.integers(min_value=0, max_value=6))
def test_fill_bits_shift_the_septets_and_come_back_out(septets: bytes, fill_bits: int) -> None:
    packed = pack_septets(septets, fill_bits)
    assert unpack_septets(packed, fill_bits, septet_count=len(septets)) == septets
    assert len(packed) * 8 >= len(septets) * 7 + fill_bits


def test_packed_segments_after_a_udh_start_on_a_septet_boundary() -> None:
    text = "x" * 100 + "y" * 100
    plan = plan_text(text)
    unpacked = build_segments(plan, 9)
    packed = build_segments(plan, 9, packed=True)
    for plain, squeezed in zip(unpacked, packed, strict=True):
        header = udh_octets(plain.short_message)
        assert squeezed.short_message[:header] == plain.short_message[:header]
        fill = (7 - header * 8 % 7) % 7  # 6 UDH octets = 48 bits -> 1 fill bit
        body = unpack_septets(squeezed.short_message[header:], fill)
        assert body == plain.short_message[header:]
        assert len(squeezed.short_message) <= 140
