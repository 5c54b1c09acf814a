"""Seed 004 WhatsApp rows, thin over the engine's one WhatsApp kind (engine/whatsapp/): the same
templates table and Meta calls, the same send path (WhatsApp.prepare -> the Acceptor's group commit ->
the dispatch loop) as the BulkSMSRates surface's /v1/whatsapp/* (http_api/routes_whatsapp.py).

    GET  /v1/platforms/whatsapp/accounts/{id}/templates      {data, next_cursor}; id: the business
                                                             number's id (GET /v1/whatsapp/accounts)
    GET  /v1/platforms/whatsapp/templates/{id}               one template
    PUT  /v1/platforms/whatsapp/templates/{id}               {components, category?}: edited at Meta,
                                                             PENDING until its review
    POST /v1/platforms/whatsapp/accounts/{id}/send-template  {to, template}: 202 queued
    POST /v1/platforms/whatsapp/phone-numbers/{id}/request-code  {code_method, language}: 200
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.core.ids import format_id
from engine.core.rejections import Reject
from engine.whatsapp.service import SendRequest, WhatsApp, WhatsAppRefused
from http_api.errors import ApiError
from http_api.operations import Call, Operation, Reply
from http_api.routes_sms import admit, committed
from http_api.routes_whatsapp import Language, WaComponent, WaTemplateRef, _template
from http_api.schemas import ClientRef, Phone, Request
from http_api.social_api.common import Cursor, Limit, decode_cursor, fail, operation, page, rfc3339

_CODES = {
    "TEMPLATE_NOT_APPROVED": "whatsapp.template_not_approved",
    "CONVERSATION_WINDOW_CLOSED": "whatsapp.window_closed",
    "WHATSAPP_NOT_CONNECTED": "account.not_found",
    "INVALID_PHONE_NUMBER": "validation.invalid_phone_number",
    "VALIDATION_ERROR": "validation.invalid_request",
    "CONFLICT": "whatsapp.conflict",
    "SERVICE_UNAVAILABLE": "platform.unavailable",
}


class TemplateListing(msgspec.Struct, frozen=True, kw_only=True):
    limit: Limit = 25
    cursor: Cursor | None = None
    status: Literal["PENDING", "APPROVED", "REJECTED", "PAUSED", "DISABLED"] | None = None


class TemplateEdit(Request, frozen=True):
    components: Annotated[list[WaComponent], Meta(min_length=1, max_length=10)]
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"] | None = None


class SendTemplate(Request, frozen=True):
    to: Phone
    template: WaTemplateRef
    client_ref: ClientRef = ""


class RequestCode(Request, frozen=True):
    code_method: Literal["SMS", "VOICE"] = "SMS"
    language: Language = "en"


def _service(call: Call) -> WhatsApp:
    service = call.ctx.engine.whatsapp
    if service is None:
        raise fail(503, "platform.unavailable", "WhatsApp is not configured on this deployment")
    return service


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except WhatsAppRefused as exc:
        raise ApiError(
            exc.status, _CODES.get(exc.code, exc.code.lower()), exc.message, exc.details or {}
        ) from None


def _int(call: Call) -> int:
    raw = call.path("id")
    return int(raw) if raw.isdigit() and len(raw) < 19 else -1


async def _number(call: Call) -> Any:
    row = await call.ctx.pool.fetchrow(
        "SELECT * FROM whatsapp_accounts WHERE id = $1 AND account_id = $2", _int(call), call.account_id
    )
    if row is None:
        raise fail(404, "account.not_found", "no such WhatsApp account")
    return row


def _view(r: Any) -> dict[str, Any]:
    t = msgspec.to_builtins(_template(r))
    assert isinstance(t, dict)
    return t | {"id": r["id"], "created_at": rfc3339(r["created_at"]), "updated_at": rfc3339(r["updated_at"])}


async def list_templates(call: Call) -> Reply:
    number = await _number(call)
    q = call.query_as(TemplateListing)
    rows = await call.ctx.pool.fetch(
        """SELECT * FROM whatsapp_templates WHERE account_id = $1 AND waba_id = $2
           AND ($3::text IS NULL OR status = $3) AND ($4::bigint IS NULL OR id < $4)
           ORDER BY id DESC LIMIT $5""",
        call.account_id,
        number["waba_id"],
        q.status,
        decode_cursor(q.cursor),
        q.limit + 1,
    )
    out = page(list(rows), q.limit, key=lambda r: r["id"])
    out["data"] = [_view(r) for r in out["data"]]
    return Reply(200, out)


async def get_template(call: Call) -> Reply:
    row = await call.ctx.pool.fetchrow(
        "SELECT * FROM whatsapp_templates WHERE id = $1 AND account_id = $2", _int(call), call.account_id
    )
    if row is None:
        raise fail(404, "template.not_found", "no such template")
    return Reply(200, _view(row))


async def edit_template(call: Call) -> Reply:
    body = call.body_as(TemplateEdit)
    with _refusals():
        row = await _service(call).edit_template(
            call.account_id, _int(call), msgspec.to_builtins(body.components), body.category
        )
    if row is None:
        raise fail(404, "template.not_found", "no such template")
    return Reply(200, _view(row))


async def send_template(call: Call) -> Reply:
    number = await _number(call)
    body = call.body_as(SendTemplate)
    service = _service(call)
    admit(call.ctx)
    language = body.template.language
    request = SendRequest(
        to=body.to,
        type="template",
        template_name=body.template.name,
        template_language=language if isinstance(language, str) else language.code,
        components=msgspec.to_builtins(body.template.components),
        sender=number["phone_number_id"],
        client_ref=body.client_ref or None,
        sandbox=call.principal.sandbox,
    )
    with _refusals():
        prepared = await service.prepare(call.account_id, request)
    outcome = await committed(call.ctx.engine.acceptor.submit(prepared))
    if outcome is not None:
        if outcome.reject is Reject.INSUFFICIENT_BALANCE:
            raise fail(402, "billing.insufficient_balance", "wallet balance too low to send this message")
        raise outcome
    return Reply(
        202,
        {
            "message_id": format_id(prepared.id),
            "status": "delivered" if prepared.sandbox else "queued",
            "to": "+" + prepared.destination,
            "template": prepared.template_name,
            "category": prepared.category,
            "phone_number_id": prepared.phone_number_id,
            "cost_micros": 0 if prepared.sandbox else prepared.amount,
            "currency": prepared.currency,
            "client_ref": body.client_ref or None,
        },
    )


async def request_code(call: Call) -> Reply:
    body = call.body_as(RequestCode) if call.body is not None else RequestCode()
    with _refusals():
        found = await _service(call).request_code(
            call.account_id, call.path("id"), body.code_method, body.language
        )
    if not found:
        raise fail(404, "phone_number.not_found", "no such WhatsApp phone number")
    return Reply(200, {"success": True, "code_method": body.code_method})


def _op(method: str, path: str, handler: Any, summary: str, permission: str, **more: Any) -> Operation:
    return operation(method, path, handler, summary, permission, "WhatsApp", **more)


_P = "/v1/platforms/whatsapp"
_M, _S = "templates.manage", "whatsapp.send"
OPERATIONS = [
    _op(
        "GET",
        _P + "/accounts/{id}/templates",
        list_templates,
        "A WhatsApp account's templates",
        _M,
        query=TemplateListing,
    ),
    _op("GET", _P + "/templates/{id}", get_template, "Get a template", _M),
    _op("PUT", _P + "/templates/{id}", edit_template, "Edit a template", _M, body=TemplateEdit),
    _op(
        "POST",
        _P + "/accounts/{id}/send-template",
        send_template,
        "Send a template message",
        _S,
        body=SendTemplate,
        ok=202,
    ),
    _op(
        "POST",
        _P + "/phone-numbers/{id}/request-code",
        request_code,
        "Request the number's verification code",
        "settings.manage",
        body=RequestCode,
        body_required=False,
    ),
]
