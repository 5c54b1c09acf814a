"""The BulkAPIs membership: plans, the yearly API call quota, Social Accounts packs, daily usage.

    Plan    annual API calls   social features
    base    3,000              need a Social Accounts pack (50 connected accounts each)
    growth  30,000             "
    scale   250,000            "

`count_call` runs on every authenticated call of the surface: one statement that makes the account's
membership row (Base, no pack) at its first call, rolls the membership year over when it has ended,
counts the call against the quota only while some is left, and adds it to the day's usage (the engine's
one usage record, engine/usage/, in the same transaction). A call past
the quota is not counted and answers 403 API_CALLS_EXCEEDED; the social checks (`require_social`,
`require_account_slot`) answer NO_SOCIAL_PACK and SOCIAL_ACCOUNTS_EXCEEDED.
This module must never touch another account's row.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import asyncpg
import msgspec

from engine import usage
from http_api.errors import ApiError

Plan = Literal["base", "growth", "scale"]
QUOTAS: dict[str, int] = {"base": 3_000, "growth": 30_000, "scale": 250_000}
ACCOUNTS_PER_PACK = 50


class Membership(msgspec.Struct, frozen=True):
    plan: str
    api_calls_quota: int
    calls_used: int
    social_packs: int
    period_start: datetime
    period_end: datetime

    @property
    def social_accounts_limit(self) -> int:
        return self.social_packs * ACCOUNTS_PER_PACK


_COUNT = """
INSERT INTO bulkapis_memberships AS b (account_id) VALUES ($1)
ON CONFLICT (account_id) DO UPDATE SET
    calls_used = CASE WHEN now() >= b.period_end THEN 1 ELSE b.calls_used + 1 END,
    period_start = CASE WHEN now() >= b.period_end THEN now() ELSE b.period_start END,
    period_end = CASE WHEN now() >= b.period_end THEN now() + interval '1 year' ELSE b.period_end END
WHERE b.calls_used < b.api_calls_quota OR now() >= b.period_end
RETURNING plan, api_calls_quota, calls_used, social_packs, period_start, period_end
"""
_GET = """
SELECT plan, api_calls_quota, calls_used, social_packs, period_start, period_end
FROM bulkapis_memberships WHERE account_id = $1
"""


def _membership(row: Any) -> Membership:
    return Membership(
        row["plan"], row["api_calls_quota"], row["calls_used"], row["social_packs"],
        row["period_start"], row["period_end"],
    )  # fmt: skip


async def count_call(pool: asyncpg.Pool, account_id: int) -> Membership:
    """Count one call of `account_id`; 403 API_CALLS_EXCEEDED when its year's quota is spent."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(_COUNT, account_id)
        if row is not None:  # the day's calls, on the engine's one usage record
            await usage.record(conn, [usage.Count(account_id, usage.API_CALLS_BULKAPIS)])
    if row is None:
        current = await membership(pool, account_id)
        raise ApiError(
            403, "API_CALLS_EXCEEDED",
            f"annual API call quota of {current.api_calls_quota} exhausted: upgrade your membership",
            {"quota": current.api_calls_quota, "periodEnd": current.period_end.isoformat()},
        )  # fmt: skip
    return _membership(row)


async def membership(pool: asyncpg.Pool, account_id: int) -> Membership:
    row = await pool.fetchrow(_GET, account_id)
    if row is None:  # not called yet: what its first call will make
        now = await pool.fetchval("SELECT now()")
        return Membership("base", QUOTAS["base"], 0, 0, now, now.replace(year=now.year + 1))
    return _membership(row)


async def set_membership(
    pool: asyncpg.Pool,
    account_id: int,
    plan: Plan = "base",
    *,
    social_packs: int = 0,
    api_calls_quota: int | None = None,
) -> None:
    """The operator's (and the tests') way to put an account on a plan, with `social_packs` packs."""
    quota = QUOTAS[plan] if api_calls_quota is None else api_calls_quota
    await pool.execute(
        """INSERT INTO bulkapis_memberships (account_id, plan, api_calls_quota, social_packs, calls_used)
           VALUES ($1, $2, $3, $4, 0)
           ON CONFLICT (account_id) DO UPDATE SET plan = $2, api_calls_quota = $3, social_packs = $4,
               updated_at = now()""",
        account_id, plan, quota, social_packs,
    )  # fmt: skip


def require_social(current: Membership) -> None:
    if current.social_packs <= 0:
        raise ApiError(
            403, "NO_SOCIAL_PACK", "social features require a Social Accounts add-on ($50/mo per 50 accounts)"
        )


def require_account_slot(current: Membership, rank: int) -> None:
    """403 SOCIAL_ACCOUNTS_EXCEEDED for the connected account at `rank` (1 = the oldest connected one)
    when the packs cover fewer accounts than that."""
    require_social(current)
    if rank > current.social_accounts_limit:
        raise ApiError(
            403, "SOCIAL_ACCOUNTS_EXCEEDED",
            f"your packs cover {current.social_accounts_limit} connected accounts: add another pack",
            {"limit": current.social_accounts_limit},
        )  # fmt: skip


async def daily_usage(pool: asyncpg.Pool, account_id: int, start: date, end: date) -> list[tuple[date, int]]:
    """The counted calls of each day of [start, end] that had any (engine/usage: api_calls:bulkapis)."""
    return await usage.daily(pool, account_id, usage.API_CALLS_BULKAPIS, start, end)
