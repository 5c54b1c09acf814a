"""Reserve, capture, release, refund and top-up against real PostgreSQL: batches, idempotency, policies."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
import pytest

from billing import (
    Capture,
    Reservation,
    ReserveOutcome,
    SettleOutcome,
    balance,
    capture_batch,
    check_ledger,
    open_account,
    refund_batch,
    release_batch,
    reserve_batch,
    set_credit_limit,
    set_policy,
    top_up,
)
from billing.accounts import system_balances
from billing.db import LedgerConstraintError, transaction
from billing.model import CreditLimitError, CurrencyMismatch, UnknownAccount
from tests.billing.conftest import funded

Conn: TypeAlias = "asyncpg.Connection[Any]"


async def _assert_clean(conn: Conn) -> None:
    report = await check_ledger(conn)
    assert report.ok, report


async def test_open_account_is_idempotent_and_keeps_its_currency(conn: Conn) -> None:
    first = await open_account(conn, 7, "eur", credit_limit=5)
    again = await open_account(conn, 7, "EUR", credit_limit=999)
    assert first == again
    assert (first.currency, first.available, first.reserved, first.credit_limit) == ("EUR", 0, 0, 5)
    with pytest.raises(CurrencyMismatch):
        await open_account(conn, 7, "USD")
    with pytest.raises(UnknownAccount):
        await balance(conn, 8)


async def test_top_up_applies_once_per_key(conn: Conn) -> None:
    await open_account(conn, 1, "EUR")
    first = await top_up(conn, 1, 1_000_000, key="invoice-1")
    second = await top_up(conn, 1, 1_000_000, key="invoice-1")
    assert (first.applied, first.available) == (True, 1_000_000)
    assert (second.applied, second.available) == (False, 1_000_000)
    assert (await balance(conn, 1)).available == 1_000_000
    await _assert_clean(conn)


async def test_batch_reserve_for_many_accounts_returns_one_outcome_per_item(conn: Conn) -> None:
    await funded(conn, 1, 100)
    await funded(conn, 2, 50)
    result = await reserve_batch(
        conn,
        [
            Reservation("a", 1, 60),
            Reservation("b", 2, 60),
            Reservation("c", 2, 50),
            Reservation("d", 1, 50),
            Reservation("e", 1, 40),
            Reservation("a", 1, 60),
            Reservation("f", 3, 1),
        ],
    )
    assert [(r.message_ref, r.outcome) for r in result.results] == [
        ("a", ReserveOutcome.ACCEPTED),
        ("b", ReserveOutcome.INSUFFICIENT),
        ("c", ReserveOutcome.ACCEPTED),
        ("d", ReserveOutcome.INSUFFICIENT),
        ("e", ReserveOutcome.ACCEPTED),
        ("a", ReserveOutcome.DUPLICATE),
        ("f", ReserveOutcome.UNKNOWN_ACCOUNT),
    ]
    one, two = await balance(conn, 1), await balance(conn, 2)
    assert (one.available, one.reserved, two.available, two.reserved) == (0, 100, 0, 50)
    await _assert_clean(conn)


async def test_the_same_reservation_twice_has_one_effect(conn: Conn) -> None:
    await funded(conn, 1, 100)
    first = await reserve_batch(conn, [Reservation("m1", 1, 30)])
    second = await reserve_batch(conn, [Reservation("m1", 1, 30)])
    assert first.results[0].outcome is ReserveOutcome.ACCEPTED
    assert second.results[0].outcome is ReserveOutcome.DUPLICATE
    assert (await balance(conn, 1)).available == 70
    assert await conn.fetchval("SELECT count(*) FROM billing_postings WHERE kind = 'reserve'") == 1


async def test_capture_release_and_refund_are_idempotent_and_follow_the_states(conn: Conn) -> None:
    await funded(conn, 1, 1000, refund_undeliverable=True)
    await reserve_batch(conn, [Reservation(f"m{i}", 1, 100) for i in range(4)])

    captured = await capture_batch(conn, [Capture("m0", cost=30), Capture("m1", cost=40), Capture("m0")])
    assert [r.outcome for r in captured.results] == [
        SettleOutcome.APPLIED,
        SettleOutcome.APPLIED,
        SettleOutcome.ALREADY,
    ]
    released = await release_batch(conn, ["m2", "m0", "zz"])
    assert [r.outcome for r in released.results] == [
        SettleOutcome.APPLIED,
        SettleOutcome.WRONG_STATE,
        SettleOutcome.NOT_FOUND,
    ]
    refunded = await refund_batch(conn, ["m1", "m2", "m3"])
    assert [r.outcome for r in refunded.results] == [
        SettleOutcome.APPLIED,
        SettleOutcome.WRONG_STATE,
        SettleOutcome.WRONG_STATE,
    ]
    replay = await capture_batch(conn, [Capture("m0", cost=30), Capture("m1")])
    assert [r.outcome for r in replay.results] == [SettleOutcome.ALREADY, SettleOutcome.WRONG_STATE]
    again = await refund_batch(conn, ["m1"])
    assert again.results[0].outcome is SettleOutcome.ALREADY

    after = await balance(conn, 1)
    # 1000 - 4 reserved + m1 refunded + m2 released; m3 still reserved; m0 charged.
    assert (after.available, after.reserved) == (800, 100)
    assert await system_balances(conn, "EUR") == {"revenue": 100, "topup": -1000}
    await _assert_clean(conn)


async def test_refund_needs_the_account_policy_unless_forced(conn: Conn) -> None:
    await funded(conn, 1, 1000)
    await reserve_batch(conn, [Reservation("m", 1, 100)])
    await capture_batch(conn, [Capture("m")])
    assert (await refund_batch(conn, ["m"])).results[0].outcome is SettleOutcome.POLICY_OFF
    await set_policy(conn, 1, low_threshold=None, refund_undeliverable=True)
    assert (await refund_batch(conn, ["m"])).results[0].outcome is SettleOutcome.APPLIED
    assert (await balance(conn, 1)).available == 1000

    await reserve_batch(conn, [Reservation("n", 1, 100)])
    await capture_batch(conn, [Capture("n")])
    await set_policy(conn, 1, low_threshold=None, refund_undeliverable=False)
    assert (await refund_batch(conn, ["n"], force=True)).results[0].outcome is SettleOutcome.APPLIED
    await _assert_clean(conn)


async def test_low_balance_event_comes_back_from_the_reserve_that_crossed_it(conn: Conn) -> None:
    await funded(conn, 1, 1000, low_threshold=500)
    quiet = await reserve_batch(conn, [Reservation("a", 1, 400)])
    crossing = await reserve_batch(conn, [Reservation("b", 1, 200)])
    below = await reserve_batch(conn, [Reservation("c", 1, 100)])
    assert quiet.low_balance == [] and below.low_balance == []
    [event] = crossing.low_balance
    assert (event.account_id, event.currency, event.available, event.threshold) == (1, "EUR", 400, 500)
    topped = await top_up(conn, 1, 1000, key="t2")
    assert topped.low_balance_cleared


async def test_credit_limit_is_enforced_and_cannot_be_lowered_below_the_debt(conn: Conn) -> None:
    await funded(conn, 1, 100, credit_limit=50)
    result = await reserve_batch(conn, [Reservation("a", 1, 120), Reservation("b", 1, 40)])
    assert [r.outcome for r in result.results] == [ReserveOutcome.ACCEPTED, ReserveOutcome.INSUFFICIENT]
    assert (await balance(conn, 1)).available == -20
    with pytest.raises(CreditLimitError):
        await set_credit_limit(conn, 1, 10)
    assert (await set_credit_limit(conn, 1, 20)).credit_limit == 20


async def test_the_database_refuses_an_overdraft_even_if_code_tries_one(conn: Conn) -> None:
    await funded(conn, 1, 100)
    available_id = await conn.fetchval("SELECT available_id FROM billing_customers WHERE account_id = 1")
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE billing_ledger_accounts SET balance = -1 WHERE id = $1", available_id)


async def test_constraint_violations_are_translated_to_ledger_errors(conn: Conn) -> None:
    await funded(conn, 1, 100)
    with pytest.raises(LedgerConstraintError):
        async with transaction(conn):
            await conn.execute(
                "INSERT INTO billing_reservations (message_ref, account_id, amount, state)"
                " VALUES ('x', 1, -1, 'open')"
            )
    await _assert_clean(conn)


async def test_in_a_caller_transaction_nothing_is_committed_until_the_caller_commits(
    conn: Conn, database_url: str
) -> None:
    await funded(conn, 1, 100)
    other: Conn = await asyncpg.connect(database_url)
    try:
        tx = conn.transaction()
        await tx.start()
        result = await reserve_batch(conn, [Reservation("m", 1, 60)])
        assert result.results[0].outcome is ReserveOutcome.ACCEPTED
        assert conn.is_in_transaction()
        assert (await balance(other, 1)).available == 100  # not visible outside yet
        await tx.rollback()
        assert (await balance(conn, 1)).available == 100
        assert await conn.fetchval("SELECT count(*) FROM billing_reservations") == 0
    finally:
        await other.close()
    await _assert_clean(conn)


async def test_a_negative_amount_is_refused_before_anything_is_written(conn: Conn) -> None:
    await funded(conn, 1, 100)
    async with conn.transaction():
        with pytest.raises(ValueError, match="negative"):
            await reserve_batch(conn, [Reservation("ok", 1, 10), Reservation("bad", 1, -10)])
        # the caller's transaction is still usable
        result = await reserve_batch(conn, [Reservation("ok", 1, 10)])
    assert result.results[0].outcome is ReserveOutcome.ACCEPTED
    assert (await balance(conn, 1)).available == 90
