"""Reconciliation finds every kind of mismatch it claims to check, and says what it checked."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg

from billing import Capture, Reservation, capture_batch, check_ledger, format_report, reserve_batch
from tests.billing.conftest import funded

Conn: TypeAlias = "asyncpg.Connection[Any]"


async def test_a_clean_ledger_reports_ok_and_what_was_checked(conn: Conn) -> None:
    await funded(conn, 1, 1000)
    await reserve_batch(conn, [Reservation("m", 1, 100)])
    await capture_batch(conn, [Capture("m")])
    report = await check_ledger(conn)
    assert report.ok
    assert (report.accounts_checked, report.postings_checked, report.reservations_checked) == (19, 3, 1)
    text = format_report(report)
    assert "19 ledger accounts, 3 postings, 1 reservations" in text  # 16 revenue stripes
    assert "ok   journal balanced in EUR" in text
    assert "skip open reservations against pending messages" in text
    assert text.endswith("ledger OK")


async def test_an_empty_ledger_is_ok(conn: Conn) -> None:
    assert (await check_ledger(conn)).ok


async def test_a_cached_balance_that_disagrees_with_its_postings_is_reported(conn: Conn) -> None:
    await funded(conn, 1, 1000)
    await conn.execute("UPDATE billing_ledger_accounts SET balance = balance + 5 WHERE kind = 'available'")
    report = await check_ledger(conn)
    assert not report.ok
    [mismatch] = report.balance_mismatches
    assert (mismatch.owner, mismatch.kind, mismatch.cached, mismatch.posted) == (1, "available", 1005, 1000)
    assert [(t.currency, t.cached, t.posted) for t in report.currency_totals] == [("EUR", 5, 0)]
    assert "FAIL cached balances equal the sum of their postings (1 mismatches)" in format_report(report)


async def test_reserved_money_without_open_reservations_is_reported(conn: Conn) -> None:
    await funded(conn, 1, 1000)
    await reserve_batch(conn, [Reservation("m", 1, 100)])
    await conn.execute("UPDATE billing_reservations SET state = 'released'")
    report = await check_ledger(conn)
    [mismatch] = report.reserved_mismatches
    assert (mismatch.account_id, mismatch.reserved, mismatch.open_reservations) == (1, 100, 0)
    assert report.state_mismatches == ["m"]  # released, yet no release posting


async def test_postings_across_currencies_and_to_missing_accounts_are_reported(conn: Conn) -> None:
    await funded(conn, 1, 1000)
    await conn.execute("UPDATE billing_postings SET currency = 'USD'")
    await conn.execute(
        "INSERT INTO billing_postings (key, kind, account_id, debit_id, credit_id, amount, currency)"
        " VALUES ('ghost', 'topup', 1, 999, 998, 5, 'EUR')"
    )
    report = await check_ledger(conn)
    assert len(report.cross_currency_postings) == 1
    assert {m.ledger_account_id for m in report.balance_mismatches if m.kind is None} == {998, 999}
