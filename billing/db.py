"""The ledger's one boundary with asyncpg: whose transaction a call runs in, and which errors leak out.

Every storage function of the ledger takes a connection. When the caller (the engine's group commit) has
already begun a transaction on it, the ledger writes inside that transaction and never commits or rolls it
back: the caller's commit makes the message and its money durable together. On a connection with no
transaction, the ledger opens and commits its own. This module must never open connections or hold state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from billing.model import LedgerError

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


class LedgerConstraintError(LedgerError):
    """A database constraint refused a ledger write (a floor, a currency rule): a bug, never normal flow."""


@asynccontextmanager
async def transaction(conn: Connection) -> AsyncIterator[Connection]:
    """Run the body in the caller's transaction if there is one, else in a transaction of our own.

    A LedgerConstraintError raised in the caller's transaction leaves that transaction aborted (PostgreSQL
    refuses anything but a rollback after an error); in our own, it has been rolled back.
    """
    try:
        if conn.is_in_transaction():
            yield conn
        else:
            async with conn.transaction():
                yield conn
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise LedgerConstraintError(str(exc)) from exc


async def lock_ledger_accounts(conn: Connection, ids: set[int]) -> dict[int, int]:
    """Row-lock ledger accounts in id order and return their balances.

    Every writer locks the ledger rows it will touch this way before changing them, so two transactions
    meeting on the same rows always take them in the same order and never deadlock each other.
    """
    rows = await conn.fetch(
        "SELECT id, balance FROM billing_ledger_accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
        sorted(ids),
    )
    return {row["id"]: row["balance"] for row in rows}


# Apply postings given as arrays and move the cached balances by exactly what was inserted, in one
# statement: a posting that loses an idempotency race (ON CONFLICT) moves no balance. Parameters:
# $1 keys, $2 kinds, $3 account ids, $4 debit ids, $5 credit ids, $6 amounts, $7 currencies,
# $8 countries, $9 carriers, $10 segments, $11 costs. Returns the inserted (key, kind).
INSERT_POSTINGS = """
WITH inserted AS (
    INSERT INTO billing_postings
        (key, kind, account_id, debit_id, credit_id, amount, currency, country, carrier, segments, cost)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
                         $7::text[], $8::text[], $9::text[], $10::integer[], $11::bigint[])
    ON CONFLICT (kind, key) DO NOTHING
    RETURNING key, kind, debit_id, credit_id, amount
), deltas AS (
    SELECT id, sum(delta) AS delta FROM (
        SELECT debit_id AS id, -amount AS delta FROM inserted
        UNION ALL
        SELECT credit_id AS id, amount AS delta FROM inserted
    ) legs GROUP BY id
), moved AS (
    UPDATE billing_ledger_accounts a SET balance = a.balance + d.delta
    FROM deltas d WHERE a.id = d.id
)
SELECT key, kind FROM inserted
"""


class PostingArrays:
    """Column arrays for INSERT_POSTINGS, filled one posting at a time (cheaper than rows for unnest)."""

    __slots__ = (
        "account_ids",
        "amounts",
        "carriers",
        "costs",
        "countries",
        "credit_ids",
        "currencies",
        "debit_ids",
        "keys",
        "kinds",
        "segments",
    )

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.kinds: list[str] = []
        self.account_ids: list[int] = []
        self.debit_ids: list[int] = []
        self.credit_ids: list[int] = []
        self.amounts: list[int] = []
        self.currencies: list[str] = []
        self.countries: list[str | None] = []
        self.carriers: list[str | None] = []
        self.segments: list[int | None] = []
        self.costs: list[int | None] = []

    def add(
        self,
        key: str,
        kind: str,
        account_id: int,
        debit_id: int,
        credit_id: int,
        amount: int,
        currency: str,
        country: str | None = None,
        carrier: str | None = None,
        segments: int | None = None,
        cost: int | None = None,
    ) -> None:
        self.keys.append(key)
        self.kinds.append(kind)
        self.account_ids.append(account_id)
        self.debit_ids.append(debit_id)
        self.credit_ids.append(credit_id)
        self.amounts.append(amount)
        self.currencies.append(currency)
        self.countries.append(country)
        self.carriers.append(carrier)
        self.segments.append(segments)
        self.costs.append(cost)

    def __len__(self) -> int:
        return len(self.keys)

    async def insert(self, conn: Connection) -> set[tuple[str, str]]:
        """Insert the postings and move balances; return the (key, kind) actually inserted."""
        if not self.keys:
            return set()
        rows = await conn.fetch(
            INSERT_POSTINGS,
            self.keys,
            self.kinds,
            self.account_ids,
            self.debit_ids,
            self.credit_ids,
            self.amounts,
            self.currencies,
            self.countries,
            self.carriers,
            self.segments,
            self.costs,
        )
        return {(row["key"], row["kind"]) for row in rows}
