"""Customer ledger accounts: opening them, their policies, top-ups and balance reads.

An engine account id becomes a ledger customer with `open_account`: an 'available' and a 'reserved'
sub-account in the account's currency, plus the currency's system 'revenue' and 'topup' accounts on first
use. Policies (credit limit, low-balance threshold, refund of undeliverable messages) are set here; money
only moves through postings (top-ups here, message postings in `billing.postings`). This module must never
change a cached balance except through `PostingArrays.insert`, which moves it by what it posts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from billing.arithmetic import crossed_below
from billing.db import PostingArrays, lock_ledger_accounts, transaction
from billing.model import (
    AccountBalance,
    CreditLimitError,
    CurrencyMismatch,
    PostingKind,
    TopUpResult,
    UnknownAccount,
)

if TYPE_CHECKING:
    from billing.db import Connection

REVENUE_STRIPES = 16
"""Revenue rows per currency; a customer's captures credit stripe account_id % 16, revenue is their sum."""

_ENSURE_LEDGER_ACCOUNTS = """
INSERT INTO billing_ledger_accounts (owner, kind, currency, stripe, floor)
SELECT NULL::bigint, 'revenue', $1::char(3), stripe::smallint, NULL::bigint
FROM generate_series(0, $4::integer - 1) AS stripe
UNION ALL
VALUES (NULL, 'topup', $1, 0, NULL), ($2::bigint, 'available', $1, 0, -$3::bigint), ($2, 'reserved', $1, 0, 0)
ON CONFLICT ON CONSTRAINT billing_ledger_accounts_key DO NOTHING
"""

_INSERT_CUSTOMER = """
INSERT INTO billing_customers
    (account_id, currency, available_id, reserved_id, revenue_id, topup_id,
     low_threshold, refund_undeliverable)
SELECT $2, $1,
    max(id) FILTER (WHERE owner = $2 AND kind = 'available'),
    max(id) FILTER (WHERE owner = $2 AND kind = 'reserved'),
    max(id) FILTER (WHERE owner IS NULL AND kind = 'revenue' AND stripe = $2 % $5),
    max(id) FILTER (WHERE owner IS NULL AND kind = 'topup'),
    $3, $4
FROM billing_ledger_accounts
WHERE currency = $1 AND (owner = $2 OR owner IS NULL)
ON CONFLICT (account_id) DO NOTHING
"""

_SELECT_BALANCES = """
SELECT c.account_id, c.currency, a.balance AS available, r.balance AS reserved, -a.floor AS credit_limit,
       c.low_threshold, c.refund_undeliverable
FROM billing_customers c
JOIN billing_ledger_accounts a ON a.id = c.available_id
JOIN billing_ledger_accounts r ON r.id = c.reserved_id
WHERE c.account_id = ANY($1::bigint[])
ORDER BY c.account_id
"""


def _currency(code: str) -> str:
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError(f"currency must be a 3-letter ISO 4217 code, got {code!r}")
    return code.upper()


async def open_account(
    conn: Connection,
    account_id: int,
    currency: str,
    *,
    credit_limit: int = 0,
    low_threshold: int | None = None,
    refund_undeliverable: bool = False,
) -> AccountBalance:
    """Create the ledger customer for an engine account (idempotent: an open account is returned as is)."""
    currency = _currency(currency)
    if credit_limit < 0:
        raise ValueError("credit_limit must not be negative")
    async with transaction(conn):
        existing = await conn.fetchval(
            "SELECT currency FROM billing_customers WHERE account_id = $1", account_id
        )
        if existing is not None and existing != currency:
            raise CurrencyMismatch(f"account {account_id} is held in {existing}, not {currency}")
        if existing is None:
            await conn.execute(_ENSURE_LEDGER_ACCOUNTS, currency, account_id, credit_limit, REVENUE_STRIPES)
            await conn.execute(
                _INSERT_CUSTOMER, currency, account_id, low_threshold, refund_undeliverable, REVENUE_STRIPES
            )
        return await balance(conn, account_id)


