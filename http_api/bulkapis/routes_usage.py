"""BulkAPIs usage: the membership year's API calls against the plan's quota, and calls per day.

    GET /api/v1/usage?from=YYYY-MM-DD&to=YYYY-MM-DD     (default: the last 30 days, UTC)

    {"success": true, "data": {"plan", "apiCalls": {"used", "limit", "remaining"},
     "periodStart", "periodEnd", "socialAccounts": {"packs", "limit"},
     "from", "to", "daily": [{"date", "calls"}]}}

The document names the endpoint and its query, not its answer: these fields are ours, in its casing.
This call is counted like every other (it is an API call).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import msgspec
from msgspec import Meta

from http_api.bulkapis import plans
from http_api.bulkapis.dialect import DIALECT, BulkApisOk, membership_of, ok, stamp
from http_api.errors import validation_error
from http_api.operations import Call, Operation, Reply

MAX_DAYS = 366


# A day (2026-02-01) or a timestamp (2026-02-01T00:00:00Z, its day is taken), UTC: a real calendar day
# (documented as a date or date-time format, not only the pattern: 2026-02-30 is 400 VALIDATION_ERROR).
Day_ = Annotated[str, Meta(
    pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9:]+)?)?$",
    extra_json_schema={"anyOf": [{"format": "date"}, {"format": "date-time"}]},
)]  # fmt: skip


class BulkApisUsageQuery(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    rename={"start": "from", "end": "to"},
):
    start: Day_ | None = None
    end: Day_ | None = None


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise validation_error(f"not a date: {text!r}") from None


class BulkApisCalls(msgspec.Struct, frozen=True):
    used: int
    limit: int
    remaining: int


class BulkApisAccounts(msgspec.Struct, frozen=True):
    packs: int
    limit: int


class BulkApisDay(msgspec.Struct, frozen=True):
    date: str
    calls: int


class BulkApisUsage(msgspec.Struct, frozen=True, rename="camel"):
    plan: str
    api_calls: BulkApisCalls
    period_start: str
    period_end: str
    social_accounts: BulkApisAccounts
    start: str = msgspec.field(name="from")
    end: str = msgspec.field(name="to")
    daily: list[BulkApisDay] = msgspec.field(default_factory=list)


async def bulkapis_usage(call: Call) -> Reply:
    q = call.query_as(BulkApisUsageQuery)
    end = _day(q.end) or datetime.now(UTC).date()
    start = _day(q.start) or end - timedelta(days=29)
    if start > end:
        raise validation_error("from must not be after to", field="from")
    if (end - start).days >= MAX_DAYS:
        raise validation_error(f"at most {MAX_DAYS} days per request", field="to")
    current = membership_of(call)
    days = await plans.daily_usage(call.ctx.pool, call.account_id, start, end)
    usage = BulkApisUsage(
        plan=current.plan,
        api_calls=BulkApisCalls(current.calls_used, current.api_calls_quota,
                        max(0, current.api_calls_quota - current.calls_used)),
        period_start=stamp(current.period_start) or "",
        period_end=stamp(current.period_end) or "",
        social_accounts=BulkApisAccounts(current.social_packs, current.social_accounts_limit),
        start=start.isoformat(),
        end=end.isoformat(),
        daily=[BulkApisDay(d.isoformat(), n) for d, n in days],
    )  # fmt: skip
    return ok(usage)


OPERATIONS = [
    Operation("GET", "/api/v1/usage", bulkapis_usage, "API calls used against the plan, per day", None,
              "BulkAPIs", query=BulkApisUsageQuery, responses={200: BulkApisOk[BulkApisUsage]},
              dialect=DIALECT),
]  # fmt: skip
