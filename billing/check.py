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
    FROM billing_postings WHERE kind <> 'topup' AND items IS NULL GROUP BY key
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


# Items held elsewhere (billing/items.py): the caller's query lists them with the columns below; every
# batched posting must equal the sum of the items naming its batch and group, and vice versa.
_ITEMS_CTE = """
it AS MATERIALIZED (
    SELECT * FROM ({query}) AS q(ref, account_id, amount, country, reserve_carrier, settle_carrier,
                                reserve_batch, settle_kind, settle_batch, refund_batch, final)
)
"""

_ITEM_POSTINGS = f"""
WITH {_ITEMS_CTE}, expected AS (
    SELECT 'reserve'::text AS kind,
           to_hex(reserve_batch) || ':' || account_id || ':' || coalesce(country, '') || ':'
               || coalesce(reserve_carrier, '') AS key,
           sum(amount) AS amount, count(*) AS n
    FROM it WHERE reserve_batch IS NOT NULL GROUP BY 1, 2
    UNION ALL
    SELECT settle_kind::text,
           to_hex(settle_batch) || ':' || account_id || ':' || coalesce(country, '') || ':'
               || coalesce(settle_carrier, ''),
           sum(amount), count(*)
    FROM it WHERE settle_batch IS NOT NULL GROUP BY 1, 2
    UNION ALL
    SELECT 'refund',
           to_hex(refund_batch) || ':' || account_id || ':' || coalesce(country, '') || ':'
               || coalesce(settle_carrier, ''),
           sum(amount), count(*)
    FROM it WHERE refund_batch IS NOT NULL GROUP BY 1, 2
), posted AS (
    SELECT kind, key, amount, items FROM billing_postings WHERE items IS NOT NULL
)
SELECT coalesce(e.kind, p.kind) AS kind, coalesce(e.key, p.key) AS key, e.amount AS expected,
       p.amount AS posted, e.n AS expected_items, p.items AS posted_items,
       (SELECT count(*) FROM it) AS items_checked
FROM expected e FULL JOIN posted p ON p.kind = e.kind AND p.key = e.key
WHERE e.key IS NULL OR p.key IS NULL OR e.amount <> p.amount OR e.n <> p.items
ORDER BY 2 LIMIT {{limit}}
"""

_ITEM_COUNT = f"WITH {_ITEMS_CTE} SELECT count(*) FROM it"

# An item's own states must make sense: reserved before settled, refunded only after a capture, and no
# longer held once it is final (a final item still holding money would keep it reserved for ever).
_ITEM_STATES = f"""
WITH {_ITEMS_CTE}
SELECT ref::text AS ref FROM it
WHERE reserve_batch IS NULL
   OR (settle_batch IS NULL AND coalesce(final, false))
   OR (settle_batch IS NOT NULL AND settle_kind NOT IN ('capture', 'release'))
   OR (refund_batch IS NOT NULL AND settle_kind IS DISTINCT FROM 'capture')
ORDER BY 1 LIMIT {{limit}}
"""

_RESERVED_WITH_ITEMS = f"""
WITH {_ITEMS_CTE}, held AS (
    SELECT account_id, sum(amount) AS held FROM it
    WHERE reserve_batch IS NOT NULL AND settle_batch IS NULL GROUP BY account_id
)
SELECT c.account_id, r.balance AS reserved, coalesce(o.open_sum, 0) + coalesce(h.held, 0) AS open_sum
FROM billing_customers c
JOIN billing_ledger_accounts r ON r.id = c.reserved_id
LEFT JOIN (SELECT account_id, sum(amount) AS open_sum FROM billing_reservations
           WHERE state = 'open' GROUP BY account_id) o ON o.account_id = c.account_id
LEFT JOIN held h ON h.account_id = c.account_id
WHERE r.balance <> coalesce(o.open_sum, 0) + coalesce(h.held, 0)
ORDER BY c.account_id LIMIT {{limit}}
"""


class ItemMismatch(msgspec.Struct, frozen=True):
    kind: str
    key: str  # the posting's key: batch:account:country:carrier
    expected: int | None  # the items' sum; None: a posting no item names
    posted: int | None  # None: items naming a posting that does not exist
    expected_items: int | None
    posted_items: int | None


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
    items_checked: int | None = None  # None: no item source was given
    item_mismatches: list[ItemMismatch] = msgspec.field(default_factory=list)
    item_state_mismatches: list[str] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.balance_mismatches
            or self.cross_currency_postings
            or self.reserved_mismatches
            or self.state_mismatches
            or self.orphan_reservations
            or self.unreserved_messages
            or self.item_mismatches
            or self.item_state_mismatches
            or any(t.cached or t.posted for t in self.currency_totals)
        )


async def check_ledger(
    conn: Connection, pending_messages: PendingSource | None = None, items: str | None = None
) -> LedgerReport:
    """Check the ledger; `pending_messages` is a SQL query or async callable naming non-final messages.

    A query's first column is taken as the message ref (cast to text); it runs on `conn`, so it must only
    read. `items` is a SQL query listing the items of batched postings (billing/items.py) with the columns
    (ref, account_id, amount, country, reserve_carrier, settle_carrier, reserve_batch, settle_kind,
    settle_batch, refund_batch, final). Runs in the caller's transaction if there is one, else in a
    read-only REPEATABLE READ snapshot.
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
        item_query = items.strip().rstrip(";") if items is not None else None
        reserved_sql = (
            _RESERVED
            if item_query is None
            else _RESERVED_WITH_ITEMS.format(query=item_query, limit=_LIST_LIMIT)
        )
        reserved = [
            ReservedMismatch(row["account_id"], row["reserved"], int(row["open_sum"]))
            for row in await conn.fetch(reserved_sql)
        ]
        items_checked: int | None = None
        item_mismatches: list[ItemMismatch] = []
        item_states: list[str] = []
        if item_query is not None:
            items_checked = int(await conn.fetchval(_ITEM_COUNT.format(query=item_query)))
            item_mismatches = [
                ItemMismatch(
                    row["kind"], row["key"],
                    None if row["expected"] is None else int(row["expected"]),
                    None if row["posted"] is None else int(row["posted"]),
                    None if row["expected_items"] is None else int(row["expected_items"]),
                    row["posted_items"],
                )
                for row in await conn.fetch(_ITEM_POSTINGS.format(query=item_query, limit=_LIST_LIMIT))
            ]  # fmt: skip
            item_states = [
                row["ref"]
                for row in await conn.fetch(_ITEM_STATES.format(query=item_query, limit=_LIST_LIMIT))
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
        items_checked=items_checked,
        item_mismatches=item_mismatches,
        item_state_mismatches=item_states,
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
    if report.items_checked is None:
        out.append("skip batched postings against their items (no item source given)")
    else:
        out.append(
            line(
                not report.item_mismatches,
                f"batched postings equal the sums of their items ({report.items_checked} items; "
                f"{len(report.item_mismatches)} mismatches)",
            )
        )
        out += [
            f"     {m.kind} {m.key}: items sum to {m.expected} ({m.expected_items} items), "
            f"posted {m.posted} ({m.posted_items} items)"
            for m in report.item_mismatches
        ]
        out.append(
            line(
                not report.item_state_mismatches,
                "every item is reserved, settled at most once, and no longer held once final "
                f"({len(report.item_state_mismatches)} mismatches)",
            )
        )
        out += [f"     item {ref}" for ref in report.item_state_mismatches]
    out.append("ledger OK" if report.ok else "ledger MISMATCH")
    return "\n".join(out)
