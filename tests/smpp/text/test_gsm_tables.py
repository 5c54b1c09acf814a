"""The shipped GSM 7-bit tables: identical to the spec, and every character of every table round-trips."""

from __future__ import annotations

from pathlib import Path

import gsmcodecs  # noqa: F401  (registers the codecs used as the independent oracle)
import pytest
from gsmcodecs.charmaps import GSMCHARMAPS

from smpp.text import decode_gsm7, encode_gsm7, gsm_tables, septet_count
from smpp.text.generate_gsm_tables import render
from smpp.text.gsm_tables import LOCKING_SHIFT_TABLES, SINGLE_SHIFT_TABLES
from tests.smpp.text.air_interface import (
    ORACLE_ERRATA,
    SPEC_DEFAULT_ALPHABET,
    SPEC_DEFAULT_EXTENSION,
    oracle_errata_characters,
)

UNDEFINED = "\ufffd"
PAIRS = [
    (locking, shift) for locking in sorted(LOCKING_SHIFT_TABLES) for shift in sorted(SINGLE_SHIFT_TABLES)
]


def test_shipped_tables_are_what_the_generator_writes_from_the_spec_source() -> None:
    assert Path(gsm_tables.__file__).read_text(encoding="ascii") == render()


def test_default_alphabet_matches_the_spec_table() -> None:
    for septet, char in enumerate(SPEC_DEFAULT_ALPHABET):
        if septet == 0x1B:
            continue
        assert encode_gsm7(char) == bytes((septet,)), f"0x{septet:02X} {char!r}"
        assert decode_gsm7(bytes((septet,))) == char


def test_default_extension_table_matches_the_spec_table() -> None:
    for septet, char in SPEC_DEFAULT_EXTENSION.items():
        assert encode_gsm7(char) == bytes((0x1B, septet))
        assert decode_gsm7(bytes((0x1B, septet))) == char
    defined = {septet for septet, char in enumerate(SINGLE_SHIFT_TABLES[0]) if char != UNDEFINED}
    assert defined - {0x1B} == set(SPEC_DEFAULT_EXTENSION)


@pytest.mark.parametrize(
    ("language", "table", "septet", "char"),
    [
        # Spot checks typed from TS 23.038 Annex A, independent of the generated data.
        (1, "locking", 0x04, "€"),
        (1, "locking", 0x07, "ı"),
        (1, "locking", 0x0B, "Ğ"),
        (1, "locking", 0x0C, "ğ"),
        (1, "locking", 0x1C, "Ş"),
        (1, "locking", 0x1D, "ş"),
        (1, "locking", 0x40, "İ"),
        (1, "locking", 0x60, "ç"),
        (1, "shift", 0x47, "Ğ"),
        (1, "shift", 0x49, "İ"),
        (1, "shift", 0x53, "Ş"),
        (1, "shift", 0x63, "ç"),
        (1, "shift", 0x67, "ğ"),
        (1, "shift", 0x69, "ı"),
        (1, "shift", 0x73, "ş"),
        (2, "shift", 0x09, "ç"),
        (2, "shift", 0x41, "Á"),
        (2, "shift", 0x49, "Í"),
        (2, "shift", 0x4F, "Ó"),
        (2, "shift", 0x55, "Ú"),
        (2, "shift", 0x61, "á"),
        (2, "shift", 0x65, "€"),
        (2, "shift", 0x69, "í"),
        (2, "shift", 0x6F, "ó"),
        (2, "shift", 0x75, "ú"),
    ],
)
def test_national_tables_hold_the_spec_characters(language: int, table: str, septet: int, char: str) -> None:
    tables = LOCKING_SHIFT_TABLES if table == "locking" else SINGLE_SHIFT_TABLES
    assert tables[language][septet] == char


def test_tables_match_the_gsmcodecs_oracle_position_by_position_except_its_errata() -> None:
    for language, maps in GSMCHARMAPS.items():
        for key, tables in (("locking", LOCKING_SHIFT_TABLES), ("singleShift", SINGLE_SHIFT_TABLES)):
            if key not in maps:
                assert language not in tables
                continue
            oracle = {septet: chr(code) for septet, code in maps[key]["decode"].items()}
            for (table, erratum_language, septet), (spec, said) in ORACLE_ERRATA.items():
                if (table, erratum_language) == (key, language):
                    assert oracle.get(septet) == (None if said is None else said)  # still wrong there
                    oracle[septet] = spec
            ours = {septet: char for septet, char in enumerate(tables[language]) if char != UNDEFINED}
            assert ours == oracle, (language, key)


@pytest.mark.parametrize(("locking", "shift"), PAIRS)
def test_every_character_of_every_table_round_trips(locking: int, shift: int) -> None:
    locking_chars = {char for septet, char in enumerate(LOCKING_SHIFT_TABLES[locking]) if septet != 0x1B}
    shift_chars = {char for septet, char in enumerate(SINGLE_SHIFT_TABLES[shift]) if septet != 0x1B}
    locking_chars.discard(UNDEFINED)
    shift_chars.discard(UNDEFINED)
    codec_name = f"gsm23.038_{locking}_{shift}"
    untrusted = oracle_errata_characters(locking, shift)
    for char in sorted(locking_chars | shift_chars):
        encoded = encode_gsm7(char, locking, shift)
        assert decode_gsm7(encoded, locking, shift) == char
        # In a sentence too: the neighbours must not change how it decodes.
        sentence = f"a{char}b{char}{char}"
        assert decode_gsm7(encode_gsm7(sentence, locking, shift), locking, shift) == sentence
        expected_septets = 1 if char in locking_chars else 2
        assert septet_count(char, locking, shift) == expected_septets
        if char in untrusted:
            continue
        # The oracle reads our octets as the same character, and we read its octets.
        assert encoded.decode(codec_name) == char
        assert decode_gsm7(char.encode(codec_name), locking, shift) == char


def test_indian_text_with_commas_stays_in_one_gsm7_segment() -> None:
    # The spec puts COMMA at 0x2C of every Indian locking-shift table (the oracle has an apostrophe).
    text = "नमस्ते, आपका कोड 4821 है, धन्यवाद"
    assert encode_gsm7(",", 6, 0) == b"\x2c"
    assert septet_count(text, 6, 0) == len(text)  # every character, digits too, is in the locking table


def test_telugu_single_shift_table_has_the_euro_sign() -> None:
    assert encode_gsm7("€", 0, 12) == b"\x1b\x65"
