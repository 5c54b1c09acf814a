"""Reconciliation: prove from the journal alone that the ledger's cached numbers are right.

`check_ledger` recomputes everything the write path caches and compares: each ledger account's balance
against the sum of its postings, each currency's journal against zero, each customer's reserved balance
against its open reservations, each reservation's state against the postings made for it, and (when the
engine says which messages are not final yet) open reservations against live messages. `format_report`
prints what was checked; `smsengine ledger check` exits non-zero unless `report.ok`. It reads one consistent
snapshot (REPEATABLE READ) when it owns the transaction. This module must never repair what it finds: a
mismatch is evidence, and fixing it silently would destroy it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, TypeAlias

import msgspec

if TYPE_CHECKING:
    from billing.db import Connection

    PendingSource: TypeAlias = str | Callable[[Connection], Awaitable[Iterable[str]]]

_LIST_LIMIT = 1000  # mismatches listed per kind; more than this and the ledger needs a human anyway

_COUNTS = """
SELECT (SELECT count(*) FROM billing_ledger_accounts) AS accounts,
       (SELECT count(*) FROM billing_postings) AS postings,
       (SELECT count(*) FROM billing_reservations) AS reservations
"""

_MOVES = """
moves AS (
    SELECT debit_id AS id, -amount AS delta FROM billing_postings
    UNION ALL
    SELECT credit_id AS id, amount AS delta FROM billing_postings
), posted AS (SELECT id, sum(delta) AS posted FROM moves GROUP BY id)
"""

_BALANCES = f"""
WITH {_MOVES}
SELECT coalesce(a.id, p.id) AS id, a.owner, a.kind, a.currency, a.balance, coalesce(p.posted, 0) AS posted
FROM billing_ledger_accounts a FULL JOIN posted p ON p.id = a.id
WHERE a.id IS NULL OR a.balance <> coalesce(p.posted, 0)
ORDER BY 1 LIMIT {_LIST_LIMIT}
"""

_CURRENCY_TOTALS = f"""
WITH {_MOVES}
SELECT a.currency, sum(a.balance) AS cached, sum(coalesce(p.posted, 0)) AS posted
FROM billing_ledger_accounts a LEFT JOIN posted p ON p.id = a.id
GROUP BY a.currency ORDER BY a.currency
"""

_CROSS_CURRENCY = f"""
SELECT p.id FROM billing_postings p
JOIN billing_ledger_accounts d ON d.id = p.debit_id
JOIN billing_ledger_accounts c ON c.id = p.credit_id
WHERE d.currency <> p.currency OR c.currency <> p.currency
ORDER BY p.id LIMIT {_LIST_LIMIT}
"""

_RESERVED = f"""
SELECT c.account_id, r.balance AS reserved, coalesce(o.open_sum, 0) AS open_sum
FROM billing_customers c
JOIN billing_ledger_accounts r ON r.id = c.reserved_id
LEFT JOIN (SELECT account_id, sum(amount) AS open_sum FROM billing_reservations
           WHERE state = 'open' GROUP BY account_id) o ON o.account_id = c.account_id
WHERE r.balance <> coalesce(o.open_sum, 0)
ORDER BY c.account_id LIMIT {_LIST_LIMIT}
"""

# Which message postings each reservation state implies (kinds sorted), all for the reserved amount.
_STATES = f"""
WITH k AS (
    SELECT key, array_agg(kind ORDER BY kind) AS kinds, min(amount) AS lo, max(amount) AS hi
    FROM billing_postings WHERE kind <> 'topup' GROUP BY key
)
SELECT coalesce(r.message_ref, k.key) AS ref
FROM billing_reservations r FULL JOIN k ON k.key = r.message_ref
WHERE r.message_ref IS NULL OR k.key IS NULL OR k.lo <> r.amount OR k.hi <> r.amount
   OR k.kinds IS DISTINCT FROM (CASE r.state
        WHEN 'open' THEN ARRAY['reserve']
        WHEN 'captured' THEN ARRAY['capture', 'reserve']
        WHEN 'released' THEN ARRAY['release', 'reserve']
        WHEN 'refunded' THEN ARRAY['capture', 'refund', 'reserve'] END)::text[]
