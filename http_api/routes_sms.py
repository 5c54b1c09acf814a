"""SMS endpoints: send one, preview, read one with its events and receipts, list with filters.

    POST /v1/sms/send      sms.send   202 once durably committed (the engine's acceptor future resolved);
                                      the body as the document's examples (to, from, body) or its sandbox
                                      example (destination, message, sender_id)
    POST /v1/sms/preview   sms.send   what a send would do: nothing sent, nothing stored
    GET  /v1/sms/{id}      sms.read   404 for another account's id, exactly as for an unknown one
    GET  /v1/sms           sms.read   filters and cursor pagination, newest first

Every message goes through `engine.core.intake.prepare` and `engine.acceptor.submit`, the path SMPP uses.
This module must never write to the database itself.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal

from billing import balance
from billing.model import UnknownAccount
from billing.money import to_minor
from engine.core.intake import DEFAULT_PROFILE, PreparedMessage
from engine.core.rejections import Reject, Rejected
from engine.core.status import MoneyState, Status
from http_api.envelopes import One, Page, one, page_of
from http_api.errors import ApiError, Meta, not_found, validation_error
from http_api.messages import (
    DOC_STATUS,
    Template,
    charged,
    engine_statuses,
    message_detail,
    message_out,
    now,
    parse_public_id,
    public_id,
    schedule_window,
    submit_request,
    units,
)
from http_api.operations import ApiContext, Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.routes_templates import template_body
from http_api.schemas import (
    Event,
    ForcedChar,
    MessageOut,
    Preview,
    PreviewSegment,
    Receipt,
    SandboxSendSms,
    SendSms,
    SentSms,
    SmsDetail,
    SmsListQuery,
)
from smpp.text import TextError, explain_text, national_languages_for_country

MAX_DISPATCH_BACKLOG = 500_000  # as the SMPP front door: beyond it, 503 rather than growing memory

_COLUMNS = """id, channel, status, destination, source, segments, encoding, price, currency, client_ref,
batch_id, campaign_id, created_at, updated_at, scheduled_at, expires_at, final_at, error_code, reason, money,
submitted_at, carrier, carrier_ids, part_status, receipt_stat, receipt_err"""
# Sandbox messages are never charged: the accept path stores them with money 'none'.
SANDBOX_FLAG = "money = 'none' AS sandbox"


def admit(ctx: ApiContext) -> None:
    engine = ctx.engine
    if not engine.customers.accepting:
        raise Rejected(Reject.QUEUE_FULL, "the engine is shutting down")
    if engine.dispatcher.backlog >= MAX_DISPATCH_BACKLOG:
        raise Rejected(Reject.QUEUE_FULL, "dispatch backlog full")


async def committed(future: asyncio.Future[Rejected | None]) -> Rejected | None:
    """The acceptor's outcome; a failed commit is a 503 (nothing was stored), never a 500."""
    try:
        return await future
    except Exception as exc:
        return Rejected(Reject.SYSTEM_ERROR, f"commit failed: {exc!r}")


def as_send(body: SendSms | SandboxSendSms) -> SendSms:
    """The sandbox example's field names, read as the send's own."""
    if isinstance(body, SendSms):
        return body
    return SendSms(to=body.destination, from_=body.sender_id, body=body.message, client_ref=body.client_ref)


async def insufficient(call: Call, prepared: PreparedMessage, outcome: Rejected) -> ApiError:
    """The document's INSUFFICIENT_BALANCE: what the message needs and what is there, in minor units."""
    currency = prepared.currency
    async with call.ctx.pool.acquire() as conn:
        try:
            b = await balance(conn, call.account_id)
            available = b.available + b.credit_limit
        except UnknownAccount:
            available = 0
    details = {
        "required": to_minor(prepared.amount, currency, round_up=True),
        "available": to_minor(available, currency, round_up=False),
        "currency": currency,
    }
    message = f"Wallet balance too low to send {prepared.segments} segment(s)"
    return ApiError(422, "INSUFFICIENT_BALANCE", message, details)


