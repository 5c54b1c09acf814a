"""National language identifiers of 3GPP TS 23.038 6.2.1 / Annex A, and where each may be used.

A national shift table only helps if the handset knows it, and only the destination's country tells us
that; the engine passes the languages allowed for a destination (and enabled for the account) into the
encoding choice. This module must never decide by itself that a table is enabled: it only says which
languages a country's handsets are specified to understand.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from smpp.text.gsm_tables import LOCKING_SHIFT_TABLES, SINGLE_SHIFT_TABLES


class NationalLanguage(IntEnum):
    """National language identifier (TS 23.038 6.2.1): the value of UDH IEs 0x24 / 0x25 (TS 23.040)."""

    DEFAULT = 0
    TURKISH = 1
    SPANISH = 2  # single-shift table only
    PORTUGUESE = 3
    BENGALI = 4
    GUJARATI = 5
    HINDI = 6
    KANNADA = 7
    MALAYALAM = 8
    ORIYA = 9
    PUNJABI = 10
    TAMIL = 11
    TELUGU = 12
    URDU = 13


def has_locking_shift_table(language: int) -> bool:
    return language in LOCKING_SHIFT_TABLES


def has_single_shift_table(language: int) -> bool:
    return language in SINGLE_SHIFT_TABLES


_INDIAN: Final = frozenset(
    {
        NationalLanguage.BENGALI,
        NationalLanguage.GUJARATI,
        NationalLanguage.HINDI,
        NationalLanguage.KANNADA,
        NationalLanguage.MALAYALAM,
        NationalLanguage.ORIYA,
        NationalLanguage.PUNJABI,
        NationalLanguage.TAMIL,
        NationalLanguage.TELUGU,
        NationalLanguage.URDU,
    }
)

# ISO 3166-1 alpha-2 -> languages whose tables handsets sold there are expected to hold. Deliberately
# short: a table the handset lacks turns the message into garbage, so a country is added only when its
# networks are known to support it (account settings may still narrow this further).
LANGUAGES_BY_COUNTRY: Final[dict[str, frozenset[NationalLanguage]]] = {
    "TR": frozenset({NationalLanguage.TURKISH}),
    "CY": frozenset({NationalLanguage.TURKISH}),
    "ES": frozenset({NationalLanguage.SPANISH}),
    "PT": frozenset({NationalLanguage.PORTUGUESE}),
    "BR": frozenset({NationalLanguage.PORTUGUESE}),
    "IN": _INDIAN,
    "BD": frozenset({NationalLanguage.BENGALI}),
    "PK": frozenset({NationalLanguage.URDU}),
    "LK": frozenset({NationalLanguage.TAMIL}),
}


def national_languages_for_country(country: str) -> frozenset[NationalLanguage]:
    """Languages whose shift tables may be used towards `country` (ISO alpha-2); empty when none."""
    return LANGUAGES_BY_COUNTRY.get(country.upper(), frozenset())
