"""Rate card / price list CSV: exact micro-units, per-row error report, export round trip."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.model import TariffRow
from routing.tariff_csv import (
    EPOCH,
    RowError,
    TariffFormatError,
    format_micro,
    parse_micro,
    parse_tariff,
    write_tariff,
)


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("0.0123", 12_300),
        ("0", 0),
        ("1", 1_000_000),
        ("0.000001", 1),
        ("12.5", 12_500_000),
        (" 0.10 ", 100_000),
        ("0.1230000", 123_000),  # trailing zeros are exact
        ("1E-3", 1_000),
    ],
)
def test_parse_micro_is_exact(text: str, micro: int) -> None:
    assert parse_micro(text) == micro


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0.0000001", "more than 6 decimals"),
        ("-0.01", "negative"),
        ("abc", "not a decimal"),
        ("", "not a decimal"),
        ("NaN", "not a finite"),
        ("Infinity", "not a finite"),
        ("1e30", "too large"),
    ],
)
def test_parse_micro_refuses(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_micro(text)


@given(st.integers(0, 2**63 - 1))
def test_format_micro_round_trips(micro: int) -> None:
    assert parse_micro(format_micro(micro)) == micro


CARD = """prefix,cost,currency,effective_from
44,0.0123,EUR,2026-01-01
+4477,0.0100,eur,2026-02-01T12:00:00+01:00
33,0.00000001,EUR,2026-01-01
34,-1,EUR,2026-01-01
35,0.02,EURO,2026-01-01
36,0.02,EUR,yesterday
37x,0.02,EUR,2026-01-01
38,0.02,EUR
44,0.5,EUR,2026-01-01

39,0.02,EUR,
"""


def test_bad_rows_are_reported_and_good_rows_kept() -> None:
    parsed = parse_tariff(io.StringIO(CARD))
    assert [(r.prefix, r.amount_micro, r.currency) for r in parsed.rows] == [
        ("44", 12_300, "EUR"),
        ("4477", 10_000, "EUR"),
        ("39", 20_000, "EUR"),
    ]
    assert parsed.rows[1].effective_from == datetime(2026, 2, 1, 11, tzinfo=UTC)
    assert parsed.rows[2].effective_from == EPOCH  # empty: always effective
    assert [(e.row, e.field) for e in parsed.errors] == [
        (4, "cost"),
        (5, "cost"),
        (6, "currency"),
        (7, "effective_from"),
        (8, "prefix"),
        (9, "row"),
        (10, "prefix"),
    ]
    assert "more than 6 decimals" in parsed.errors[0].reason
    assert "duplicate of row 2" in parsed.errors[-1].reason
    assert str(parsed.errors[0]) == "row 4: cost: more than 6 decimals: '0.00000001'"


def test_card_currency_is_enforced_per_row() -> None:
    parsed = parse_tariff(
        io.StringIO("prefix,cost,currency,effective_from\n44,1,USD,\n33,1,EUR,\n"), currency="EUR"
    )
    assert [r.prefix for r in parsed.rows] == ["33"]
    assert parsed.errors == [
        RowError(row=2, field="currency", reason="USD differs from the card's currency EUR")
    ]


def test_mcc_mnc_column_is_optional_and_checked() -> None:
    text = "effective_from,currency,cost,prefix,mcc_mnc\n,EUR,0.01,,23415\n,EUR,0.01,44,2341\n,EUR,0.01,,\n"
    parsed = parse_tariff(io.StringIO(text))
    assert [(r.prefix, r.mcc_mnc) for r in parsed.rows] == [("", "23415")]
    assert [(e.row, e.field) for e in parsed.errors] == [(3, "mcc_mnc"), (4, "prefix")]


@pytest.mark.parametrize("text", ["", "prefix,cost\n44,1\n", "prefix,cost,currency,effective_from,rate\n"])
def test_a_bad_header_refuses_the_whole_file(text: str) -> None:
    with pytest.raises(TariffFormatError):
        parse_tariff(io.StringIO(text))


rows = st.lists(
    st.builds(
        TariffRow,
        prefix=st.text("0123456789", min_size=1, max_size=15),
        mcc_mnc=st.sampled_from(["", "23415", "310260"]),
        amount_micro=st.integers(0, 10**12),
        currency=st.sampled_from(["EUR", "USD"]),
        effective_from=st.integers(0, 10**6).map(lambda m: EPOCH + timedelta(minutes=m * 37)),
    ),
    max_size=20,
    unique_by=lambda r: (r.prefix, r.mcc_mnc, r.effective_from),
)


@given(rows)
def test_export_then_import_round_trips(original: list[TariffRow]) -> None:
    buffer = io.StringIO()
    assert write_tariff(original, buffer) == len(original)
    buffer.seek(0)
    parsed = parse_tariff(buffer)
    assert parsed.errors == []
    assert parsed.rows == original
