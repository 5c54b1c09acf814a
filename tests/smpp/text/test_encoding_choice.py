"""Which alphabet a text goes out in: GSM-7, a national table where allowed, UCS-2; explicit always wins."""

from __future__ import annotations

import pytest

from smpp.text import (
    Alphabet,
    BinaryPayloadRequiredError,
    UnencodableTextError,
    build_segments,
    choose_encoding,
    national_languages_for_country,
    plan_text,
)


def test_plain_text_goes_as_gsm7_with_data_coding_0() -> None:
    choice = choose_encoding("Hello {world} €5")
    assert (choice.alphabet, choice.data_coding) == (Alphabet.GSM7, 0)


def test_one_emoji_turns_the_message_into_ucs2() -> None:
    choice = choose_encoding("Hello 😀")
    assert (choice.alphabet, choice.data_coding) == (Alphabet.UCS2, 8)


def test_turkish_text_uses_turkish_tables_only_where_allowed() -> None:
    text = "Günaydın, ağabey! Şimdi çıkıyorum."
    assert choose_encoding(text).alphabet is Alphabet.UCS2
    turkish = choose_encoding(text, national_languages=national_languages_for_country("TR"))
    assert turkish.alphabet is Alphabet.GSM7
    # Both Turkish tables carry it in one segment with one IE; the single-shift table is preferred
    # (a handset that ignores the IE then garbles only those few characters, not the whole text).
    assert (turkish.locking_shift, turkish.single_shift) == (0, 1)
    assert (
        choose_encoding(text, national_languages=national_languages_for_country("DE")).alphabet
        is Alphabet.UCS2
    )


def test_spanish_accents_use_the_spanish_single_shift_table() -> None:
    choice = choose_encoding("Canción para María", national_languages={2})
    assert (choice.alphabet, choice.locking_shift, choice.single_shift) == (Alphabet.GSM7, 0, 2)


def test_hindi_text_goes_in_one_segment_with_the_hindi_locking_table() -> None:
    text = "नमस्ते, आपका कोड 4821 है"
    assert plan_text(text).alphabet is Alphabet.UCS2
    plan = plan_text(text, national_languages=national_languages_for_country("IN"))
    assert plan.choice is not None and plan.choice.locking_shift == 6
    assert plan.part_count == 1


def test_national_table_is_not_used_when_ucs2_takes_fewer_segments() -> None:
    # 70 Spanish-shift characters: 140 septets + IE fit one GSM-7 segment, and 70 UCS-2 units do too.
    # 75 of them: 150 septets (one segment) versus 75 units (two): the national table wins.
    assert plan_text("á" * 75, national_languages={2}).alphabet is Alphabet.GSM7
    assert plan_text("á" * 75, national_languages={2}).part_count == 1


def test_explicit_data_coding_wins_even_when_gsm7_would_do() -> None:
    plan = plan_text("Hello", data_coding=8)
    assert plan.alphabet is Alphabet.UCS2
    assert build_segments(plan)[0].short_message == "Hello".encode("utf-16-be")
    latin = plan_text("Grüße", data_coding=3)
    assert build_segments(latin)[0].short_message == "Grüße".encode("latin-1")
    flash = plan_text("Alert", data_coding=0xF0)
    assert flash.alphabet is Alphabet.GSM7 and flash.data_coding == 0xF0


def test_explicit_alphabet_that_cannot_carry_the_text_names_the_characters() -> None:
    with pytest.raises(UnencodableTextError) as raised:
        choose_encoding("ok 😀 ok ж", data_coding=0)
    assert raised.value.positions == ((3, "😀"), (8, "ж"))
    with pytest.raises(UnencodableTextError):
        choose_encoding("naïve ж", data_coding=3)
    with pytest.raises(UnencodableTextError):
        choose_encoding("é", data_coding=1)


def test_binary_and_unknown_data_codings_refuse_text() -> None:
    for data_coding in (0x02, 0x04, 0xF5, 0x05, 0x0E):
        with pytest.raises(BinaryPayloadRequiredError):
            choose_encoding("text", data_coding=data_coding)


def test_smart_encoding_replaces_look_alikes_and_reports_them() -> None:
    text = "It’s “done” — see you…"
    assert choose_encoding(text).alphabet is Alphabet.UCS2
    choice = choose_encoding(text, smart_encoding=True)
    assert choice.alphabet is Alphabet.GSM7
    assert choice.text == 'It\'s "done" - see you...'
    assert [(r.position, r.original, r.replacement) for r in choice.replacements] == [
        (2, "’", "'"),
        (5, "“", '"'),
        (10, "”", '"'),
        (12, "—", "-"),
        (21, "…", "..."),
    ]


def test_smart_encoding_leaves_the_text_alone_when_it_goes_as_ucs2_anyway() -> None:
    choice = choose_encoding("“Hi” 😀", smart_encoding=True)
    assert choice.alphabet is Alphabet.UCS2
    assert choice.text == "“Hi” 😀" and choice.replacements == ()


def test_smart_encoding_never_changes_letters() -> None:
    choice = choose_encoding("Señor “Á”", smart_encoding=True)
    assert choice.alphabet is Alphabet.UCS2  # Á is not GSM-7 default; it is not turned into A
    assert "Á" in choice.text


def test_smart_encoding_helps_an_explicit_ia5_request() -> None:
    choice = choose_encoding("“quoted”", data_coding=1, smart_encoding=True)
    assert choice.text == '"quoted"' and len(choice.replacements) == 2


def test_non_breaking_space_alone_no_longer_costs_a_ucs2_segment() -> None:
    text = "a" * 150 + "\u00a0" + "b" * 9  # 160 characters
    assert plan_text(text).part_count == 3  # UCS-2: 160 units
    assert plan_text(text, smart_encoding=True).part_count == 1
