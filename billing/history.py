"""Reading the journal back: a customer's transaction history, usage summaries, one message's margin.

Read-only views over `billing_postings` and `billing_reservations`, for the billing and reports endpoints.
History pages are newest first in posting-id order (stable: ids only grow, and a posting never changes) with
an opaque cursor; usage counts what was charged per day or month, optionally per country and carrier, with
the carrier cost recorded at capture so margin = charged - cost. This module must never write.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from billing.arithmetic import customer_deltas
from billing.model import (
    HistoryItem,
    HistoryPage,
    InvalidCursor,
    MessageCharge,
    PostingKind,
    ReservationState,
    UsageRow,
)

if TYPE_CHECKING:
    from billing.db import Connection

_CURSOR_PREFIX = "p1:"  # versioned, so the encoding can change without misreading old cursors

_HISTORY = """
SELECT id, kind, key, amount, created_at, country, carrier, segments, cost
FROM billing_postings
WHERE account_id = $1 AND id < $2
ORDER BY id DESC
LIMIT $3
"""

# Captures count as usage in the period they happen, refunds subtract in theirs (releases were never
# charged). The period is cut in UTC so that a day means the same thing to every caller.
_USAGE = """
SELECT (date_trunc($2, created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS period_start,
       CASE WHEN $5 THEN country END AS country,
       CASE WHEN $6 THEN carrier END AS carrier,
       coalesce(sum(coalesce(items, 1)) FILTER (WHERE kind = 'capture'), 0) AS messages,
       coalesce(sum(segments) FILTER (WHERE kind = 'capture'), 0) AS segments,
       coalesce(sum(amount) FILTER (WHERE kind = 'capture'), 0)
           - coalesce(sum(amount) FILTER (WHERE kind = 'refund'), 0) AS charged,
       coalesce(sum(cost) FILTER (WHERE kind = 'capture'), 0) AS cost
FROM billing_postings
WHERE account_id = $1 AND kind IN ('capture', 'refund') AND created_at >= $3 AND created_at < $4
GROUP BY 1, 2, 3
ORDER BY 1, 2 NULLS FIRST, 3 NULLS FIRST
"""

_MESSAGE = "SELECT account_id, amount, state, cost FROM billing_reservations WHERE message_ref = $1"


def encode_cursor(posting_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{posting_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("not a history cursor") from exc
    if not text.startswith(_CURSOR_PREFIX) or not text[len(_CURSOR_PREFIX) :].isdigit():
        raise InvalidCursor("not a history cursor")
    return int(text[len(_CURSOR_PREFIX) :])


async def history(
    conn: Connection, account_id: int, *, limit: int = 50, cursor: str | None = None
) -> HistoryPage:
    """One page of the account's postings, newest first; pass `next_cursor` back for the next page."""
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be 1..1000")
    before = decode_cursor(cursor) if cursor is not None else 2**63 - 1
    rows = await conn.fetch(_HISTORY, account_id, before, limit + 1)
    items = []
    for row in rows[:limit]:
        kind = PostingKind(row["kind"])
        available, reserved = customer_deltas(kind, row["amount"])
        items.append(
            HistoryItem(
                posting_id=row["id"],
                kind=kind,
                key=row["key"],
                amount=row["amount"],
                available_delta=available,
                reserved_delta=reserved,
                created_at=row["created_at"],
                country=row["country"],
                carrier=row["carrier"],
                segments=row["segments"],
                cost=row["cost"],
            )
        )
    more = len(rows) > limit
    return HistoryPage(items=items, next_cursor=encode_cursor(items[-1].posting_id) if more else None)


async def usage(
    conn: Connection,
    account_id: int,
    *,
    period: Literal["day", "month"],
    since: datetime,
    until: datetime,
    by_country: bool = False,
    by_carrier: bool = False,
) -> list[UsageRow]:
    """Charged messages, segments, money, carrier cost and margin per period in [since, until)."""
    if period not in ("day", "month"):
        raise ValueError("period must be 'day' or 'month'")
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    rows = await conn.fetch(_USAGE, account_id, period, since, until, by_country, by_carrier)
    return [
        UsageRow(
            period_start=row["period_start"],
            country=row["country"],
            carrier=row["carrier"],
            messages=int(row["messages"]),
            segments=int(row["segments"]),
            charged=int(row["charged"]),
            cost=int(row["cost"]),
            margin=int(row["charged"]) - int(row["cost"]),
        )
        for row in rows
    ]


async def message_charge(conn: Connection, message_ref: str) -> MessageCharge | None:
    """What one message was reserved, charged and cost us; None when the ledger never saw it."""
    row = await conn.fetchrow(_MESSAGE, message_ref)
    if row is None:
        return None
    state = ReservationState(row["state"])
    charged = row["amount"] if state is ReservationState.CAPTURED else 0
    cost = row["cost"]
    return MessageCharge(
        message_ref=message_ref,
        account_id=row["account_id"],
        state=state,
        price=row["amount"],
        charged=charged,
        cost=cost,
        margin=None if cost is None else charged - cost,
    )
