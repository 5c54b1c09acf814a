"""The ledger's pure arithmetic: who may spend what, which settlements apply, what a posting moves."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.arithmetic import (
    LEGS,
    Funds,
    balance_deltas,
    crossed_below,
    customer_deltas,
    decide_reservations,
    decide_settlement,
)
from billing.model import PostingKind, Reservation, ReservationState, ReserveOutcome, SettleOutcome


def _funds(available: int, credit_limit: int = 0, threshold: int | None = None) -> Funds:
    return Funds("EUR", available, credit_limit, threshold)


def test_reservations_are_taken_greedily_in_order() -> None:
    funds = {1: _funds(100)}
    requests = [Reservation(f"m{i}", 1, amount) for i, amount in enumerate([60, 50, 40, 1])]
    decision = decide_reservations(funds, requests, [])
    assert decision.outcomes == [
        ReserveOutcome.ACCEPTED,
        ReserveOutcome.INSUFFICIENT,  # 40 left: too dear
        ReserveOutcome.ACCEPTED,  # but the cheaper one after it still fits
        ReserveOutcome.INSUFFICIENT,
    ]
    assert decision.accepted == [0, 2]
    assert funds[1].available == 0


def test_credit_limit_lets_available_go_negative_down_to_the_limit() -> None:
    funds = {1: _funds(10, credit_limit=50)}
    decision = decide_reservations(funds, [Reservation("a", 1, 60), Reservation("b", 1, 1)], [])
    assert decision.outcomes == [ReserveOutcome.ACCEPTED, ReserveOutcome.INSUFFICIENT]
    assert funds[1].available == -50


def test_duplicates_and_unknown_accounts_have_no_effect() -> None:
    funds = {1: _funds(100)}
    requests = [Reservation("old", 1, 10), Reservation("new", 1, 10), Reservation("new", 1, 10)]
    requests.append(Reservation("x", 2, 10))
    decision = decide_reservations(funds, requests, ["old"])
    assert decision.outcomes == [
        ReserveOutcome.DUPLICATE,
        ReserveOutcome.ACCEPTED,
        ReserveOutcome.DUPLICATE,
        ReserveOutcome.UNKNOWN_ACCOUNT,
    ]
    assert funds[1].available == 90
    assert [o.ok for o in decision.outcomes] == [True, True, True, False]


def test_low_balance_is_reported_once_when_the_threshold_is_crossed() -> None:
    funds = {1: _funds(100, threshold=50), 2: _funds(40, threshold=50)}
    requests = [Reservation("a", 1, 30), Reservation("b", 1, 30), Reservation("c", 1, 30)]
    requests.append(Reservation("d", 2, 10))  # already below: no new crossing
    decision = decide_reservations(funds, requests, [])
    assert [(e.account_id, e.available, e.threshold) for e in decision.low_balance] == [(1, 10, 50)]


def test_crossed_below_only_on_the_way_down() -> None:
    assert crossed_below(50, 49, 50)
    assert not crossed_below(49, 10, 50)
    assert not crossed_below(10, 60, 50)
    assert not crossed_below(100, 0, None)


@pytest.mark.parametrize(
    ("kind", "state", "policy"),
    list(
        itertools.product(
            [PostingKind.CAPTURE, PostingKind.RELEASE, PostingKind.REFUND],
            [None, *ReservationState],
            [True, False],
        )
    ),
)
def test_every_settlement_from_every_state_is_decided(
    kind: PostingKind, state: ReservationState | None, policy: bool
) -> None:
    expected_source = ReservationState.CAPTURED if kind is PostingKind.REFUND else ReservationState.OPEN
    target = {
        PostingKind.CAPTURE: ReservationState.CAPTURED,
        PostingKind.RELEASE: ReservationState.RELEASED,
        PostingKind.REFUND: ReservationState.REFUNDED,
    }[kind]
    outcome = decide_settlement(kind, state, refund_policy=policy)
    if state is None:
        assert outcome is SettleOutcome.NOT_FOUND
    elif state == target:
        assert outcome is SettleOutcome.ALREADY
    elif state != expected_source:
        assert outcome is SettleOutcome.WRONG_STATE
    elif kind is PostingKind.REFUND and not policy:
        assert outcome is SettleOutcome.POLICY_OFF
    else:
        assert outcome is SettleOutcome.APPLIED


def test_customer_deltas_follow_the_legs() -> None:
    assert customer_deltas(PostingKind.RESERVE, 7) == (-7, 7)
    assert customer_deltas(PostingKind.CAPTURE, 7) == (0, -7)
    assert customer_deltas(PostingKind.RELEASE, 7) == (7, -7)
    assert customer_deltas(PostingKind.REFUND, 7) == (7, 0)
    assert customer_deltas(PostingKind.TOPUP, 7) == (7, 0)
    assert set(LEGS) == set(PostingKind)


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 10**12)), max_size=50))
def test_balance_deltas_always_sum_to_zero(legs: list[tuple[int, int, int]]) -> None:
    assert sum(balance_deltas(legs).values()) == 0


@given(
    st.integers(0, 10**6),
    st.integers(0, 10**6),
    st.lists(st.integers(0, 10**5), max_size=40),
)
def test_no_decision_takes_available_below_the_credit_limit(
    available: int, credit_limit: int, amounts: list[int]
) -> None:
    funds = {1: _funds(available, credit_limit)}
    requests = [Reservation(f"m{i}", 1, a) for i, a in enumerate(amounts)]
    decision = decide_reservations(funds, requests, [])
    assert funds[1].available >= -credit_limit
    assert funds[1].available == available - sum(amounts[i] for i in decision.accepted)
