"""The prepaid micro-unit double-entry ledger.

Pure arithmetic in `billing.arithmetic` and `billing.money`; PostgreSQL storage (asyncpg) in
`billing.accounts`, `billing.postings`, `billing.history` and `billing.check`, each taking a connection
and running inside the caller's transaction when it has one. Depends on nothing else in smsengine.
"""

from __future__ import annotations

from billing.accounts import balance, balances, open_account, set_credit_limit, set_policy, top_up
from billing.check import LedgerReport, check_ledger, format_report
from billing.history import history, message_charge, usage
from billing.model import (
    AccountBalance,
    Capture,
    LedgerError,
    LowBalance,
    Reservation,
    ReserveOutcome,
    SettleOutcome,
)
from billing.money import format_amount, parse_amount
from billing.postings import capture_batch, refund_batch, release_batch, reserve_batch

__all__ = [
    "AccountBalance",
    "Capture",
    "LedgerError",
    "LedgerReport",
    "LowBalance",
    "Reservation",
    "ReserveOutcome",
    "SettleOutcome",
    "balance",
    "balances",
    "capture_batch",
    "check_ledger",
    "format_amount",
    "format_report",
    "history",
    "message_charge",
    "open_account",
    "parse_amount",
    "refund_batch",
    "release_batch",
    "reserve_batch",
    "set_credit_limit",
    "set_policy",
    "top_up",
    "usage",
]
