"""Money for items held elsewhere: one posting per group of items per batch, not one per item.

The engine keeps each message's (or social job's) own amount and money state on its own row; the ledger
moves the money of a whole commit batch at once, one balanced posting per (kind, account, country, carrier)
group, keyed by the batch so that a batch replayed after a crash posts nothing twice:

    outcome = await hold_items(conn, batch, [ItemHold(account, amount, segments, country, carrier), ...])
    ...the caller writes the accepted items with reserve_batch = batch...
    await settle_items(conn, batch, [ItemSettle(PostingKind.CAPTURE, account, amount, ...), ...])

`hold_items` decides which items fit (the pure `decide_holds` over the accounts' locked balances, in
order: a message too dear for what is left is refused, cheaper ones after it may still fit) and posts
what was accepted. `settle_items` posts captures, releases and refunds the caller has already applied to
its rows (the caller's UPDATE of its rows, conditioned on their money state, is what makes a message
charged at most once). `check_ledger(items=...)` proves afterwards that every posting equals the sum of
the items that name its batch, and every reserved balance the sum of the items still held.

Both run in the caller's transaction: the items and their money commit together. This module must never
decide an item's state (that is the caller's row) nor move money without a posting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import msgspec

from billing.arithmetic import LEGS, Funds, crossed_below
from billing.db import transaction
from billing.model import LowBalance, PostingKind, ReserveOutcome

if TYPE_CHECKING:
    from billing.db import Connection

_K = TypeVar("_K", bound=tuple[object, ...])  # a group key: (account, country, carrier), kind first to settle


class ItemHold(msgspec.Struct, frozen=True, gc=False):
    """One item to reserve: what it costs its account, and the dimensions usage is reported by."""

    account_id: int
    amount: int
    segments: int = 1
    country: str = ""
    carrier: str = ""


class ItemSettle(msgspec.Struct, frozen=True, gc=False):
    """One item's capture, release or refund, already applied to the caller's row."""

    kind: PostingKind
    account_id: int
    amount: int
    segments: int = 1
    country: str = ""
    carrier: str = ""
    cost: int = 0  # what the carrier charges (captures): margin = amount - cost


class HoldResult(msgspec.Struct, frozen=True):
    outcomes: list[ReserveOutcome]  # one per item, in order: ACCEPTED, INSUFFICIENT or UNKNOWN_ACCOUNT
    low_balance: list[LowBalance]


class Legs(msgspec.Struct, frozen=True, gc=False):
    """A customer's ledger accounts. They never change once it is opened (billing/accounts.py writes
    them once), so a caller settling many batches against one database may keep them (`legs` below)."""

    currency: str
    available_id: int
    reserved_id: int
    revenue_id: int

    def of(self, kind: str) -> int:
        return {"available": self.available_id, "reserved": self.reserved_id, "revenue": self.revenue_id}[
            kind
        ]


class _Group(msgspec.Struct, gc=False):
    amount: int = 0
    segments: int = 0
    cost: int = 0
    items: int = 0


def posting_key(batch: int, account_id: int, country: str, carrier: str) -> str:
    """The idempotency key of a batch's posting for one group (the same for every kind)."""
    return f"{batch:x}:{account_id}:{country}:{carrier}"


def decide_holds(funds: Mapping[int, Funds], items: Sequence[ItemHold]) -> HoldResult:
    """Accept each item, in order, that keeps its account's available >= -credit_limit.

    `funds` is updated in place with the balances after the accepted items (the caller holds the locks).
    """
    start = {account_id: f.available for account_id, f in funds.items()}
    outcomes: list[ReserveOutcome] = []
    for item in items:
        if item.amount < 0:
            raise ValueError(f"an item's amount must not be negative: {item!r}")
        account = funds.get(item.account_id)
        if account is None:
            outcomes.append(ReserveOutcome.UNKNOWN_ACCOUNT)
        elif account.available - item.amount < -account.credit_limit:
            outcomes.append(ReserveOutcome.INSUFFICIENT)
        else:
            account.available -= item.amount
            outcomes.append(ReserveOutcome.ACCEPTED)
    low = [
        LowBalance(account_id, f.currency, f.available, f.low_threshold)
        for account_id, f in sorted(funds.items())
        if f.low_threshold is not None and crossed_below(start[account_id], f.available, f.low_threshold)
    ]
    return HoldResult(outcomes, low)


_LOCK_FUNDS = """
WITH c AS MATERIALIZED (
    SELECT account_id, currency, available_id, reserved_id, low_threshold
    FROM billing_customers WHERE account_id = ANY($1::bigint[])
), l AS MATERIALIZED (
    SELECT id, balance, floor FROM billing_ledger_accounts
    WHERE id IN (SELECT available_id FROM c UNION ALL SELECT reserved_id FROM c)
    ORDER BY id FOR UPDATE
)
SELECT c.account_id, c.currency, c.available_id, c.reserved_id, c.low_threshold,
       l.balance AS available, -l.floor AS credit_limit
FROM c JOIN l ON l.id = c.available_id
"""

_CUSTOMERS = """
SELECT account_id, currency, available_id, reserved_id, revenue_id
FROM billing_customers WHERE account_id = ANY($1::bigint[])
"""


