"""Micro-unit parsing and formatting: exact both ways, never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money import (
    MAX_MICRO,
    AmountError,
    format_amount,
    from_decimal,
    parse_amount,
    price_for,
    to_decimal,
)


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("0", 0),
        ("1", 1_000_000),
        ("0.1", 100_000),
        ("12.345678", 12_345_678),
        ("-0.000001", -1),
        (".5", 500_000),
        ("3.", 3_000_000),
        ("+2.50", 2_500_000),
        ("1.2300000", 1_230_000),  # trailing zeros past six places are exact, so accepted
        (" 7.00 ", 7_000_000),
    ],
)
def test_parse_amount_is_exact(text: str, micro: int) -> None:
    assert parse_amount(text) == micro


@pytest.mark.parametrize("text", ["", "abc", "1e3", "0.0000001", "1,5", "--1", "nan", "inf", "1.2.3", "."])
def test_parse_amount_refuses_what_is_not_an_exact_amount(text: str) -> None:
    with pytest.raises(AmountError):
        parse_amount(text)


def test_parse_amount_refuses_what_a_bigint_cannot_hold() -> None:
    with pytest.raises(AmountError):
        parse_amount("9223372036855")


def test_format_amount_trims_to_the_requested_places() -> None:
    assert format_amount(12_345_678) == "12.345678"
    assert format_amount(2_500_000) == "2.50"
    assert format_amount(2_500_000, places=0) == "2.5"
    assert format_amount(3_000_000, places=0) == "3"
    assert format_amount(-1) == "-0.000001"


def test_floats_are_refused_everywhere() -> None:
    with pytest.raises(AmountError):
        from_decimal(0.1)  # type: ignore[arg-type]
    with pytest.raises(AmountError):
        format_amount(1.5)  # type: ignore[arg-type]
    with pytest.raises(AmountError):
        to_decimal(True)


def test_decimal_conversion_is_exact_or_refused() -> None:
    assert from_decimal(Decimal("0.07")) == 70_000
    assert to_decimal(70_000) == Decimal("0.070000")
    with pytest.raises(AmountError):
        from_decimal(Decimal("0.0000005"))
    with pytest.raises(AmountError):
        from_decimal(Decimal("NaN"))


def test_price_is_unit_price_times_segments() -> None:
    assert price_for(35_000, 3) == 105_000
    with pytest.raises(AmountError):
        price_for(35_000, -1)


@given(st.integers(min_value=-MAX_MICRO, max_value=MAX_MICRO), st.integers(min_value=0, max_value=6))
def test_format_then_parse_round_trips(micro: int, places: int) -> None:
    assert parse_amount(format_amount(micro, places)) == micro
    assert from_decimal(to_decimal(micro)) == micro
