"""Segment counts and cuts at the exact limits, with escapes and emoji at the edge."""

from __future__ import annotations

import pytest

from smpp.text import Carriage, TextError, build_segments, plan_binary, plan_text
from tests.smpp.text.air_interface import gsm7_fits, ucs2_fits, udh_octets

EMOJI = "😀"  # outside the BMP: a surrogate pair, two UCS-2 units
CYRILLIC = "ж"  # one UCS-2 unit, not GSM-7


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 159 + "€", 2),  # 161 septets: the euro sign is an escape pair
        ("a" * 158 + "€", 1),  # exactly 160 septets
        ("a" * 153 * 2, 2),
        ("a" * (153 * 2 + 1), 3),
        ("[" * 80, 1),  # 160 septets of escapes
        ("[" * 81, 2),
    ],
)
def test_gsm7_segment_counts_at_160_and_153(text: str, parts: int) -> None:
    assert plan_text(text).part_count == parts


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (CYRILLIC * 70, 1),
        (CYRILLIC * 71, 2),
        (CYRILLIC * 68 + EMOJI, 1),  # exactly 70 units
        (CYRILLIC * 69 + EMOJI, 2),  # 71 units
        (EMOJI * 35, 1),
        (EMOJI * 36, 2),
        (CYRILLIC * 67 * 2, 2),
        (CYRILLIC * (67 * 2 + 1), 3),
    ],
)
def test_ucs2_segment_counts_at_70_and_67(text: str, parts: int) -> None:
    assert plan_text(text).part_count == parts


def test_escape_pair_at_the_153rd_septet_moves_whole_to_the_next_part() -> None:
    text = "a" * 152 + "€" + "b" * 10
    segments = build_segments(plan_text(text), 1)
    assert [segment.text for segment in segments] == ["a" * 152, "€" + "b" * 10]
    assert segments[0].short_message.endswith(b"a")
    assert segments[1].short_message[6:8] == b"\x1be"


def test_escape_pair_that_ends_exactly_at_153_stays_in_the_first_part() -> None:
    text = "a" * 151 + "€" + "b" * 10
    segments = build_segments(plan_text(text), 1)
    assert [segment.text for segment in segments] == ["a" * 151 + "€", "b" * 10]


def test_surrogate_pair_at_the_67th_unit_moves_whole_to_the_next_part() -> None:
    text = CYRILLIC * 66 + EMOJI + CYRILLIC * 5
    segments = build_segments(plan_text(text), 1)
    assert [segment.text for segment in segments] == [CYRILLIC * 66, EMOJI + CYRILLIC * 5]
    for segment in segments:
        segment.short_message[6:].decode("utf-16-be")  # each part is valid UTF-16 on its own


def test_sixteen_bit_references_leave_152_septets_and_66_units() -> None:
    assert plan_text("a" * 304, reference_bits=16).part_count == 2
    assert plan_text("a" * 305, reference_bits=16).part_count == 3
    assert plan_text(CYRILLIC * 132, reference_bits=16).part_count == 2
    assert plan_text(CYRILLIC * 133, reference_bits=16).part_count == 3
    segment = build_segments(plan_text("a" * 305, reference_bits=16), 0x1234)[0]
    assert segment.short_message[:7] == bytes.fromhex("06 08 04 12 34 03 01")


def test_concatenation_udh_is_the_ts_23040_eight_bit_ie() -> None:
    segments = build_segments(plan_text("a" * 200), 0xAB)
    assert [segment.short_message[:6] for segment in segments] == [
        bytes.fromhex("05 00 03 AB 02 01"),
        bytes.fromhex("05 00 03 AB 02 02"),
    ]
    assert all(segment.udhi for segment in segments)


def test_national_single_shift_ie_takes_room_155_then_149() -> None:
    spanish = {2}  # a single-shift table only: 'á' is an escape pair in it
    plan = plan_text("a" * 153 + "á", national_languages=spanish)  # 155 septets
    assert plan.part_count == 1
    segment = build_segments(plan)[0]
    assert segment.udhi and segment.short_message[:4] == bytes.fromhex("03 24 01 02")
    assert gsm7_fits(4, len(segment.short_message) - 4)
    assert plan_text("a" * 154 + "á", national_languages=spanish).part_count == 2  # 156 septets
    cut = build_segments(plan_text("a" * 148 + "á" + "b" * 10, national_languages=spanish), 1)
    assert [segment.text for segment in cut] == ["a" * 148, "á" + "b" * 10]  # 148 + 2 > 149
    assert cut[0].short_message[:9] == bytes.fromhex("08 00 03 01 02 01 24 01 02")


