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

from engine.core.ids import format_id
from http_api.errors import validation_error
from http_api.messages import money
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.schemas import ClientRef, MessageStatus, Money, Pagination

PERMISSION = "reports.read"
FINAL = ("delivered", "undeliverable", "expired", "rejected", "failed")
MAX_STATS_RANGE = timedelta(days=400)
When = Annotated[datetime, Meta(tz=True)]


class MessageQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    status: MessageStatus | None = None
    from_date: When | None = None  # created at or after
    to_date: When | None = None  # created before
    destination: Annotated[str, Meta(min_length=1, max_length=32, pattern=r"^\+?[0-9]+$")] | None = None
    campaign_id: Annotated[int, Meta(ge=1)] | None = None
    client_ref: ClientRef | None = None
    page_size: Annotated[int, Meta(ge=1, le=500)] = 50
    cursor: Annotated[str, Meta(max_length=200)] | None = None


class ReportMessage(msgspec.Struct, frozen=True):
    id: str
    status: MessageStatus
    to: str
    from_: str = msgspec.field(name="from")
    country: str
    segments: int
    encoding: str
    cost: Money
    client_ref: str
    batch_id: str
    campaign_id: int | None
    channel: str
    created_at: datetime
    final_at: datetime | None
    error_code: int | None
    reason: str


class MessageReport(msgspec.Struct, frozen=True):
    data: list[ReportMessage]
    pagination: Pagination


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
    from_date: datetime
    to_date: datetime
    period: str
    data: list[StatsRow]


_MESSAGE_COLUMNS = """id, status, destination, source, country, segments, encoding, price, currency,
client_ref, batch_id, campaign_id, channel, created_at, final_at, error_code, reason,
money = 'none' AS sandbox"""


def _message(r: Any) -> ReportMessage:
    sandbox = r["sandbox"]  # never charged (as http_api.messages.message_detail)
    return ReportMessage(
        id=format_id(r["id"]), status=r["status"], to="+" + r["destination"], from_=r["source"],
        country=r["country"], segments=r["segments"], encoding=r["encoding"],
        cost=money(0 if sandbox else r["price"] * r["segments"], r["currency"].strip()),
        client_ref=r["client_ref"], batch_id=r["batch_id"], campaign_id=r["campaign_id"],
        channel=r["channel"], created_at=r["created_at"], final_at=r["final_at"],
        error_code=r["error_code"], reason=r["reason"],
    )  # fmt: skip


async def message_report(call: Call) -> Reply:
    q = call.query_as(MessageQuery)
    where = ["account_id = $1"]
    args: list[Any] = [call.account_id]

    def param(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.format(f"${len(args)}"))

    before = decode_cursor("rpt", q.cursor)
    if before is not None:
        param("id < {}", before)
    if q.status is not None:
        param("status = {}", q.status)
    if q.from_date is not None:
        param("created_at >= {}", q.from_date)
    if q.to_date is not None:
        param("created_at < {}", q.to_date)
    if q.destination is not None:  # digits only (checked by the schema): safe inside a LIKE pattern
        param("destination LIKE {} || '%'", q.destination.lstrip("+"))
    if q.campaign_id is not None:
        param("campaign_id = {}", q.campaign_id)
    if q.client_ref is not None:
        if "\x00" in q.client_ref:  # PostgreSQL text cannot hold it: no message has it
            raise validation_error("NUL characters are not allowed", field="client_ref")
        param("client_ref = {}", q.client_ref)
    args.append(q.page_size + 1)
    sql = (
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} "
        f"ORDER BY id DESC LIMIT ${len(args)}"
    )
    rows = await call.ctx.pool.fetch(sql, *args)
    page, pagination = paginate("rpt", rows, q.page_size, key=lambda r: int(r["id"]))
    return Reply(200, MessageReport([_message(r) for r in page], pagination))


# The receipt time of a message is that of its first 'receipt' event (engine.core.lifecycle writes one when a
# receipt makes the message final); messages finalised otherwise (dispatch failures, sandbox) have none.
_STATS = """
SELECT date_trunc($4, m.created_at, 'UTC') AS period_start, {country} AS country,
       count(*) AS total,
       count(*) FILTER (WHERE m.status = 'delivered') AS delivered,
       count(*) FILTER (WHERE m.status = 'undeliverable') AS undeliverable,
       count(*) FILTER (WHERE m.status = 'expired') AS expired,
       count(*) FILTER (WHERE m.status = 'rejected') AS rejected,
       count(*) FILTER (WHERE m.status = 'failed') AS failed,
       count(*) FILTER (WHERE m.final_at IS NULL) AS pending,
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
    if until <= since:
        raise validation_error("to_date must be after from_date", field="to_date")
    if until - since > MAX_STATS_RANGE:
        raise validation_error(f"at most {MAX_STATS_RANGE.days} days per request", field="from_date")
    sql = _STATS.format(country="m.country" if q.by == "country" else "NULL::text")
    rows = await call.ctx.pool.fetch(sql, call.account_id, since, until, q.period)
    data = []
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
    return Reply(200, DlrStats(since, until, q.period, data))


OPERATIONS = [
    Operation("GET", "/v1/reports/messages", message_report, "Message log with filters (cursor pagination)",
              PERMISSION, "Reports", query=MessageQuery, responses={200: MessageReport}),
    Operation("GET", "/v1/reports/dlr-stats", dlr_stats, "Delivery statistics per period and country",
              PERMISSION, "Reports", query=StatsQuery, responses={200: DlrStats},
              description="Counts by final status, delivery rate, median and p90 time to receipt."),
]  # fmt: skip
