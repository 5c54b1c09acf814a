"""Billing endpoints: the wallet, its transactions, usage (summary and CSV), and an operator top-up.

    GET  /v1/billing/balance         billing.read   {"data": {balance, credit_limit, available, currency,
                                                    low_balance_threshold, auto_topup_enabled, reserved}}
    GET  /v1/billing/transactions    billing.read   the ledger's postings, newest first, paginated
    GET  /v1/billing/usage           billing.read   charged messages of a period (default: this month)
    GET  /v1/billing/usage/export    billing.read   the same as CSV
    POST /v1/billing/topup           billing.write  operator keys only (billing.write is never implied by "*")

Money is in integer minor units (350 = 3.50), as the document says: balances round down (never more than
can be spent), charges round up. `balance` is the wallet after what is held for messages in flight
(`reserved`); `available` adds the credit limit: what a send may still spend. Every figure comes from the
ledger (billing) for the caller's own account; never what a carrier charges us. Invoices, checkout and
auto top-up are routes_payments'. This module must never move money except by top_up.
"""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from billing import balance, history, top_up, usage
from billing.history import encode_cursor as ledger_cursor
from billing.model import AccountBalance, InvalidCursor, UnknownAccount
from billing.money import AmountError, parse_amount, to_minor
from http_api.envelopes import Cursor, One, Page, PageSize, Pagination, one, page_of
from http_api.errors import ApiError, not_found, validation_error
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, encode_cursor
from http_api.schemas import Request

When = Annotated[datetime, Meta(tz=True)]


class Balance(msgspec.Struct, frozen=True):
    balance: int  # the wallet, minor units; negative down to -credit_limit
    credit_limit: int
    available: int  # balance + credit_limit: what sends may still spend
    currency: str
    low_balance_threshold: int  # balance.low fires below it; 0: never
    auto_topup_enabled: bool
    reserved: int  # held for messages not final yet (already out of `balance`)


class Transaction(msgspec.Struct, frozen=True):
    id: int
    type: str  # reserve, capture, release, refund, topup
    amount: int  # its effect on the wallet, signed minor units (a charge is negative)
    currency: str
    reference: str  # the message id, or the top-up's key
    description: str
    created_at: datetime
    country: str | None
    segments: int | None


class TransactionQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    page_size: PageSize = 50
    cursor: Cursor | None = None


class UsageQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    from_date: When | None = None  # default: the start of the current month (UTC)
    to_date: When | None = None  # default: now
    period: Literal["day", "month"] = "day"
    by: Literal["", "country"] = ""


class UsageRow(msgspec.Struct, frozen=True):
    period_start: datetime
    country: str | None
    messages: int
    segments: int
    cost: int  # minor units


class Usage(msgspec.Struct, frozen=True):
    from_date: datetime
    to_date: datetime
    period: str
    messages: int
    segments: int
    cost: int  # minor units, the period's total
    currency: str
    breakdown: list[UsageRow]


class TopUp(Request, frozen=True):
    amount: Annotated[
        str, Meta(pattern=r"^[0-9]{1,12}(\.[0-9]{1,6})?$", description='decimal units, e.g. "25.00"')
    ]


class TopUpResult(msgspec.Struct, frozen=True):
    applied: bool  # false: this key was used before and nothing moved
    amount: int  # minor units
    balance: int
    currency: str


_DESCRIPTIONS = {
    "reserve": "held for a message", "capture": "message charged", "release": "hold released",
    "refund": "undelivered message refunded", "topup": "top-up",
}  # fmt: skip


async def account_balance(call: Call) -> AccountBalance:
    async with call.ctx.pool.acquire() as conn:
        try:
            return await balance(conn, call.account_id)
        except UnknownAccount:
            raise not_found("account") from None


async def get_balance(call: Call) -> Reply:
    b = await account_balance(call)
    auto = await call.ctx.pool.fetchval(
        "SELECT enabled FROM auto_topup_rules WHERE account_id = $1", call.account_id
    )
    c = b.currency
    return one(
        call,
        Balance(
            balance=to_minor(b.available, c, round_up=False),
            credit_limit=to_minor(b.credit_limit, c, round_up=False),
            available=to_minor(b.available + b.credit_limit, c, round_up=False),
            currency=c,
            low_balance_threshold=to_minor(b.low_threshold or 0, c, round_up=False),
            auto_topup_enabled=bool(auto),
            reserved=to_minor(b.reserved, c, round_up=True),
        ),
    )


