"""Properties of the outgoing path, for any text: lossless, within limits, the fewest segments."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smpp.text import Alphabet, Carriage, build_segments, decode_gsm7, plan_text
from smpp.text.gsm_tables import LOCKING_SHIFT_TABLES, SINGLE_SHIFT_TABLES
from tests.smpp.text.air_interface import (
    SPEC_DEFAULT_ALPHABET,
    SPEC_DEFAULT_EXTENSION,
    fewest_parts,
    gsm7_fits,
    ucs2_fits,
    udh_octets,
)

GSM_BASIC = SPEC_DEFAULT_ALPHABET.replace("\x1b", "")
GSM_EXTENSION = "".join(SPEC_DEFAULT_EXTENSION.values())
gsm_texts = st.text(alphabet=GSM_BASIC + GSM_EXTENSION, max_size=700)
# Any Unicode scalar value except lone surrogates (they are not text, UCS-2 cannot carry them).
any_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)
mixed_texts = st.lists(st.sampled_from([*list("ab€[ "), "😀", "ж", "👍🏽", "\n"]), max_size=300).map("".join)
references = st.integers(min_value=0, max_value=255)


def _decode_body(alphabet: Alphabet, body: bytes, locking: int, shift: int) -> str:
    if alphabet is Alphabet.GSM7:
        return decode_gsm7(body, locking, shift)
    return body.decode("utf-16-be")


def _costs(text: str, alphabet: Alphabet, locking: int, shift: int) -> list[int]:
    if alphabet is Alphabet.UCS2:
        return [2 if ord(char) > 0xFFFF else 1 for char in text]
    return [1 if char in LOCKING_SHIFT_TABLES[locking] else 2 for char in text]


def _check(
    text: str, reference: int, carriage: Carriage = Carriage.UDH, national: frozenset[int] = frozenset()
) -> None:
    plan = plan_text(text, carriage=carriage, national_languages=national)
    assert plan.choice is not None
    locking, shift = plan.choice.locking_shift, plan.choice.single_shift
    segments = build_segments(plan, reference)
    joined = []
    for segment in segments:
        header = udh_octets(segment.short_message) if segment.udhi else 0
        body = segment.short_message[header:]
        decoded = _decode_body(plan.alphabet, body, locking, shift)
        # Each segment stands alone: no half escape pair, no half surrogate pair.
        assert decoded == segment.text
        joined.append(decoded)
        if carriage is not Carriage.PAYLOAD:
            if plan.alphabet is Alphabet.GSM7:
                assert gsm7_fits(header if header else 0, len(body))
                if carriage is Carriage.SAR and len(segments) > 1:
                    # The SMSC will add an 8-bit concatenation IE: it must still fit.
                    assert gsm7_fits(header + 5 if header else 6, len(body))
            else:
                assert ucs2_fits(header, len(body) // 2)
    assert "".join(joined) == text
    costs = _costs(text, plan.alphabet, locking, shift)
    ies = (locking != 0) + (shift != 0)
    if plan.alphabet is Alphabet.GSM7:
        single = 160 - -(-(ies * 3 + 1 if ies else 0) * 8 // 7)
        multi = 160 - -(-(1 + 5 + 3 * ies) * 8 // 7)
    else:
        single, multi = 70, 67
    assert plan.part_count == fewest_parts(costs, single, multi)


@given(gsm_texts, references)
def test_gsm7_texts_are_lossless_within_limits_and_minimal(text: str, reference: int) -> None:
    plan = plan_text(text)
    assert plan.alphabet is Alphabet.GSM7
    _check(text, reference)


@given(any_texts, references)
def test_any_text_is_lossless_within_limits_and_minimal(text: str, reference: int) -> None:
    _check(text, reference)


@given(mixed_texts, references, st.sampled_from(list(Carriage)))
def test_mixed_escapes_and_emoji_in_every_carriage(text: str, reference: int, carriage: Carriage) -> None:
    _check(text, reference, carriage)


national_alphabet = "".join(
    sorted(
        set(LOCKING_SHIFT_TABLES[1] + SINGLE_SHIFT_TABLES[1] + SINGLE_SHIFT_TABLES[2]) - {"\ufffd", "\x1b"}
    )
)


@settings(max_examples=200)
@given(st.text(alphabet=national_alphabet + "abc ", max_size=500), references)
def test_national_tables_are_lossless_within_limits_and_minimal(text: str, reference: int) -> None:
    _check(text, reference, national=frozenset({1, 2}))


@given(any_texts)
def test_gsm7_is_chosen_exactly_when_every_character_is_in_the_default_tables(text: str) -> None:
    fits = all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)
    assert (plan_text(text).alphabet is Alphabet.GSM7) == fits
