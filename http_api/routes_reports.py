"""Reports: the message log with filters, and delivery statistics per period (and country).

    GET /v1/reports/messages    reports.read   status, from_date/to_date, destination prefix, campaign_id,
                                               client_ref; newest first, cursor paginated
    GET /v1/reports/dlr-stats   reports.read   per hour/day/month (by created_at, UTC), optionally per
                                               country: counts by final status, delivery rate, median and
                                               p90 seconds from accept to the carrier's receipt

Both read `messages` (receipt times: final_at - created_at of messages finalised by a receipt) for the
caller's account only; every query carries `account_id = $1`. This module must never write anything,
nor show what a carrier charges us (cost, route).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from http_api.envelopes import Cursor, One, Page, PageSize, one, page_of
from http_api.messages import engine_statuses, message_out
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.routes_sms import SANDBOX_FLAG
from http_api.schemas import ClientRef, MessageOut, Phone, StatusFilter

PERMISSION = "reports.read"
FINAL = ("delivered", "undeliverable", "expired", "rejected", "failed")
When = Annotated[datetime, Meta(tz=True)]
# The document: "Reports endpoints are cached (60s for stats, 10s for message logs)". The answers are
# always current; clients and proxies are told how long they may keep them.
LOG_CACHE = {"Cache-Control": "private, max-age=10"}
STATS_CACHE = {"Cache-Control": "private, max-age=60"}
CampaignRef = Annotated[
    str,
    Meta(
        pattern=r"^[0-9]{1,18}$|^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="a campaign id, or a bulk batch_id",
    ),
]


class MessageQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    status: StatusFilter | None = None
    from_date: When | None = None  # created at or after
    to_date: When | None = None  # created before
    destination: Phone | None = None  # exact match
    campaign_id: CampaignRef | None = None
    client_ref: ClientRef | None = None
    page_size: PageSize = 50
    cursor: Cursor | None = None


class StatsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    from_date: When | None = None  # default: 7 days before to_date
    to_date: When | None = None  # default: now
    period: Literal["hour", "day", "month"] = "day"
    by: Literal["", "country"] = ""


class StatusCounts(msgspec.Struct, frozen=True):
    delivered: int
    undeliverable: int
    expired: int
    rejected: int
    failed: int
    pending: int  # not final yet


class StatsRow(msgspec.Struct, frozen=True):
    period_start: datetime
    country: str | None  # only with by=country
    total: int
    final: int
    counts: StatusCounts
    delivery_rate: float | None  # delivered / final; None while nothing is final
    median_seconds_to_receipt: float | None  # over messages whose final state came from a receipt
    p90_seconds_to_receipt: float | None


class DlrStats(msgspec.Struct, frozen=True):
    sent: int  # the document's three figures over the whole range: taken by a carrier or final,
    delivered: int
    failed: int  # final without delivery (undeliverable, expired, rejected, failed)
    from_date: datetime
    to_date: datetime
    period: str
    data: list[StatsRow]


_MESSAGE_COLUMNS = """id, channel, status, destination, source, segments, encoding, price, currency,
client_ref, batch_id, campaign_id, created_at, scheduled_at, final_at, error_code, reason"""


async def message_report(call: Call) -> Reply:
    q = call.query_as(MessageQuery)
    where = ["account_id = $1"]
    args: list[Any] = [call.account_id]

    def param(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.format(f"${len(args)}"))

    if q.status is not None:
        param("status = ANY({}::text[])", engine_statuses(q.status))
    if q.from_date is not None:
        param("created_at >= {}", q.from_date)
    if q.to_date is not None:
        param("created_at < {}", q.to_date)
    if q.destination is not None:
        param("destination = {}", q.destination.lstrip("+"))
    if q.campaign_id is not None:
        if q.campaign_id.isdigit():
            param("campaign_id = {}", int(q.campaign_id))
        else:
            param("batch_id = {}", q.campaign_id.lower())
    if q.client_ref is not None:
        param("client_ref = {}", q.client_ref)
    total = await call.ctx.pool.fetchval(f"SELECT count(*) FROM messages WHERE {' AND '.join(where)}", *args)
    before = decode_cursor(q.cursor)
    if before is not None:
        param("id < {}", before)
    args.append(q.page_size + 1)
    sql = (
        f"SELECT {_MESSAGE_COLUMNS}, {SANDBOX_FLAG} FROM messages WHERE {' AND '.join(where)} "
        f"ORDER BY id DESC LIMIT ${len(args)}"
    )
    rows = await call.ctx.pool.fetch(sql, *args)
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
    reply = page_of(call, [message_out(r, r["sandbox"]) for r in page], pagination)
    reply.headers.update(LOG_CACHE)
    return reply


# The receipt time of a message is its final_at when a receipt made it final (receipt_stat set); messages
# finalised otherwise (dispatch failures, sandbox) have none.
_STATS = """
SELECT date_trunc($4, m.created_at, 'UTC') AS period_start, {country} AS country,
       count(*) AS total,
       count(*) FILTER (WHERE m.status = 'delivered') AS delivered,
       count(*) FILTER (WHERE m.status = 'undeliverable') AS undeliverable,
       count(*) FILTER (WHERE m.status = 'expired') AS expired,
       count(*) FILTER (WHERE m.status = 'rejected') AS rejected,
       count(*) FILTER (WHERE m.status = 'failed') AS failed,
       count(*) FILTER (WHERE m.final_at IS NULL) AS pending,
       count(*) FILTER (WHERE m.status NOT IN ('queued', 'scheduled', 'sending')) AS sent,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.seconds) AS median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY r.seconds) AS p90