async def text_of(call: Call, body: SendSms) -> str:
    """The body as given, or the account's saved template: exactly one of them."""
    if (body.body is None) == (body.template_id is None):
        raise validation_error("give either body or template_id")
    if body.body is not None:
        return body.body
    assert body.template_id is not None
    saved = await template_body(call.ctx.pool, call.account_id, body.template_id)
    if saved is None:
        raise not_found("template")
    return saved


def prepare_one(call: Call, body: SendSms, text: str, at: float) -> PreparedMessage:
    scheduled, expires = schedule_window(body.scheduled_at, body.validity_minutes, at)
    request = submit_request(
        account_id=call.account_id,
        to=body.to,
        source=body.from_,
        text=Template(text).render(body.variables),
        unicode=body.unicode,
        client_ref=body.client_ref,
        scheduled_at=scheduled,
        expires_at=expires,
        sandbox=call.principal.sandbox,
    )
    return call.ctx.engine.intake.prepare(request, at)


async def send_sms(call: Call) -> Reply:
    body = as_send(call.body)
    text = await text_of(call, body)
    at = now()
    admit(call.ctx)
    prepared = prepare_one(call, body, text, at)
    outcome = await committed(call.ctx.engine.acceptor.submit(prepared))
    if outcome is not None:
        if outcome.reject is Reject.INSUFFICIENT_BALANCE:
            raise await insufficient(call, prepared, outcome)
        raise outcome
    sandbox = prepared.request.sandbox
    cost = charged(prepared)
    mid = public_id(prepared.id, sandbox)
    status: Literal["delivered", "queued"] = "delivered" if sandbox else "queued"
    out = MessageOut(
        message_id=mid, id=mid, status=DOC_STATUS[status], status_detail=status,
        to="+" + prepared.destination, from_=body.from_, segments=prepared.segments,
        encoding=prepared.encoding, cost_micros=cost, cost=units(cost), currency=prepared.currency,
        client_ref=body.client_ref, batch_id="", campaign_id=None, sandbox=sandbox,
        created_at=datetime.fromtimestamp(at, UTC), scheduled_at=prepared.request.scheduled_at,
        final_at=datetime.fromtimestamp(at, UTC) if sandbox else None, error_code=None, reason="",
    )  # fmt: skip
    sent = SentSms(mid, mid, out.status, out.segments, cost, units(cost), sandbox, out, Meta(call.request_id))
    return Reply(202, sent)


async def preview_sms(call: Call) -> Reply:
    body = as_send(call.body)
    text = await text_of(call, body)
    at = now()
    # The send path's own prepare (validation, route, price, segment count): the id it draws is
    # simply never used, and nothing is submitted.
    prepared = prepare_one(call, body, text, at)
    link = call.ctx.engine.links.get(prepared.route[0])
    profile = link.profile if link is not None else DEFAULT_PROFILE
    request = prepared.request
    assert request.text is not None
    try:
        explained = explain_text(
            request.text,
            data_coding=request.data_coding,
            national_languages=national_languages_for_country(prepared.country) if prepared.country else (),
            smart_encoding=request.smart_encoding,
            carriage=profile.carriage,
            reference_bits=profile.reference_bits,
        )
    except TextError as exc:  # prepare accepted the same text with the same arguments: cannot happen
        raise Rejected(Reject.INVALID_TEXT, str(exc)) from None
    cost = charged(prepared)
    return one(
        call,
        Preview(
            to="+" + prepared.destination,
            text=explained.text,
            encoding=prepared.encoding,
            data_coding=explained.data_coding,
            characters=explained.characters,
            septets=explained.septets,
            ucs2_units=explained.ucs2_units,
            segments=prepared.segments,
            single_segment_limit=explained.single_segment_limit,
            multi_segment_limit=explained.multi_segment_limit,
            parts=[PreviewSegment(s.text, s.length, s.octets) for s in explained.segments],
            characters_forcing_ucs2=[
                ForcedChar(c.position, c.character, c.code_point) for c in explained.characters_forcing_ucs2
            ],
            price_per_segment_micros=prepared.price,
            cost_micros=cost,
            cost=units(cost),
            currency=prepared.currency,
        ),
    )


