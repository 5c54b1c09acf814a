"""The preview / pricing answer: one Struct, serialisable as is, agreeing with what is sent."""

from __future__ import annotations

import msgspec

from smpp.text import Carriage, build_segments, explain_text, plan_text


def test_explanation_serialises_to_json_for_the_http_preview() -> None:
    explanation = explain_text("Hello 😀")
    document = msgspec.json.decode(msgspec.json.encode(explanation))
    assert document["encoding"] == "ucs2"
    assert document["data_coding"] == 8
    assert document["segment_count"] == 1
    assert document["characters_forcing_ucs2"] == [
        {"position": 6, "character": "😀", "code_point": "U+1F600"}
    ]


def test_counts_for_a_gsm7_text_with_escapes() -> None:
    explanation = explain_text("Price: 5€ [net]")
    assert explanation.encoding == "gsm7"
    assert explanation.characters == 15
    assert explanation.septets == 18  # three escape pairs
    assert explanation.ucs2_units is None
    assert explanation.segment_count == 1
    assert explanation.octets == 16  # 18 septets packed = 126 bits
    assert explanation.characters_forcing_ucs2 == ()


def test_segments_and_their_texts_match_what_is_sent() -> None:
    text = "word " * 70
    explanation = explain_text(text)
    segments = build_segments(plan_text(text), 1)
    assert explanation.segment_count == len(segments) == 3
    assert [part.text for part in explanation.segments] == [segment.text for segment in segments]
    assert [part.length for part in explanation.segments] == [153, 153, 44]
    assert all(part.octets <= 140 for part in explanation.segments)
    assert (explanation.single_segment_limit, explanation.multi_segment_limit) == (160, 153)


def test_ucs2_counts_surrogate_pairs_as_two_units() -> None:
    explanation = explain_text("ж" * 60 + "😀" * 6)
    assert explanation.ucs2_units == 72
    assert explanation.segment_count == 2
    assert (explanation.single_segment_limit, explanation.multi_segment_limit) == (70, 67)
    # 60 + 3 emoji = 66 units; the 4th emoji would take units 67-68, so it opens the next part.
    assert [part.length for part in explanation.segments] == [66, 6]


def test_positions_of_every_character_that_forced_ucs2() -> None:
    explanation = explain_text("a`b😀c")
    assert [(c.position, c.character) for c in explanation.characters_forcing_ucs2] == [(1, "`"), (3, "😀")]


def test_national_table_explanation_names_the_characters_that_needed_it() -> None:
    explanation = explain_text("çay ğ", national_languages={1})
    assert explanation.encoding == "gsm7-national"
    assert (explanation.locking_shift, explanation.single_shift) == (0, 1)
    assert explanation.characters_forcing_ucs2 == ()
    assert [c.character for c in explanation.characters_needing_national_tables] == ["ç", "ğ"]


def test_smart_encoding_replacements_are_reported() -> None:
    explanation = explain_text("“Hi”", smart_encoding=True)
    assert explanation.text == '"Hi"'
    assert explanation.encoding == "gsm7"
    assert len(explanation.replacements) == 2


def test_payload_carriage_still_counts_air_segments_for_pricing() -> None:
    assert explain_text("a" * 400, carriage=Carriage.PAYLOAD).segment_count == 3