def test_locking_and_single_shift_together_leave_152_then_146() -> None:
    # 'ğ' needs the Turkish locking table, 'á' the Spanish single-shift table: two IEs.
    allowed = {1, 2}
    plan = plan_text("ğ" * 150 + "á", national_languages=allowed)  # 152 septets
    assert plan.choice is not None
    assert (plan.choice.locking_shift, plan.choice.single_shift) == (1, 2)
    assert plan.part_count == 1
    assert plan_text("ğ" * 151 + "á", national_languages=allowed).part_count == 2
    cut = build_segments(plan_text("ğ" * 145 + "á" + "x" * 20, national_languages=allowed), 4)
    assert [segment.text for segment in cut] == ["ğ" * 145, "á" + "x" * 20]  # 145 + 2 > 146
    for segment in cut:
        header = udh_octets(segment.short_message)
        assert header == 12
        assert gsm7_fits(header, len(segment.short_message) - header)


def test_locking_table_is_preferred_when_it_saves_a_segment() -> None:
    # 'Ş' is in both Turkish tables: 1 septet in the locking table, 2 in the single-shift one.
    plan = plan_text("a" * 154 + "Ş", national_languages={1})
    assert plan.part_count == 1
    assert plan.choice is not None and plan.choice.locking_shift == 1


def test_sar_mode_carries_the_triple_and_no_udh() -> None:
    segments = build_segments(plan_text("a" * 200, carriage=Carriage.SAR), 77)
    assert [(s.sar.reference, s.sar.total, s.sar.sequence) for s in segments if s.sar] == [
        (77, 2, 1),
        (77, 2, 2),
    ]
    assert [segment.short_message for segment in segments] == [b"a" * 153, b"a" * 47]
    assert not any(segment.udhi for segment in segments)


def test_payload_mode_sends_one_segment_but_counts_the_air_parts() -> None:
    plan = plan_text("a" * 400, carriage=Carriage.PAYLOAD)
    assert plan.part_count == 3
    assert not plan.needs_reference
    segments = build_segments(plan)
    assert len(segments) == 1
    assert segments[0].short_message == b"a" * 400
    assert segments[0].text == "a" * 400


def test_single_segment_gsm7_has_no_udh_and_needs_no_reference() -> None:
    plan = plan_text("Hello")
    assert not plan.needs_reference
    assert build_segments(plan) == build_segments(plan, 99)
    segment = build_segments(plan)[0]
    assert segment.short_message == b"Hello" and not segment.udhi and segment.sar is None


def test_binary_payloads_cut_at_140_and_134_octets() -> None:
    assert plan_binary(bytes(140), 0x04).part_count == 1
    assert plan_binary(bytes(141), 0x04).part_count == 2
    assert plan_binary(bytes(134 * 2), 0xF5).part_count == 2
    assert plan_binary(bytes(134 * 2 + 1), 0xF5).part_count == 3
    assert plan_binary(bytes(133 * 2 + 1), 0x04, reference_bits=16).part_count == 3


def test_more_than_255_parts_is_refused_except_in_payload_mode() -> None:
    with pytest.raises(TextError):
        plan_text("a" * (153 * 255 + 1))
    assert plan_text("a" * (153 * 255)).part_count == 255
    assert plan_text("a" * (153 * 255 + 1), carriage=Carriage.PAYLOAD).part_count == 256


def test_every_segment_fits_the_air_interface() -> None:
    for text in ("a" * 1000, "€" * 500, CYRILLIC * 500, EMOJI * 200, "a€" * 333):
        for segment in build_segments(plan_text(text), 5):
            header = udh_octets(segment.short_message)
            body = segment.short_message[header:]
            assert gsm7_fits(header, len(body)) or ucs2_fits(header, len(body) // 2)