FROM messages m
LEFT JOIN LATERAL (
    SELECT extract(epoch FROM m.final_at - m.created_at)::float8 AS seconds
    WHERE m.final_at IS NOT NULL AND m.receipt_stat <> ''
) r ON true
WHERE m.account_id = $1 AND m.created_at >= $2 AND m.created_at < $3
GROUP BY 1, 2 ORDER BY 1, 2
"""


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def dlr_stats(call: Call) -> Reply:
    q = call.query_as(StatsQuery)
    until = q.to_date or datetime.now(UTC)
    since = q.from_date or until - timedelta(days=7)
    # A range that holds no time (to_date at or before from_date) holds no messages: an empty answer.
    # Any range is cheap: the query groups the account's messages of the range, whatever its length.
    sql = _STATS.format(country="m.country" if q.by == "country" else "NULL::text")
    rows = await call.ctx.pool.fetch(sql, call.account_id, since, until, q.period) if until > since else []
    data: list[StatsRow] = []
    sent = sum(int(r["sent"]) for r in rows)
    for r in rows:
        counts = StatusCounts(
            r["delivered"], r["undeliverable"], r["expired"], r["rejected"], r["failed"], r["pending"]
        )
        final = sum(r[s] for s in FINAL)
        rate = round(r["delivered"] / final, 4) if final else None
        data.append(
            StatsRow(r["period_start"], r["country"], r["total"], final, counts, rate,
                     _seconds(r["median"]), _seconds(r["p90"]))
        )  # fmt: skip
    delivered = sum(r.counts.delivered for r in data)
    final = sum(r.final for r in data)
    stats = DlrStats(sent, delivered, final - delivered, since, until, q.period, data)
    reply = one(call, stats)
    reply.headers.update(STATS_CACHE)
    return reply


OPERATIONS = [
    Operation("GET", "/v1/reports/messages", message_report, "Full message log with filters", PERMISSION,
              "Reports", query=MessageQuery, responses={200: Page[MessageOut]}),
    Operation("GET", "/v1/reports/dlr-stats", dlr_stats, "Delivery rate stats (sent/delivered/failed)",
              PERMISSION, "Reports", query=StatsQuery, responses={200: One[DlrStats]},
              description="Counts by final status, delivery rate, median and p90 time to receipt."),
]  # fmt: skip
