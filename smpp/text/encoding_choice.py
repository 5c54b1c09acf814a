"""Choosing the alphabet (and national shift tables) for an outgoing text.

Order of preference, as product rules say: an explicit data_coding from the customer always wins;
otherwise the GSM-7 default alphabet if every character fits; otherwise GSM-7 with national shift tables
allowed for the destination, the pair that gives the fewest segments; otherwise UCS-2. Smart encoding,
when asked for, first replaces typographic look-alikes, and keeps the replacement only when it lets the
text travel as GSM-7 (replacing characters in a text that goes out as UCS-2 anyway would only spoil it).
This module must never build bytes or segments: it decides, and segmentation carries out the decision.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import msgspec

from smpp.text.data_coding import Alphabet, DataCoding, encode_octet_text, require_text_alphabet
from smpp.text.errors import UnencodableTextError
from smpp.text.gsm7 import gsm7_codec
from smpp.text.national_languages import has_locking_shift_table, has_single_shift_table
from smpp.text.segment_capacity import capacities, cut_septets, cut_ucs2
from smpp.text.smart_encoding import Replacement, replace_look_alikes

_DEFAULT_GSM7: Final = gsm7_codec(0, 0)

# Enum members cost ~200 ns per attribute lookup; this module is on the path of every message.
_GSM7: Final = Alphabet.GSM7
_GSM7_DATA_CODING: Final = int(DataCoding.SMSC_DEFAULT)
_UCS2: Final = Alphabet.UCS2
_UCS2_DATA_CODING: Final = int(DataCoding.UCS2)


class EncodingChoice(msgspec.Struct, frozen=True):
    """The decision for one text: what to send and in which alphabet."""

    text: str  # the text to send: the customer's, after smart-encoding replacements if any
    alphabet: Alphabet
    data_coding: int
    locking_shift: int = 0  # national language of the locking-shift table (GSM-7 only, 0 = default)
    single_shift: int = 0  # national language of the single-shift table (GSM-7 only, 0 = default)
    replacements: tuple[Replacement, ...] = ()
    explicit: bool = False  # the customer named the data_coding

    @property
    def national_ies(self) -> int:
        """How many national language IEs the UDH must carry."""
        return (self.locking_shift != 0) + (self.single_shift != 0)


def choose_encoding(
    text: str,
    *,
    data_coding: int | None = None,
    national_languages: Collection[int] = (),
    smart_encoding: bool = False,
    reference_bits: int = 8,
) -> EncodingChoice:
    """Decide how `text` travels. Raises UnencodableTextError when an explicit data_coding cannot carry it
    and BinaryPayloadRequiredError when the explicit data_coding carries bytes, not text."""
    if data_coding is not None:
        return _explicit(text, data_coding, national_languages, smart_encoding, reference_bits)
    if _DEFAULT_GSM7.septet_count(text) is not None:
        return EncodingChoice(text, _GSM7, _GSM7_DATA_CODING)
    return choose_beyond_default(text, national_languages, smart_encoding, reference_bits)


def choose_beyond_default(
    text: str, national_languages: Collection[int], smart_encoding: bool, reference_bits: int
) -> EncodingChoice:
    """choose_encoding for a text already known not to fit the GSM-7 default tables (saves a pass)."""
    choice = _beyond_default(text, national_languages, reference_bits)
    if smart_encoding and choice.alphabet is _UCS2:
        replaced, replacements = replace_look_alikes(text)
        if replacements:
            better = _automatic(replaced, national_languages, reference_bits)
            if better.alphabet is _GSM7:
                return msgspec.structs.replace(better, replacements=replacements)
    return choice


def _automatic(text: str, national_languages: Collection[int], reference_bits: int) -> EncodingChoice:
    if _DEFAULT_GSM7.septet_count(text) is not None:
        return EncodingChoice(text, _GSM7, _GSM7_DATA_CODING)
    return _beyond_default(text, national_languages, reference_bits)


def _beyond_default(text: str, national_languages: Collection[int], reference_bits: int) -> EncodingChoice:
    national = _best_national_pair(text, national_languages, reference_bits)
    if national is not None:
        (locking, shift), segments = national
        if segments <= _ucs2_segments(text, reference_bits):
            return EncodingChoice(text, _GSM7, _GSM7_DATA_CODING, locking, shift)
    return EncodingChoice(text, _UCS2, _UCS2_DATA_CODING)


def _explicit(
    text: str,
    data_coding: int,
    national_languages: Collection[int],
    smart_encoding: bool,
    reference_bits: int,
) -> EncodingChoice:
    alphabet = require_text_alphabet(data_coding)
    try:
        return _fit_explicit(text, alphabet, data_coding, national_languages, reference_bits)
    except UnencodableTextError:
        if not smart_encoding:
            raise
        replaced, replacements = replace_look_alikes(text)
        if not replacements:
            raise
    choice = _fit_explicit(replaced, alphabet, data_coding, national_languages, reference_bits)
    return msgspec.structs.replace(choice, replacements=replacements)


def _fit_explicit(
    text: str, alphabet: Alphabet, data_coding: int, national_languages: Collection[int], reference_bits: int
) -> EncodingChoice:
    if alphabet is _GSM7:
        if _DEFAULT_GSM7.septet_count(text) is not None:
            return EncodingChoice(text, alphabet, data_coding, explicit=True)
        national = _best_national_pair(text, national_languages, reference_bits)
        if national is None:
            raise UnencodableTextError(_DEFAULT_GSM7.name, _DEFAULT_GSM7.unencodable(text))
        (locking, shift), _ = national
        return EncodingChoice(text, alphabet, data_coding, locking, shift, explicit=True)
    encode_octet_text(text, alphabet)  # raises with the positions when it does not fit
    return EncodingChoice(text, alphabet, data_coding, explicit=True)


def _best_national_pair(
    text: str, national_languages: Collection[int], reference_bits: int
) -> tuple[tuple[int, int], int] | None:
    """The (locking, shift) pair that carries `text` in the fewest segments, then with the fewest IEs."""
    if not national_languages:
        return None
    lockings = [
        0,
        *sorted(lang for lang in set(national_languages) if lang and has_locking_shift_table(lang)),
    ]
    shifts = [0, *sorted(lang for lang in set(national_languages) if lang and has_single_shift_table(lang))]
    best: tuple[tuple[int, int, int, int], int] | None = None
    for locking in lockings:
        for shift in shifts:
            if locking == 0 and shift == 0:
                continue
            codec = gsm7_codec(locking, shift)
            septets = codec.encode_or_none(text)
            if septets is None:
                continue
            ies = (locking != 0) + (shift != 0)
            single, multi = capacities(_GSM7, reference_bits, ies)
            segments = len(cut_septets(septets, single, multi))
            key = (segments, ies, locking, shift)
            if best is None or key < best[0]:
                best = (key, segments)
    if best is None:
        return None
    return (best[0][2], best[0][3]), best[1]


def _ucs2_segments(text: str, reference_bits: int) -> int:
    single, multi = capacities(_UCS2, reference_bits, 0)
    return len(cut_ucs2(text.encode("utf-16-be", "surrogatepass"), single, multi))
