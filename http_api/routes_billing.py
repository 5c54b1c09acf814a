"""Billing endpoints: balance, transaction history, usage, and an operator top-up.

    GET  /v1/billing/balance        billing.read
    GET  /v1/billing/transactions   billing.read   the ledger's postings, newest first, opaque cursor
    GET  /v1/billing/usage          billing.read   charged messages per day or month, by country/carrier
    POST /v1/billing/topup          billing.write  amount as a decimal string; Idempotency-Key honoured
                                                   (billing.write is never implied by "*": operator keys only)

Every figure comes from the ledger (billing): this module only reads it for the caller's own account
and never shows what a carrier charges us (cost, margin). It must never move money except by top_up.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from billing import balance, history, top_up, usage
from billing.model import InvalidCursor, UnknownAccount
from billing.money import AmountError, parse_amount
from http_api.errors import ApiError, not_found, validation_error
from http_api.messages import money
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Money, Pagination, Request


class Balance(msgspec.Struct, frozen=True):
    available: Money  # what can be spent now (may be negative down to -credit_limit)
    reserved: Money  # held for messages not final yet
    credit_limit: Money
    low_balance_threshold: Money | None
    currency: str


class Transaction(msgspec.Struct, frozen=True):
    id: int
    kind: str  # reserve, capture, release, refund, topup
    reference: str  # the message id, or the top-up key
    amount: Money
    available_delta: int  # micro-units
    reserved_delta: int
    created_at: datetime
    country: str | None
    segments: int | None


class TransactionList(msgspec.Struct, frozen=True):
    data: list[Transaction]
    pagination: Pagination


class TransactionQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    page_size: Annotated[int, Meta(ge=1, le=500)] = 50
    cursor: Annotated[str, Meta(max_length=200)] | None = None


class UsageQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    period: Literal["day", "month"] = "day"
    from_: Annotated[datetime, Meta(tz=True)] | None = msgspec.field(default=None, name="from")
    to: Annotated[datetime, Meta(tz=True)] | None = None
    by: Literal["", "country", "carrier", "country,carrier", "carrier,country"] = ""


class UsageRow(msgspec.Struct, frozen=True):
    period_start: datetime
    country: str | None
    carrier: str | None
    messages: int
    segments: int
    charged: Money


class Usage(msgspec.Struct, frozen=True):
    period: str
    from_: datetime = msgspec.field(name="from")
    to: datetime
    data: list[UsageRow]


class TopUp(Request, frozen=True):
    amount: Annotated[str, Meta(min_length=1, max_length=32, description='decimal units, e.g. "25.00"')]


class TopUpResult(msgspec.Struct, frozen=True):
    applied: bool  # false: this key was used before and nothing moved
    amount: Money
    available: Money


async def get_balance(call: Call) -> Reply:
    async with call.ctx.pool.acquire() as conn:
        try:
            b = await balance(conn, call.account_id)
        except UnknownAccount:
            raise not_found("account") from None
    threshold = None if b.low_threshold is None else money(b.low_threshold, b.currency)
    return Reply(
        200,
        Balance(money(b.available, b.currency), money(b.reserved, b.currency),
                money(b.credit_limit, b.currency), threshold, b.currency),
    )  # fmt: skip


async def _currency(call: Call) -> str:
    async with call.ctx.pool.acquire() as conn:
        try:
            return (await balance(conn, call.account_id)).currency
        except UnknownAccount:
            raise not_found("account") from None


async def list_transactions(call: Call) -> Reply:
    q = call.query_as(TransactionQuery)
    currency = await _currency(call)
    async with call.ctx.pool.acquire() as conn:
        try:
            page = await history(conn, call.account_id, limit=q.page_size, cursor=q.cursor)
        except InvalidCursor:
            raise validation_error("invalid cursor", field="cursor") from None
    items = [
        Transaction(i.posting_id, i.kind.value, i.key, money(i.amount, currency), i.available_delta,
                    i.reserved_delta, i.created_at, i.country, i.segments)
        for i in page.items
    ]  # fmt: skip
    more = page.next_cursor is not None
    return Reply(200, TransactionList(items, Pagination(q.page_size, more, page.next_cursor)))


async def get_usage(call: Call) -> Reply:
    q = call.query_as(UsageQuery)
    now = datetime.now(UTC)
    since = q.from_ or now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    until = q.to or now
    if until <= since:
        raise validation_error("`to` must be after `from`", field="to")
    currency = await _currency(call)
    async with call.ctx.pool.acquire() as conn:
        rows = await usage(
            conn, call.account_id, period=q.period, since=since, until=until,
            by_country="country" in q.by, by_carrier="carrier" in q.by,
        )  # fmt: skip
    data = [
        UsageRow(r.period_start, r.country, r.carrier, r.messages, r.segments, money(r.charged, currency))
        for r in rows
    ]
    return Reply(200, Usage(q.period, since, until, data))


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
    return Reply(200, TopUpResult(result.applied, money(amount, currency), money(result.available, currency)))


OPERATIONS = [
    Operation("GET", "/v1/billing/balance", get_balance, "Current balance and credit limit", "billing.read",
              "Billing", responses={200: Balance}),
    Operation("GET", "/v1/billing/transactions", list_transactions, "Ledger postings (cursor pagination)",
              "billing.read", "Billing", query=TransactionQuery, responses={200: TransactionList}),
    Operation("GET", "/v1/billing/usage", get_usage, "Usage per day or month, by country and/or carrier",
              "billing.read", "Billing", query=UsageQuery, responses={200: Usage}),
    Operation("POST", "/v1/billing/topup", topup, "Add funds (operator permission billing.write)",
              "billing.write", "Billing", body=TopUp, responses={200: TopUpResult}, idempotent=True),
]  # fmt: skip