async def balances(conn: Connection, account_ids: Sequence[int]) -> list[AccountBalance]:
    """Current balances and policies of the given accounts (unknown ids are left out), by account id."""
    rows = await conn.fetch(_SELECT_BALANCES, list(account_ids))
    return [
        AccountBalance(
            account_id=row["account_id"],
            currency=row["currency"],
            available=row["available"],
            reserved=row["reserved"],
            credit_limit=row["credit_limit"],
            low_threshold=row["low_threshold"],
            refund_undeliverable=row["refund_undeliverable"],
        )
        for row in rows
    ]


async def balance(conn: Connection, account_id: int) -> AccountBalance:
    found = await balances(conn, [account_id])
    if not found:
        raise UnknownAccount(f"no ledger account for account {account_id}")
    return found[0]


async def set_credit_limit(conn: Connection, account_id: int, credit_limit: int) -> AccountBalance:
    """Allow available down to -credit_limit; refused if the account already owes more than that."""
    if credit_limit < 0:
        raise ValueError("credit_limit must not be negative")
    async with transaction(conn):
        available_id = await _ledger_id(conn, account_id, "available_id")
        current = (await lock_ledger_accounts(conn, {available_id}))[available_id]
        if current < -credit_limit:
            raise CreditLimitError(
                f"account {account_id} has {current} available, below the new limit of -{credit_limit}"
            )
        await conn.execute(
            "UPDATE billing_ledger_accounts SET floor = $2 WHERE id = $1", available_id, -credit_limit
        )
        return await balance(conn, account_id)


async def set_policy(
    conn: Connection,
    account_id: int,
    *,
    low_threshold: int | None,
    refund_undeliverable: bool,
) -> AccountBalance:
    """Set the low-balance threshold (None: no alert) and whether undeliverable messages are refunded."""
    async with transaction(conn):
        status = await conn.execute(
            "UPDATE billing_customers SET low_threshold = $2, refund_undeliverable = $3"
            " WHERE account_id = $1",
            account_id,
            low_threshold,
            refund_undeliverable,
        )
        if status.endswith(" 0"):
            raise UnknownAccount(f"no ledger account for account {account_id}")
        return await balance(conn, account_id)


async def top_up(conn: Connection, account_id: int, amount: int, key: str) -> TopUpResult:
    """Credit `amount` from the currency's top-up source to the account, once per `key`."""
    if amount <= 0:
        raise ValueError("a top-up amount must be positive")
    async with transaction(conn):
        row = await conn.fetchrow(
            "SELECT currency, available_id, topup_id, low_threshold FROM billing_customers"
            " WHERE account_id = $1",
            account_id,
        )
        if row is None:
            raise UnknownAccount(f"no ledger account for account {account_id}")
        locked = await lock_ledger_accounts(conn, {row["available_id"], row["topup_id"]})
        before = locked[row["available_id"]]
        postings = PostingArrays()
        postings.add(
            key, PostingKind.TOPUP, account_id, row["topup_id"], row["available_id"], amount, row["currency"]
        )
        applied = bool(await postings.insert(conn))
        after = before + amount if applied else before
        cleared = applied and crossed_below(after, before, row["low_threshold"])
        return TopUpResult(applied=applied, available=after, low_balance_cleared=cleared)


async def system_balances(conn: Connection, currency: str) -> dict[str, int]:
    """Revenue (all stripes) and top-up source balances of a currency; the source is negative."""
    rows = await conn.fetch(
        "SELECT kind, sum(balance) AS balance FROM billing_ledger_accounts"
        " WHERE owner IS NULL AND currency = $1 GROUP BY kind",
        _currency(currency),
    )
    found = {row["kind"]: int(row["balance"]) for row in rows}
    return {"revenue": found.get("revenue", 0), "topup": found.get("topup", 0)}


async def _ledger_id(conn: Connection, account_id: int, column: str) -> int:
    # `column` is one of our own literal column names, never caller input.
    found: int | None = await conn.fetchval(
        f"SELECT {column} FROM billing_customers WHERE account_id = $1", account_id
    )
    if found is None:
        raise UnknownAccount(f"no ledger account for account {account_id}")
    return found