ORDER BY 1 LIMIT {_LIST_LIMIT}
"""

_OPEN_REFS = "SELECT message_ref FROM billing_reservations WHERE state = 'open'"

# The caller's query names the non-final messages in its first column; compared here, in the database.
_PENDING = """
WITH pending AS MATERIALIZED (SELECT DISTINCT q.ref::text AS ref FROM ({query}) AS q(ref)),
open AS MATERIALIZED (SELECT message_ref AS ref FROM billing_reservations WHERE state = 'open')
SELECT 'count' AS what, count(*)::text AS ref FROM pending
UNION ALL
(SELECT 'orphan', o.ref FROM open o WHERE NOT EXISTS (SELECT 1 FROM pending p WHERE p.ref = o.ref)
 ORDER BY 2 LIMIT {limit})
UNION ALL
(SELECT 'unreserved', p.ref FROM pending p WHERE NOT EXISTS (SELECT 1 FROM open o WHERE o.ref = p.ref)
 ORDER BY 2 LIMIT {limit})
"""


class BalanceMismatch(msgspec.Struct, frozen=True):
    ledger_account_id: int
    owner: int | None  # the engine account, None for system accounts
    kind: str | None  # None: postings name a ledger account that does not exist
    currency: str | None
    cached: int | None
    posted: int


class CurrencyTotal(msgspec.Struct, frozen=True):
    currency: str
    cached: int  # sum of cached balances: 0 when balanced
    posted: int  # sum of all posting legs: 0 when balanced


class ReservedMismatch(msgspec.Struct, frozen=True):
    account_id: int
    reserved: int
    open_reservations: int


class LedgerReport(msgspec.Struct, frozen=True):
    accounts_checked: int
    postings_checked: int
    reservations_checked: int
    currency_totals: list[CurrencyTotal]
    balance_mismatches: list[BalanceMismatch]
    cross_currency_postings: list[int]
    reserved_mismatches: list[ReservedMismatch]
    state_mismatches: list[str]  # message refs whose postings do not match their reservation
    messages_checked: int | None = None  # None: no pending-message source was given
    orphan_reservations: list[str] = msgspec.field(default_factory=list)
    unreserved_messages: list[str] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.balance_mismatches
            or self.cross_currency_postings
            or self.reserved_mismatches
            or self.state_mismatches
            or self.orphan_reservations
            or self.unreserved_messages
            or any(t.cached or t.posted for t in self.currency_totals)
        )


async def check_ledger(conn: Connection, pending_messages: PendingSource | None = None) -> LedgerReport:
    """Check the ledger; `pending_messages` is a SQL query or async callable naming non-final messages.

    A query's first column is taken as the message ref (cast to text); it runs on `conn`, so it must only
    read. Runs in the caller's transaction if there is one, else in a read-only REPEATABLE READ snapshot.
    """
    async with AsyncExitStack() as stack:
        if not conn.is_in_transaction():
            await stack.enter_async_context(conn.transaction(isolation="repeatable_read", readonly=True))
        counts = await conn.fetchrow(_COUNTS)
        assert counts is not None
        totals = [
            CurrencyTotal(row["currency"], int(row["cached"]), int(row["posted"]))
            for row in await conn.fetch(_CURRENCY_TOTALS)
        ]
        balances = [
            BalanceMismatch(
                row["id"],
                row["owner"],
                row["kind"],
                row["currency"],
                row["balance"],
                int(row["posted"]),
            )
            for row in await conn.fetch(_BALANCES)
        ]
        cross = [row["id"] for row in await conn.fetch(_CROSS_CURRENCY)]
        reserved = [
            ReservedMismatch(row["account_id"], row["reserved"], int(row["open_sum"]))
            for row in await conn.fetch(_RESERVED)
        ]
        states = [row["ref"] for row in await conn.fetch(_STATES)]
        messages: int | None = None
        orphans: list[str] = []
        unreserved: list[str] = []
        if isinstance(pending_messages, str):
            query = pending_messages.strip().rstrip(";")
            for row in await conn.fetch(_PENDING.format(query=query, limit=_LIST_LIMIT)):
                if row["what"] == "count":
                    messages = int(row["ref"])
                else:
                    (orphans if row["what"] == "orphan" else unreserved).append(row["ref"])
        elif pending_messages is not None:
            pending = {str(ref) for ref in await pending_messages(conn)}
            open_refs = {row["message_ref"] for row in await conn.fetch(_OPEN_REFS)}
            messages = len(pending)
            orphans = sorted(open_refs - pending)[:_LIST_LIMIT]
            unreserved = sorted(pending - open_refs)[:_LIST_LIMIT]
    return LedgerReport(
        accounts_checked=counts["accounts"],
        postings_checked=counts["postings"],
        reservations_checked=counts["reservations"],
        currency_totals=totals,
        balance_mismatches=balances,
        cross_currency_postings=cross,
        reserved_mismatches=reserved,
        state_mismatches=states,
        messages_checked=messages,
        orphan_reservations=orphans,
        unreserved_messages=unreserved,
    )


def format_report(report: LedgerReport) -> str:
    """A human-readable account of what was checked and every mismatch found (listed up to 1000 each)."""

    def line(ok: bool, text: str) -> str:
        return f"{'ok  ' if ok else 'FAIL'} {text}"

    out = [
        f"ledger check: {report.accounts_checked} ledger accounts, {report.postings_checked} postings, "
        f"{report.reservations_checked} reservations",
        line(
            not report.balance_mismatches,
            f"cached balances equal the sum of their postings ({len(report.balance_mismatches)} mismatches)",
        ),
    ]
    out += [
        f"     ledger account {m.ledger_account_id} (owner {m.owner}, {m.kind}, {m.currency}): "
        f"cached {m.cached}, postings sum to {m.posted}"
        for m in report.balance_mismatches
    ]
    for t in report.currency_totals:
        ok = t.cached == 0 and t.posted == 0
        text = f"journal balanced in {t.currency} (cached sum {t.cached}, posted sum {t.posted})"
        out.append(line(ok, text))
    out.append(
        line(
            not report.cross_currency_postings,
            f"postings stay within one currency ({len(report.cross_currency_postings)} cross)",
        )
    )
    out += [f"     posting {pid}" for pid in report.cross_currency_postings]
    out.append(
        line(
            not report.reserved_mismatches,
            f"reserved balances equal open reservations ({len(report.reserved_mismatches)} mismatches)",
        )
    )
    out += [
        f"     account {m.account_id}: reserved {m.reserved}, open reservations sum to {m.open_reservations}"
        for m in report.reserved_mismatches
    ]
    out.append(
        line(
            not report.state_mismatches,
            f"reservation states match their postings ({len(report.state_mismatches)} mismatches)",
        )
    )
    out += [f"     message {ref}" for ref in report.state_mismatches]
    if report.messages_checked is None:
        out.append("skip open reservations against pending messages (no message source given)")
    else:
        out.append(
            line(
                not report.orphan_reservations,
                f"every open reservation has a pending message ({report.messages_checked} pending; "
                f"{len(report.orphan_reservations)} open reservations without one)",
            )
        )
        out += [f"     reservation {ref}" for ref in report.orphan_reservations]
        out.append(
            line(
                not report.unreserved_messages,
                f"every pending message has an open reservation ({len(report.unreserved_messages)} without)",
            )
        )
        out += [f"     message {ref}" for ref in report.unreserved_messages]
    out.append("ledger OK" if report.ok else "ledger MISMATCH")
    return "\n".join(out)
