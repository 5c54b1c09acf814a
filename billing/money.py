"""Money as integer micro-units: parsing and formatting decimal amounts exactly.

One unit of an account's currency is 1,000,000 micro-units; every amount the ledger stores, adds or compares
is a Python int of micro-units. This module is the only place where decimal text or `Decimal` values meet
those integers, and it converts exactly or refuses (a seventh decimal place is an error, never rounded away
silently). It must never accept or produce a float: floats cannot hold 0.1 exactly, and a balance that drifts
by one micro-unit per message is a balance that cannot be reconciled.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MICRO_PER_UNIT = 1_000_000
"""Micro-units in one unit of currency."""

MAX_MICRO = 2**63 - 1
"""The largest amount a PostgreSQL bigint holds; anything larger is refused at the boundary."""

_DECIMAL_TEXT = re.compile(r"[+-]?(\d+)(?:\.(\d*))?|[+-]?\.(\d+)")


class AmountError(ValueError):
    """Text or a value that is not an exact amount of micro-units."""


def parse_amount(text: str) -> int:
    """`"12.345678"` -> 12_345_678 micro-units, exactly; at most six decimals, no exponent, no float."""
    stripped = text.strip()
    match = _DECIMAL_TEXT.fullmatch(stripped)
    if match is None:
        raise AmountError(f"not a decimal amount: {text!r}")
    whole = match.group(1) or "0"
    fraction = match.group(2) if match.group(1) is not None else match.group(3)
    fraction = fraction or ""
    if len(fraction) > 6:
        if fraction[6:].strip("0"):
            raise AmountError(f"more than six decimal places: {text!r}")
        fraction = fraction[:6]
    micro = int(whole) * MICRO_PER_UNIT + int(fraction.ljust(6, "0"))
    if stripped.startswith("-"):
        micro = -micro
    return _bounded(micro, text)


def from_decimal(value: Decimal) -> int:
    """A Decimal amount of units -> micro-units, exactly (refused if it has more than six decimals)."""
    if not isinstance(value, Decimal):  # a float passed here is the bug this module exists to stop
        raise AmountError(f"expected Decimal, got {type(value).__name__}")
    try:
        scaled = value.scaleb(6)
        micro = int(scaled)
    except (InvalidOperation, OverflowError, ValueError) as exc:
        raise AmountError(f"not a finite amount: {value!r}") from exc
    if scaled != micro:
        raise AmountError(f"more than six decimal places: {value!r}")
    return _bounded(micro, value)


def to_decimal(micro: int) -> Decimal:
    """Micro-units -> a Decimal amount of units with exactly six decimal places."""
    return Decimal(_checked_int(micro)).scaleb(-6)


def format_amount(micro: int, places: int = 2) -> str:
    """12_345_678 -> "12.345678"; trailing zeros trimmed down to `places` decimals (2 by default).

    Integer arithmetic only, so the text always reads back to the same micro-units with `parse_amount`.
    """
    micro = _checked_int(micro)
    if not 0 <= places <= 6:
        raise AmountError(f"places must be 0..6, got {places}")
    sign = "-" if micro < 0 else ""
    whole, fraction = divmod(abs(micro), MICRO_PER_UNIT)
    digits = f"{fraction:06d}".rstrip("0").ljust(places, "0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


# ISO 4217 currencies whose minor unit is not the cent; every other currency has two decimals.
_MINOR_EXPONENT = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
    "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def minor_exponent(currency: str) -> int:
    """Decimals of the currency's minor unit: 2 for GBP (pence), 0 for JPY, 3 for KWD."""
    return _MINOR_EXPONENT.get(currency.strip().upper(), 2)


def to_minor(micro: int, currency: str, *, round_up: bool) -> int:
    """Micro-units -> integer minor units (pence, cents), rounded up or down (towards +/- infinity).

    SMS prices are often fractions of a cent, so the caller says which way a fraction goes: a charge or an
    estimate rounds up (never understated), a balance rounds down (never more than can be spent).
    """
    step: int = 10 ** (6 - minor_exponent(currency))
    whole, rest = divmod(_checked_int(micro), step)
    return whole + 1 if round_up and rest else whole


def from_minor(minor: int, currency: str) -> int:
    """Integer minor units -> micro-units, exactly."""
    return _bounded(_checked_int(minor) * 10 ** (6 - minor_exponent(currency)), minor)


def price_for(unit_price: int, segments: int) -> int:
    """What a message costs: the per-segment price times the segment count, both integers."""
    if segments < 0:
        raise AmountError(f"segments must not be negative, got {segments}")
    return _bounded(_checked_int(unit_price) * segments, unit_price)


def _checked_int(micro: object) -> int:
    # bool is an int subclass; True micro-units is always a bug.
    if not isinstance(micro, int) or isinstance(micro, bool):
        raise AmountError(f"micro-units must be int, got {type(micro).__name__}")
    return micro


def _bounded(micro: int, source: object) -> int:
    if not -MAX_MICRO <= micro <= MAX_MICRO:
        raise AmountError(f"amount out of range: {source!r}")
    return micro
