"""The ledger's arithmetic: which reservations fit, which settlements apply, what a posting moves.

Pure functions over integers and Structs, fast enough to run inside the engine's accept path and easy to
test exhaustively. The storage modules lock the rows, call these functions with what they read, and write
what they return; so every rule about money lives here once. This module must never do I/O, read a clock,
or touch a float.

Sign convention: a ledger account's balance is the sum of what was credited to it minus what was debited
from it, and every posting debits one account and credits another by the same amount, so the balances of
one currency always sum to zero. The top-up source goes negative as customers pay in; revenue goes positive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import msgspec

from billing.model import (
    LowBalance,
    PostingKind,
    Reservation,
    ReservationState,
    ReserveOutcome,
    SettleOutcome,
)

# Which sub-account each posting kind debits and credits.
LEGS: Mapping[PostingKind, tuple[str, str]] = {
    PostingKind.RESERVE: ("available", "reserved"),
    PostingKind.CAPTURE: ("reserved", "revenue"),
    PostingKind.RELEASE: ("reserved", "available"),
    PostingKind.REFUND: ("revenue", "available"),
    PostingKind.TOPUP: ("topup", "available"),
}

# The reservation state a settlement starts from and the one it leads to.
_SETTLE_FROM_TO: Mapping[PostingKind, tuple[ReservationState, ReservationState]] = {
    PostingKind.CAPTURE: (ReservationState.OPEN, ReservationState.CAPTURED),
    PostingKind.RELEASE: (ReservationState.OPEN, ReservationState.RELEASED),
    PostingKind.REFUND: (ReservationState.CAPTURED, ReservationState.REFUNDED),
}


class Funds(msgspec.Struct):
    """What the accept path needs to know about one customer, read under its row lock."""

    currency: str
    available: int
    credit_limit: int
    low_threshold: int | None


class ReserveDecision(msgspec.Struct, frozen=True):
    outcomes: list[ReserveOutcome]  # one per request, in request order
    accepted: list[int]  # indices of the requests to write
    low_balance: list[LowBalance]


def customer_deltas(kind: PostingKind, amount: int) -> tuple[int, int]:
    """(available, reserved) change of the customer a posting of `kind` concerns."""
    debit, credit = LEGS[kind]
    available = (amount if credit == "available" else 0) - (amount if debit == "available" else 0)
    reserved = (amount if credit == "reserved" else 0) - (amount if debit == "reserved" else 0)
    return available, reserved


def crossed_below(before: int, after: int, threshold: int | None) -> bool:
    """True when a balance goes from at-or-above `threshold` to below it (once per crossing)."""
    return threshold is not None and before >= threshold > after


def decide_reservations(
    funds: Mapping[int, Funds], requests: Sequence[Reservation], already_reserved: Iterable[str]
) -> ReserveDecision:
    """Take requests in order, accepting each one that keeps available >= -credit_limit.

    Greedy in request order: a message too dear for what is left is refused while cheaper ones after it may
    still fit, as if they had arrived one by one. `funds` is updated in place with the new available
    balances (the caller holds the row locks, so they are the truth until commit). A message ref seen
    before, or twice in the batch, is a DUPLICATE with no effect.
    """
    seen = set(already_reserved)
    outcomes: list[ReserveOutcome] = []
    accepted: list[int] = []
    start = {account_id: f.available for account_id, f in funds.items()}
    for index, request in enumerate(requests):
        if request.amount < 0:
            raise ValueError(f"reservation amount must not be negative: {request!r}")
        account = funds.get(request.account_id)
        if request.message_ref in seen:
            outcomes.append(ReserveOutcome.DUPLICATE)
        elif account is None:
            outcomes.append(ReserveOutcome.UNKNOWN_ACCOUNT)
        elif account.available - request.amount < -account.credit_limit:
            outcomes.append(ReserveOutcome.INSUFFICIENT)
        else:
            account.available -= request.amount
            seen.add(request.message_ref)
            outcomes.append(ReserveOutcome.ACCEPTED)
            accepted.append(index)
    low = [
        LowBalance(account_id, f.currency, f.available, f.low_threshold)
        for account_id, f in sorted(funds.items())
        if f.low_threshold is not None and crossed_below(start[account_id], f.available, f.low_threshold)
    ]
    return ReserveDecision(outcomes, accepted, low)


def decide_settlement(
    kind: PostingKind, state: ReservationState | None, *, refund_policy: bool = True
) -> SettleOutcome:
    """Whether a capture, release or refund applies to a reservation in `state` (None: no reservation)."""
    source, target = _SETTLE_FROM_TO[kind]
    if state is None:
        return SettleOutcome.NOT_FOUND
    if state == target:
        return SettleOutcome.ALREADY
    if state != source:
        return SettleOutcome.WRONG_STATE
    if kind is PostingKind.REFUND and not refund_policy:
        return SettleOutcome.POLICY_OFF
    return SettleOutcome.APPLIED


def settle_target(kind: PostingKind) -> ReservationState:
    return _SETTLE_FROM_TO[kind][1]


def balance_deltas(legs: Iterable[tuple[int, int, int]]) -> dict[int, int]:
    """Net change per ledger account for postings given as (debit account, credit account, amount)."""
    deltas: dict[int, int] = {}
    for debit, credit, amount in legs:
        deltas[debit] = deltas.get(debit, 0) - amount
        deltas[credit] = deltas.get(credit, 0) + amount
    return deltas
