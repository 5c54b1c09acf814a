"""A hypothesis state machine drives reserve/capture/release/refund/top-up against real PostgreSQL.

After every step the database must agree with a plain-Python model of the money, every account must sit
at or above its credit limit, and `check_ledger` must find every cached balance equal to its postings.
One database serves all examples; each example works on account ids and message refs of its own.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import asyncpg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from billing import (
    Capture,
    Reservation,
    ReserveOutcome,
    SettleOutcome,
    balances,
    capture_batch,
    check_ledger,
    format_report,
    open_account,
    refund_batch,
    release_batch,
    reserve_batch,
    top_up,
)

_instances = itertools.count()
ACCOUNTS = 3
amounts = st.integers(min_value=0, max_value=5_000)


def ledger_machine(database_url: str) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.instance = next(_instances)
            self.runner = asyncio.Runner()
            self.conn: asyncpg.Connection[Any] = self.runner.run(asyncpg.connect(database_url))
            self.ids = [self.instance * ACCOUNTS + n + 1 for n in range(ACCOUNTS)]
            self.available = dict.fromkeys(self.ids, 0)
            self.reserved = dict.fromkeys(self.ids, 0)
            self.limit: dict[int, int] = {}
            self.refunds: dict[int, bool] = {}
            self.reservations: dict[str, tuple[int, int, str]] = {}  # ref -> (account, amount, state)
            self.topup_keys: set[str] = set()
            self.refs = itertools.count()

        def run(self, coro: Any) -> Any:
            return self.runner.run(coro)

        def teardown(self) -> None:
            self.run(self.conn.close())
            self.runner.close()

        @initialize(
            limits=st.lists(st.integers(0, 3_000), min_size=ACCOUNTS, max_size=ACCOUNTS),
            refunds=st.lists(st.booleans(), min_size=ACCOUNTS, max_size=ACCOUNTS),
        )
        def open_accounts(self, limits: list[int], refunds: list[bool]) -> None:
            for account, limit, refund in zip(self.ids, limits, refunds, strict=True):
                self.run(
                    open_account(self.conn, account, "EUR", credit_limit=limit, refund_undeliverable=refund)
                )
                self.limit[account] = limit
                self.refunds[account] = refund

        @rule(n=st.integers(0, ACCOUNTS - 1), amount=st.integers(1, 20_000), key=st.sampled_from("abcd"))
        def top_up(self, n: int, amount: int, key: str) -> None:
            account = self.ids[n]
            result = self.run(top_up(self.conn, account, amount, key=f"{self.instance}-{key}"))
            assert result.applied == (key not in self.topup_keys)
            if result.applied:
                self.topup_keys.add(key)
                self.available[account] += amount

        @rule(
            items=st.lists(st.tuples(st.integers(0, ACCOUNTS - 1), amounts), max_size=8), replay=st.booleans()
        )
        def reserve(self, items: list[tuple[int, int]], replay: bool) -> None:
            requests = [Reservation(f"{self.instance}-m{next(self.refs)}", self.ids[n], a) for n, a in items]
            if replay and self.reservations:
                ref = next(iter(self.reservations))
                requests.append(Reservation(ref, self.reservations[ref][0], self.reservations[ref][1]))
            result = self.run(reserve_batch(self.conn, requests))
            for request, item in zip(requests, result.results, strict=True):
                if request.message_ref in self.reservations:
                    assert item.outcome is ReserveOutcome.DUPLICATE
                    continue
                account = request.account_id
                fits = self.available[account] - request.amount >= -self.limit[account]
                assert item.outcome is (ReserveOutcome.ACCEPTED if fits else ReserveOutcome.INSUFFICIENT)
                if fits:
                    self.available[account] -= request.amount
                    self.reserved[account] += request.amount
                    self.reservations[request.message_ref] = (account, request.amount, "open")

        def _pick(self, data: st.DataObject) -> list[str]:
            refs = [*sorted(self.reservations), "nowhere"]
            return data.draw(st.lists(st.sampled_from(refs), max_size=6))

        @rule(data=st.data())
        def capture(self, data: st.DataObject) -> None:
            refs = self._pick(data)
            result = self.run(capture_batch(self.conn, [Capture(ref, cost=7) for ref in refs]))
            self._settle(result.results, "open", "captured")

        @rule(data=st.data())
        def release(self, data: st.DataObject) -> None:
            result = self.run(release_batch(self.conn, self._pick(data)))
            self._settle(result.results, "open", "released")

        @rule(data=st.data(), force=st.booleans())
        def refund(self, data: st.DataObject, force: bool) -> None:
            result = self.run(refund_batch(self.conn, self._pick(data), force=force))
            self._settle(result.results, "captured", "refunded", force=force)

        def _settle(self, results: Any, source: str, target: str, *, force: bool = True) -> None:
            for item in results:
                if item.message_ref not in self.reservations:
                    assert item.outcome is SettleOutcome.NOT_FOUND
                    continue
                account, amount, state = self.reservations[item.message_ref]
                if state == target:
                    assert item.outcome is SettleOutcome.ALREADY
                elif state != source:
                    assert item.outcome is SettleOutcome.WRONG_STATE
                elif target == "refunded" and not (force or self.refunds[account]):
                    assert item.outcome is SettleOutcome.POLICY_OFF
                else:
                    assert item.outcome is SettleOutcome.APPLIED
                    self.reservations[item.message_ref] = (account, amount, target)
                    if source == "open":
                        self.reserved[account] -= amount
                    if target in ("released", "refunded"):
                        self.available[account] += amount

        @invariant()
        def balances_match_the_model_and_the_limits(self) -> None:
            if not self.limit:
                return
            found = self.run(balances(self.conn, self.ids))
            for b in found:
                assert (b.available, b.reserved) == (
                    self.available[b.account_id],
                    self.reserved[b.account_id],
                )
                assert b.available >= -b.credit_limit
                assert b.reserved >= 0

        @invariant()
        def ledger_reconciles(self) -> None:
            report = self.run(check_ledger(self.conn))
            assert report.ok, format_report(report)

    return LedgerMachine


def test_ledger_state_machine_keeps_balances_equal_to_postings(database_url: str) -> None:
    run_state_machine_as_test(
        ledger_machine(database_url),
        settings=settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