# One posting per group; the cached balances move by exactly what was inserted (a replayed batch inserts
# nothing, so moves nothing). The rows are locked in id order before this runs (holds), or by $2 here
# (settlements): an uncorrelated EXISTS is a one-time filter, evaluated before the UPDATE takes any row.
_POST = """
WITH inserted AS (
    INSERT INTO billing_postings (key, kind, account_id, debit_id, credit_id, amount, currency, country,
                                  carrier, segments, cost, items)
    SELECT key, kind, account_id, debit_id, credit_id, amount, currency, nullif(country, ''),
           nullif(carrier, ''), segments, cost, items
    FROM json_to_recordset($1::json) AS t(key text, kind text, account_id bigint, debit_id bigint,
        credit_id bigint, amount bigint, currency text, country text, carrier text, segments integer,
        cost bigint, items integer)
    ON CONFLICT (kind, key) DO NOTHING
    RETURNING debit_id, credit_id, amount
), deltas AS (
    SELECT id, sum(delta) AS delta FROM (
        SELECT debit_id AS id, -amount AS delta FROM inserted
        UNION ALL
        SELECT credit_id AS id, amount AS delta FROM inserted
    ) legs GROUP BY id
)
UPDATE billing_ledger_accounts a SET balance = a.balance + d.delta FROM deltas d WHERE a.id = d.id
"""
_POST_LOCKED = _POST.replace(
    "WITH inserted AS (",
    """WITH locked AS MATERIALIZED (
    SELECT id FROM billing_ledger_accounts WHERE id = ANY($2::bigint[]) ORDER BY id FOR UPDATE
), inserted AS (""",
).replace("WHERE a.id = d.id", "WHERE a.id = d.id AND EXISTS (SELECT 1 FROM locked)")

_ENCODER = msgspec.json.Encoder()


class _Posting(msgspec.Struct, gc=False):
    key: str
    kind: str
    account_id: int
    debit_id: int
    credit_id: int
    amount: int
    currency: str
    country: str
    carrier: str
    segments: int
    cost: int | None
    items: int


async def hold_items(conn: Connection, batch: int, items: Sequence[ItemHold]) -> HoldResult:
    """Reserve each item's amount that fits; one RESERVE posting per group of accepted items."""
    if not items:
        return HoldResult([], [])
    async with transaction(conn):
        rows = await conn.fetch(_LOCK_FUNDS, sorted({i.account_id for i in items}))
        funds = {
            r["account_id"]: Funds(r["currency"], r["available"], r["credit_limit"], r["low_threshold"])
            for r in rows
        }
        legs = {r["account_id"]: (r["available_id"], r["reserved_id"], r["currency"]) for r in rows}
        decision = decide_holds(funds, items)
        groups: dict[tuple[int, str, str], _Group] = {}
        for item, outcome in zip(items, decision.outcomes, strict=True):
            if outcome is ReserveOutcome.ACCEPTED:
                _add(groups, (item.account_id, item.country, item.carrier), item.amount, item.segments, 0)
        postings = [
            _Posting(posting_key(batch, a, country, carrier), PostingKind.RESERVE.value, a, legs[a][0],
                     legs[a][1], g.amount, legs[a][2], country, carrier, g.segments, None, g.items)
            for (a, country, carrier), g in groups.items()
        ]  # fmt: skip
        if postings:  # the funds rows are locked already, in id order
            await conn.execute(_POST, _ENCODER.encode(postings).decode())
    return decision


async def settle_items(
    conn: Connection,
    batch: int,
    settlements: Sequence[ItemSettle],
    *,
    legs: dict[int, Legs] | None = None,
) -> None:
    """Post the captures, releases and refunds of one batch, one posting per (kind, group).

    `legs`: the caller's cache of customers' ledger accounts for this database (read when missing)."""
    if not settlements:
        return
    groups: dict[tuple[PostingKind, int, str, str], _Group] = {}
    for s in settlements:
        if s.kind not in (PostingKind.CAPTURE, PostingKind.RELEASE, PostingKind.REFUND):
            raise ValueError(f"not a settlement: {s.kind}")
        _add(groups, (s.kind, s.account_id, s.country, s.carrier), s.amount, s.segments, s.cost)
    async with transaction(conn):
        customers = legs if legs is not None else {}
        missing = sorted({key[1] for key in groups} - customers.keys())
        for r in await conn.fetch(_CUSTOMERS, missing) if missing else []:
            customers[r["account_id"]] = Legs(
                r["currency"], r["available_id"], r["reserved_id"], r["revenue_id"]
            )
        postings = []
        for (kind, account, country, carrier), g in groups.items():
            customer = customers[account]
            debit, credit = LEGS[kind]
            postings.append(
                _Posting(posting_key(batch, account, country, carrier), kind.value, account,
                         customer.of(debit), customer.of(credit), g.amount, customer.currency, country,
                         carrier, g.segments, g.cost if kind is PostingKind.CAPTURE else None, g.items)
            )  # fmt: skip
        ids = sorted({p.debit_id for p in postings} | {p.credit_id for p in postings})
        await conn.execute(_POST_LOCKED, _ENCODER.encode(postings).decode(), ids)


async def refund_policies(conn: Connection, accounts: Sequence[int]) -> dict[int, bool]:
    """Whether each account is refunded for undeliverable messages (its policy in the ledger)."""
    rows = await conn.fetch(
        "SELECT account_id, refund_undeliverable FROM billing_customers WHERE account_id = ANY($1::bigint[])",
        list(accounts),
    )
    return {r["account_id"]: r["refund_undeliverable"] for r in rows}


def _add(groups: dict[_K, _Group], key: _K, amount: int, segments: int, cost: int) -> None:
    group = groups.get(key)
    if group is None:
        group = groups[key] = _Group()
    group.amount += amount
    group.segments += segments
    group.cost += cost
    group.items += 1
