"""The ledger's data: requests, per-item outcomes, events and account snapshots, as msgspec Structs.

Everything the engine hands to the ledger or gets back from it is declared here, so that the storage code
and the pure arithmetic agree on one vocabulary. Amounts are int micro-units (see `billing.money`); this
module must never hold a float amount or any I/O.

Errors (one tree, raised by the storage functions):

    LedgerError
    ├── UnknownAccount      the engine account has no ledger account yet (open_account first)
    ├── CurrencyMismatch    an account reopened in another currency
    ├── CreditLimitError    a credit limit lowered below what the account already owes
    └── InvalidCursor       a history cursor that this ledger did not hand out
"""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec


class LedgerError(Exception):
    """Base of every error the billing package raises."""


class UnknownAccount(LedgerError):
    pass


class CurrencyMismatch(LedgerError):
    pass


class CreditLimitError(LedgerError):
    pass


class InvalidCursor(LedgerError, ValueError):
    pass


class PostingKind(enum.StrEnum):
    """What a posting moves; the idempotency key is (key, kind), the key being the message ref."""

    RESERVE = "reserve"  # customer available -> customer reserved
    CAPTURE = "capture"  # customer reserved -> revenue
    RELEASE = "release"  # customer reserved -> customer available
    REFUND = "refund"  # revenue -> customer available
    TOPUP = "topup"  # top-up source -> customer available


class ReservationState(enum.StrEnum):
    OPEN = "open"
    CAPTURED = "captured"
    RELEASED = "released"
    REFUNDED = "refunded"


class ReserveOutcome(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # this message ref was reserved before: no new effect (accept it again)
    INSUFFICIENT = "insufficient"  # would take available below -credit_limit: refuse the message
    UNKNOWN_ACCOUNT = "unknown_account"

    @property
    def ok(self) -> bool:
        """Whether the engine may accept the message."""
        return self in (ReserveOutcome.ACCEPTED, ReserveOutcome.DUPLICATE)


class SettleOutcome(enum.StrEnum):
    APPLIED = "applied"
    ALREADY = "already"  # the reservation is already in the target state (a replay): no effect
    WRONG_STATE = "wrong_state"  # e.g. capture of a released reservation: no effect
    NOT_FOUND = "not_found"  # no reservation for this message ref
    POLICY_OFF = "policy_off"  # refund asked for an account that does not refund undeliverable messages


class Reservation(msgspec.Struct, frozen=True):
    """Reserve `amount` (price × segments) of `account_id`'s money for one message."""

    message_ref: str
    account_id: int
    amount: int
    segments: int | None = None
    country: str | None = None
    carrier: str | None = None


class Capture(msgspec.Struct, frozen=True):
    """The carrier accepted the message: charge the reservation; `cost` is what the carrier charges us."""

    message_ref: str
    cost: int | None = None
    carrier: str | None = None  # the carrier that took it, when failover changed it


class ReserveResult(msgspec.Struct, frozen=True):
    message_ref: str
    outcome: ReserveOutcome


class SettleResult(msgspec.Struct, frozen=True):
    message_ref: str
    outcome: SettleOutcome


class LowBalance(msgspec.Struct, frozen=True):
    """Available crossed from at-or-above the threshold to below it (emit a balance.low webhook)."""

    account_id: int
    currency: str
    available: int
    threshold: int


class ReserveBatchResult(msgspec.Struct, frozen=True):
    results: list[ReserveResult]  # one per request, in request order
    low_balance: list[LowBalance]


class SettleBatchResult(msgspec.Struct, frozen=True):
    results: list[SettleResult]  # one per request, in request order


class AccountBalance(msgspec.Struct, frozen=True):
    account_id: int
    currency: str
    available: int
    reserved: int
    credit_limit: int
    low_threshold: int | None
    refund_undeliverable: bool


class TopUpResult(msgspec.Struct, frozen=True):
    applied: bool  # False: this key was used before, nothing moved
    available: int
    low_balance_cleared: bool = False


class HistoryItem(msgspec.Struct, frozen=True):
    """One posting as the customer sees it: its effect on their available and reserved balances."""

    posting_id: int
    kind: PostingKind
    key: str  # the message ref, or the top-up key
    amount: int
    available_delta: int
    reserved_delta: int
    created_at: datetime
    country: str | None = None
    carrier: str | None = None
    segments: int | None = None
    cost: int | None = None


class HistoryPage(msgspec.Struct, frozen=True):
    items: list[HistoryItem]
    next_cursor: str | None  # None: no older postings


class UsageRow(msgspec.Struct, frozen=True):
    """Charges in one period (and country/carrier when grouped by them); refunds count negative."""

    period_start: datetime
    country: str | None
    carrier: str | None
    messages: int
    segments: int
    charged: int
    cost: int
    margin: int


class MessageCharge(msgspec.Struct, frozen=True):
    message_ref: str
    account_id: int
    state: ReservationState
    price: int  # what was reserved for it (unit price × segments)
    charged: int  # what the customer pays now: the price once captured, 0 if released or refunded
    cost: int | None  # what the carrier charges us, recorded with the capture
    margin: int | None  # charged - cost once the cost is known