async def load_detail(ctx: ApiContext, account_id: int, message_id: int) -> SmsDetail | None:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM messages WHERE id = $1 AND account_id = $2", message_id, account_id
        )
        if row is None:
            return None
    return message_detail(row, history_of(row), receipts_of(row))


def history_of(row: Any) -> list[Event]:
    """A message's history, read off its row (the lean lifecycle writes no event rows)."""
    sandbox = row["money"] == MoneyState.NONE
    events = [Event(row["created_at"], "accepted", "sandbox" if sandbox else row["channel"], None)]
    if row["submitted_at"] is not None:
        events.append(Event(row["submitted_at"], Status.SUBMITTED.value, row["carrier"] or "", None))
    if row["final_at"] is not None:
        by = "sandbox" if sandbox else ("receipt" if row["receipt_stat"] else "dispatch")
        events.append(Event(row["final_at"], row["status"], by, row["error_code"]))
    return events


def receipts_of(row: Any) -> list[Receipt]:
    """One entry per part a carrier accepted: its id, its status, and the final receipt's words."""
    ids = row["carrier_ids"] or []
    states = row["part_status"] or []
    out = []
    for part, carrier_id in enumerate(ids):
        status = states[part] if part < len(states) else row["status"]
        if status == Status.QUEUED:
            status = row["status"]
        final = Status(status).final
        out.append(
            Receipt(part, carrier_id, status, row["receipt_stat"] if final else "",
                    row["receipt_err"] if final else "", row["final_at"] if final else None)
        )  # fmt: skip
    return out


async def get_sms(call: Call) -> Reply:
    message_id = parse_public_id(call.path("id"))
    detail = None if message_id is None else await load_detail(call.ctx, call.account_id, message_id)
    if detail is None:
        raise not_found("message")
    return one(call, detail)


async def list_sms(call: Call) -> Reply:
    q = call.query_as(SmsListQuery)
    where = ["account_id = $1"]
    args: list[Any] = [call.account_id]

    def param(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.format(f"${len(args)}"))

    if q.status is not None:
        param("status = ANY({}::text[])", engine_statuses(q.status))
    if q.to is not None:
        param("destination = {}", q.to.lstrip("+"))
    if q.client_ref is not None:
        if "\x00" in q.client_ref:  # PostgreSQL text cannot hold it: no message has it
            raise validation_error("NUL characters are not allowed", field="client_ref")
        param("client_ref = {}", q.client_ref)
    if q.created_after is not None:
        param("created_at >= {}", q.created_after)
    if q.created_before is not None:
        param("created_at < {}", q.created_before)
    total = await call.ctx.pool.fetchval(f"SELECT count(*) FROM messages WHERE {' AND '.join(where)}", *args)
    before = decode_cursor(q.cursor)
    if before is not None:
        param("id < {}", before)
    args.append(q.page_size + 1)
    sql = (
        f"SELECT {_COLUMNS}, {SANDBOX_FLAG} FROM messages WHERE {' AND '.join(where)} "
        f"ORDER BY id DESC LIMIT ${len(args)}"
    )
    rows = await call.ctx.pool.fetch(sql, *args)
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
    return page_of(call, [message_out(r, r["sandbox"]) for r in page], pagination)


OPERATIONS = [
    Operation("POST", "/v1/sms/send", send_sms, "Send a single SMS message", "sms.send", "SMS",
              body=(SendSms, SandboxSendSms), responses={202: SentSms},
              description="Answered 202 only once the message is durably stored. Takes the document's "
              "fields (to, from, body) or its sandbox example's (destination, message, sender_id)."),
    Operation("POST", "/v1/sms/preview", preview_sms, "Preview encoding, segments and cost", "sms.send",
              "SMS", body=(SendSms, SandboxSendSms), responses={200: One[Preview]}, idempotent=False,
              description="Nothing is sent or stored: the answer a send with this body would be charged."),
    Operation("GET", "/v1/sms/{id}", get_sms, "Get message status + DLR events", "sms.read", "SMS",
              responses={200: One[SmsDetail]}),
    Operation("GET", "/v1/sms", list_sms, "List messages (paginated, filtered)", "sms.read",
              "SMS", query=SmsListQuery, responses={200: Page[MessageOut]}),
]  # fmt: skip