async def list_transactions(call: Call) -> Reply:
    q = call.query_as(TransactionQuery)
    currency = (await account_balance(call)).currency
    before = decode_cursor(q.cursor)
    async with call.ctx.pool.acquire() as conn:
        total = await conn.fetchval("SELECT count(*) FROM billing_postings WHERE account_id = $1",
                                    call.account_id)  # fmt: skip
        try:
            cursor = None if before is None else ledger_cursor(before)
            page = await history(conn, call.account_id, limit=q.page_size, cursor=cursor)
        except InvalidCursor:
            raise validation_error("invalid cursor", field="cursor") from None
    items = [
        Transaction(
            id=i.posting_id, type=i.kind.value, amount=to_minor(i.available_delta, currency, round_up=False),
            currency=currency, reference=i.key, description=_DESCRIPTIONS.get(i.kind.value, i.kind.value),
            created_at=i.created_at, country=i.country, segments=i.segments,
        )
        for i in page.items
    ]  # fmt: skip
    more = page.next_cursor is not None
    cursor_out = encode_cursor(page.items[-1].posting_id) if more and page.items else None
    return page_of(call, items, Pagination(total, q.page_size, more, cursor_out))


async def usage_of(call: Call) -> Usage:
    q = call.query_as(UsageQuery)
    now = datetime.now(UTC)
    since = q.from_date or now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    until = q.to_date or now
    currency = (await account_balance(call)).currency
    rows = []
    if until > since:  # a range that holds no time holds no usage
        async with call.ctx.pool.acquire() as conn:
            rows = await usage(
                conn, call.account_id, period=q.period, since=since, until=until, by_country=q.by == "country"
            )
    breakdown = [
        UsageRow(
            r.period_start, r.country, r.messages, r.segments, to_minor(r.charged, currency, round_up=True)
        )
        for r in rows
    ]
    charged = sum(r.charged for r in rows)
    return Usage(
        from_date=since, to_date=until, period=q.period, messages=sum(r.messages for r in rows),
        segments=sum(r.segments for r in rows), cost=to_minor(charged, currency, round_up=True),
        currency=currency, breakdown=breakdown,
    )  # fmt: skip


async def get_usage(call: Call) -> Reply:
    return one(call, await usage_of(call))


async def export_usage(call: Call) -> Reply:
    summary = await usage_of(call)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["period_start", "country", "messages", "segments", "cost", "currency"])
    for r in summary.breakdown:
        writer.writerow([r.period_start.isoformat(), r.country or "", r.messages, r.segments, r.cost,
                         summary.currency])  # fmt: skip
    name = f"usage-{summary.from_date:%Y%m%d}-{summary.to_date:%Y%m%d}.csv"
    headers = {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    return Reply(200, out.getvalue().encode(), headers)


async def topup(call: Call) -> Reply:
    body = call.body_as(TopUp)
    try:
        amount = parse_amount(body.amount)
    except AmountError as exc:
        raise validation_error(str(exc), field="amount") from None
    if amount <= 0:
        raise validation_error("a top-up amount must be positive", field="amount")
    # The ledger is idempotent by key too: with an Idempotency-Key the same top-up can never apply twice,
    # even if the stored HTTP answer were lost.
    idem = call.request.headers.get("idempotency-key")
    key = f"http:{call.account_id}:{idem}" if idem else f"http:{call.account_id}:{secrets.token_hex(12)}"
    async with call.ctx.pool.acquire() as conn:
        try:
            currency = (await balance(conn, call.account_id)).currency
            result = await top_up(conn, call.account_id, amount, key)
        except UnknownAccount:
            raise not_found("account") from None
        except AmountError as exc:
            raise ApiError(400, "VALIDATION_ERROR", str(exc), {"field": "amount"}) from None
    return one(
        call,
        TopUpResult(result.applied, to_minor(amount, currency, round_up=False),
                    to_minor(result.available, currency, round_up=False), currency),
    )  # fmt: skip


R = "billing.read"
OPERATIONS = [
    Operation("GET", "/v1/billing/balance", get_balance, "Current wallet balance + credit limit", R,
              "Billing", responses={200: One[Balance]}),
    Operation("GET", "/v1/billing/transactions", list_transactions, "Transaction history (paginated)", R,
              "Billing", query=TransactionQuery, responses={200: Page[Transaction]}),
    Operation("GET", "/v1/billing/usage", get_usage, "Usage summary (current period)", R, "Billing",
              query=UsageQuery, responses={200: One[Usage]}),
    Operation("GET", "/v1/billing/usage/export", export_usage, "Export usage CSV", R, "Billing",
              query=UsageQuery, responses={200: bytes}, produces={200: "text/csv"}),
    Operation("POST", "/v1/billing/topup", topup, "Add funds (operator permission billing.write)",
              "billing.write", "Billing", body=TopUp, responses={200: One[TopUpResult]}),
]  # fmt: skip
