"""The one usage record: counts per (account, UTC day, metric), written where the thing happens.

    await record(conn, [Count(account_id, metric, n, at)])     in the transaction of what it counts
    await daily(pool, account_id, metric, first_day, last_day) -> [(day, n)]
    await totals(pool, account_id, since_day, prefix) -> {metric: n}

Metrics (text, so a new surface or kind needs no migration):

    api_calls:bulkapis       a BulkAPIs call counted against its membership (http_api/bulkapis/plans.py)
    social:<action>          a social job that succeeded (engine/social/jobs/outcomes.py), on its final day
    inbox:<kind>             an inbound mention, reply or DM stored by the poller (engine/social/inbox/)

Every document's usage answer reads this record in its own shape (seed 000's calls per day, seed 004's
month of posts, DMs, actions and inbox items); money is not here: what was charged is the ledger's
(billing.usage). One statement per batch whatever its size. This module must never decide a quota or a
price: it only counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg
import msgspec

API_CALLS_BULKAPIS = "api_calls:bulkapis"


def social_metric(action: str) -> str:
    return "social:" + action


def inbox_metric(kind: str) -> str:
    return "inbox:" + kind


class Count(msgspec.Struct, frozen=True):
    account_id: int
    metric: str
    n: int = 1
    at: datetime | None = None  # when it happened (its UTC day is counted); None: the transaction's now()


_RECORD = """
INSERT INTO usage_daily AS u (account_id, day, metric, count)
SELECT account_id, (coalesce(at, now()) AT TIME ZONE 'UTC')::date, metric, sum(n)
FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[]) AS c(account_id, metric, n, at)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
ON CONFLICT (account_id, day, metric) DO UPDATE SET count = u.count + excluded.count
"""


async def record(conn: Any, counts: Sequence[Count]) -> None:
    """Add `counts` in `conn`'s transaction (rows in a fixed order: concurrent batches cannot deadlock)."""
    if not counts:
        return
    await conn.execute(
        _RECORD,
        [c.account_id for c in counts],
        [c.metric for c in counts],
        [c.n for c in counts],
        [c.at for c in counts],
    )


async def daily(
    pool: asyncpg.Pool, account_id: int, metric: str, first: date, last: date
) -> list[tuple[date, int]]:
    """The days of [first, last] with a count of `metric`, in order."""
    rows = await pool.fetch(
        "SELECT day, count FROM usage_daily WHERE account_id = $1 AND metric = $2 AND day BETWEEN $3 AND $4"
        " ORDER BY day",
        account_id, metric, first, last,
    )  # fmt: skip
    return [(r["day"], int(r["count"])) for r in rows]


async def totals(pool: asyncpg.Pool, account_id: int, since: date, prefix: str = "") -> dict[str, int]:
    """Each metric starting with `prefix`, summed over the days from `since`."""
    rows = await pool.fetch(
        "SELECT metric, sum(count) AS n FROM usage_daily WHERE account_id = $1 AND day >= $2"
        " AND starts_with(metric, $3) GROUP BY metric",
        account_id, since, prefix,
    )  # fmt: skip
    return {r["metric"]: int(r["n"]) for r in rows}
