"""Explaining a text: the one answer the HTTP preview and the pricing both use.

`explain_text` runs the same choice and cut as the send path (plan_text), so the preview can never
disagree with what is sent and charged. The result is one msgspec Struct the HTTP layer serialises as is.
Positions are indices of Unicode code points in the text as given (before smart-encoding replacements).
This module must never price anything: it counts; billing multiplies.
"""

from __future__ import annotations

from collections.abc import Collection

import msgspec

from smpp.text.data_coding import Alphabet
from smpp.text.gsm7 import gsm7_codec
from smpp.text.segment_capacity import Carriage, capacities, ucs2_units, udh_octets
from smpp.text.segmentation import plan_text
from smpp.text.smart_encoding import Replacement


class ForcedCharacter(msgspec.Struct, frozen=True):
    """A character outside the GSM-7 default alphabet and its extension table."""

    position: int
    character: str
    code_point: str  # "U+1F600": readable even when the character itself does not render


class SegmentExplanation(msgspec.Struct, frozen=True):
    text: str
    length: int  # in the encoding's units: septets (escapes count 2), UCS-2 code units, or octets
    octets: int  # user data octets on the air, UDH included, as if GSM-7 were packed


class TextExplanation(msgspec.Struct, frozen=True):
    text: str  # the text that is sent (after smart-encoding replacements)
    encoding: str  # "gsm7", "gsm7-national", "ucs2", "latin1", "ia5", "cyrillic", "hebrew"
    data_coding: int
    locking_shift: int  # national language ids; 0 = GSM default tables
    single_shift: int
    characters: int  # Unicode code points
    septets: int | None  # GSM-7 only: total septets, escapes counted twice
    ucs2_units: int | None  # UCS-2 only: UTF-16 code units, surrogate pairs counted twice
    octets: int  # user data octets of all segments, UDH included (packed septets)
    segment_count: int
    single_segment_limit: int  # units that fit when the message is one segment
    multi_segment_limit: int  # units per segment once it is concatenated
    segments: tuple[SegmentExplanation, ...]
    characters_forcing_ucs2: tuple[ForcedCharacter, ...]  # empty unless UCS-2 was chosen automatically
    characters_needing_national_tables: tuple[ForcedCharacter, ...]  # when a national table was chosen
    replacements: tuple[Replacement, ...]
    explicit_data_coding: bool


def explain_text(
    text: str,
    *,
    data_coding: int | None = None,
    national_languages: Collection[int] = (),
    smart_encoding: bool = False,
    carriage: Carriage = Carriage.UDH,
    reference_bits: int = 8,
) -> TextExplanation:
    """Everything a user may ask about how `text` will travel. Raises what choose_encoding raises."""
    plan = plan_text(
        text,
        data_coding=data_coding,
        national_languages=national_languages,
        smart_encoding=smart_encoding,
        carriage=carriage,
        reference_bits=reference_bits,
    )
    choice = plan.choice
    assert choice is not None  # plan_text always records its choice
    alphabet = plan.alphabet
    single, multi = capacities(alphabet, reference_bits, choice.national_ies)
    udh_length = udh_octets(
        concatenated=plan.part_count > 1, reference_bits=reference_bits, national_ies=choice.national_ies
    )
    segments = tuple(
        SegmentExplanation(part_text, _length(alphabet, part), _air_octets(alphabet, udh_length, part))
        for part_text, part in zip(plan.part_texts, plan.parts, strict=True)
    )
    forced = _outside_default_gsm7(text)
    sent = choice.text
    national = choice.national_ies > 0
    if alphabet is Alphabet.GSM7:
        encoding = "gsm7-national" if national else "gsm7"
    else:
        encoding = alphabet.value
    return TextExplanation(
        text=sent,
        encoding=encoding,
        data_coding=int(plan.data_coding),
        locking_shift=choice.locking_shift,
        single_shift=choice.single_shift,
        characters=len(sent),
        septets=sum(len(part) for part in plan.parts) if alphabet is Alphabet.GSM7 else None,
        ucs2_units=ucs2_units(sent) if alphabet is Alphabet.UCS2 else None,
        octets=sum(segment.octets for segment in segments),
        segment_count=plan.part_count,
        single_segment_limit=single,
        multi_segment_limit=multi,
        segments=segments,
        characters_forcing_ucs2=forced if alphabet is Alphabet.UCS2 and not choice.explicit else (),
        characters_needing_national_tables=forced if national else (),
        replacements=choice.replacements,
        explicit_data_coding=choice.explicit,
    )


def _length(alphabet: Alphabet, part: bytes) -> int:
    return len(part) // 2 if alphabet is Alphabet.UCS2 else len(part)


def _air_octets(alphabet: Alphabet, udh_length: int, part: bytes) -> int:
    if alphabet is not Alphabet.GSM7:
        return udh_length + len(part)
    # Septets start on the septet boundary after the UDH, then pack 8 into 7 octets.
    septet_start = -(-udh_length * 8 // 7)
    return -(-(septet_start + len(part)) * 7 // 8)


def _outside_default_gsm7(text: str) -> tuple[ForcedCharacter, ...]:
    return tuple(
        ForcedCharacter(index, char, f"U+{ord(char):04X}")
        for index, char in gsm7_codec(0, 0).unencodable(text)
    )
