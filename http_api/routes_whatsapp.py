"""WhatsApp Business: the eight rows of the BulkSMSRates document, over engine/whatsapp/.

    POST   /v1/whatsapp/send              whatsapp.send     202 once durably accepted (same group commit and
                                                            ledger hold as SMS); template or text
    GET    /v1/whatsapp/templates         templates.manage  the account's templates and their Meta states
    POST   /v1/whatsapp/templates         templates.manage  201, PENDING until Meta's review says otherwise
    DELETE /v1/whatsapp/templates/{name}  templates.manage  every language of the template, at Meta and here
    GET    /v1/whatsapp/messages/{id}     whatsapp.send     one message's life (not a row of the document:
                                                            a Twilio/Vonage user expects to read a status)
    GET    /v1/whatsapp/conversations     whatsapp.send     customer service windows open now (24 h)
    GET    /v1/whatsapp/accounts          whatsapp.send     the business numbers connected to the account
    GET    /v1/whatsapp/webhook           (Meta)            hub verification: hub.challenge echoed as text
    POST   /v1/whatsapp/webhook           (Meta)            signed events: X-Hub-Signature-256 verified first

Refusals: 422 TEMPLATE_NOT_APPROVED (only APPROVED templates are sent), 422 CONVERSATION_WINDOW_CLOSED
(free-form outside the customer service window: use a template), 422 WHATSAPP_NOT_CONNECTED, 422
INSUFFICIENT_BALANCE, 400 INVALID_PHONE_NUMBER; 503 when the deployment has no Cloud API access token.
This module must never call Meta nor write a message itself: the engine's WhatsApp service does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from billing import balance
from billing.model import UnknownAccount
from billing.money import to_minor
from engine.core.ids import format_id, parse_id
from engine.core.rejections import Reject
from engine.whatsapp.inbound import InvalidPayload, parse_payload, verify_signature
from engine.whatsapp.schema import PreparedWhatsApp
from engine.whatsapp.service import SendRequest, WhatsApp, WhatsAppRefused
from http_api.envelopes import Cursor, One, Page, PageQuery, PageSize, offset_page, one, page_of
from http_api.errors import ApiError, not_found
from http_api.messages import units
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.routes_sms import admit, committed
from http_api.schemas import ClientRef, Phone, Request

SEND, MANAGE, T = "whatsapp.send", "templates.manage", "WhatsApp"

TemplateName = Annotated[
    str, Meta(pattern=r"^[a-z0-9_]{1,512}$", description="lower-case letters, digits and underscores")
]
Language = Annotated[
    str, Meta(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$", description="a Meta language code: en, en_US, pt_BR ...")
]
TextBody = Annotated[str, Meta(min_length=1, max_length=4096)]
Sender = Annotated[
    str,
    Meta(
        pattern=r"^\+?[0-9]{1,20}$", description="a phone_number_id or the business number (default: first)"
    ),
]
Short = Annotated[str, Meta(max_length=1024)]
Link = Annotated[str, Meta(max_length=2048, pattern=r"^https?://[^\x00-\x20]+$")]


class _Part(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Base of the parts of Meta's template components (fields left out are left out at Meta too)."""


class WaMedia(_Part, frozen=True):
    link: Link
    filename: Short | None = None


class WaCurrency(_Part, frozen=True):
    fallback_value: Short
    code: Annotated[str, Meta(pattern=r"^[A-Z]{3}$")]
    amount_1000: int


class WaDateTime(_Part, frozen=True):
    fallback_value: Short


class WaParameter(_Part, frozen=True):
    """One value of a template send: {"type": "text", "text": "Alice"} and Meta's other kinds."""

    type: Literal["text", "currency", "date_time", "image", "document", "video", "payload", "coupon_code"]
    text: Annotated[str, Meta(max_length=4096)] | None = None
    parameter_name: Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,64}$")] | None = None
    payload: Short | None = None
    coupon_code: Short | None = None
    currency: WaCurrency | None = None
    date_time: WaDateTime | None = None
    image: WaMedia | None = None
    document: WaMedia | None = None
    video: WaMedia | None = None


class WaSendComponent(_Part, frozen=True):
    """A component's values in a send: {"type": "body", "parameters": [...]} (buttons: sub_type, index)."""

    type: Literal["header", "body", "button"]
    sub_type: Literal["quick_reply", "url", "copy_code"] | None = None
    index: Annotated[int, Meta(ge=0, le=9)] | None = None
    parameters: Annotated[list[WaParameter], Meta(max_length=100)] = msgspec.field(default_factory=list)


class WaExample(_Part, frozen=True):
    header_text: list[Short] | None = None
    body_text: list[list[Short]] | None = None
    header_handle: list[Short] | None = None


class WaButton(_Part, frozen=True):
    type: Literal["QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE"]
    text: Short
    url: Link | None = None
    phone_number: Phone | None = None
    example: list[Short] | None = None


class WaComponent(_Part, frozen=True):
    """A component of a template as submitted to Meta: HEADER, BODY ({{1}} placeholders), FOOTER, BUTTONS."""

    type: Literal["HEADER", "BODY", "FOOTER", "BUTTONS"]
    format: Literal["TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION"] | None = None
    text: Annotated[str, Meta(max_length=1024)] | None = None
    example: WaExample | None = None
    buttons: Annotated[list[WaButton], Meta(max_length=10)] | None = None


class WaLanguage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Language
    policy: Literal["deterministic"] = "deterministic"


class WaTemplateRef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: TemplateName
    language: Language | WaLanguage  # the document's "en", or Meta's {"code": "en"}
    components: Annotated[list[WaSendComponent], Meta(max_length=10)] = msgspec.field(default_factory=list)


class WaText(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    body: TextBody
    preview_url: bool = False


class WaSendTemplate(Request, frozen=True):
    """A template message: to anyone, at any time; the template must be APPROVED."""

    to: Phone
    type: Literal["template"]
    template: WaTemplateRef
    from_: Sender | None = msgspec.field(default=None, name="from")
    client_ref: ClientRef = ""


class WaSendText(Request, frozen=True):
    """A free-form (session) message: only within 24 hours of the customer's last message."""

    to: Phone
    type: Literal["text"]
    text: WaText
    from_: Sender | None = msgspec.field(default=None, name="from")
    client_ref: ClientRef = ""


class WhatsAppSent(msgspec.Struct, frozen=True):
    message_id: str
    id: str
    status: Literal["queued", "delivered"]  # delivered: the sandbox, never sent
    to: str
    type: Literal["template", "text"]
    template: str | None
    category: str
    phone_number_id: str
    cost_micros: int
    cost: float
    currency: str
    client_ref: str
    sandbox: bool
    created_at: datetime


WaStatus = Literal["queued", "sent", "delivered", "read", "failed"]
_STATUS_OF: dict[str, WaStatus] = {
    "queued": "queued", "sending": "queued", "submitted": "sent", "delivered": "delivered",
}  # fmt: skip


class WaMessage(msgspec.Struct, frozen=True):
    message_id: str
    status: WaStatus  # Meta's words: sent (to WhatsApp), delivered, read; failed for every other end
    status_detail: Literal[
        "queued", "sending", "submitted", "delivered", "undeliverable", "rejected", "failed", "expired"
    ]
    wamid: str | None
    to: str
    phone_number_id: str
    type: Literal["template", "text"]
    template: str | None
    category: str
    cost_micros: int
    currency: str
    client_ref: str
    sandbox: bool
    created_at: datetime
    submitted_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    final_at: datetime | None
    error_code: int | None
    reason: str


class WaTemplateCreate(Request, frozen=True):
    name: TemplateName
    language: Language
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"]
    components: Annotated[list[WaComponent], Meta(min_length=1, max_length=10)]


TemplateStatus = Literal["PENDING", "APPROVED", "REJECTED", "PAUSED", "DISABLED"]


class WaTemplate(msgspec.Struct, frozen=True):
    id: str
    name: str
    language: str
    category: str
    status: TemplateStatus
    rejected_reason: str | None
    components: list[WaComponent]
    meta_template_id: str
    created_at: datetime
    updated_at: datetime


class WaTemplateQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    status: TemplateStatus | None = None
    name: TemplateName | None = None
    page_size: PageSize = 50
    cursor: Cursor | None = None


class WaTemplateDeleted(msgspec.Struct, frozen=True):
    name: str
    deleted: bool
    languages: int


class WaConversation(msgspec.Struct, frozen=True):
    wa_id: str  # the customer, E.164 with '+'
    phone_number_id: str
    profile_name: str
    last_inbound_at: datetime
    expires_at: datetime  # free-form messages are allowed until then
    last_message: str
    inbound_count: int


class WaAccount(msgspec.Struct, frozen=True):
    id: str
    waba_id: str
    phone_number_id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str
    status: str
    created_at: datetime


class WaHubQuery(msgspec.Struct, frozen=True, kw_only=True):
    mode: Literal["subscribe"] = msgspec.field(name="hub.mode")
    verify_token: Annotated[str, Meta(max_length=256)] = msgspec.field(name="hub.verify_token")
    challenge: Annotated[str, Meta(min_length=1, max_length=256)] = msgspec.field(name="hub.challenge")


class WaWebhookAck(msgspec.Struct, frozen=True):
    received: bool
    messages: int
    statuses: int
    templates: int


# ---------------------------------------------------------------------------------------------- helpers


def _service(call: Call) -> WhatsApp:
    service = call.ctx.engine.whatsapp
    if service is None:
        raise ApiError(503, "SERVICE_UNAVAILABLE", "WhatsApp is not configured on this deployment")
    return service


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except WhatsAppRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.details) from None


async def _insufficient(call: Call, prepared: PreparedWhatsApp) -> ApiError:
    async with call.ctx.pool.acquire() as conn:
        try:
            b = await balance(conn, call.account_id)
            available = b.available + b.credit_limit
        except UnknownAccount:
            available = 0
    currency = prepared.currency
    return ApiError(422, "INSUFFICIENT_BALANCE", "Wallet balance too low to send this WhatsApp message", {
        "required": to_minor(prepared.amount, currency, round_up=True),
        "available": to_minor(available, currency, round_up=False), "currency": currency,
    })  # fmt: skip


# ---------------------------------------------------------------------------------------------- handlers


async def send_whatsapp(call: Call) -> Reply:
    body = call.body
    service = _service(call)
    admit(call.ctx)
    if isinstance(body, WaSendTemplate):
        language = body.template.language
        request = SendRequest(
            to=body.to, type="template", template_name=body.template.name,
            template_language=language if isinstance(language, str) else language.code,
            components=msgspec.to_builtins(body.template.components), sender=body.from_,
            client_ref=body.client_ref or None, sandbox=call.principal.sandbox,
        )  # fmt: skip
    else:
        assert isinstance(body, WaSendText)
        request = SendRequest(
            to=body.to, type="text", text=body.text.body, preview_url=body.text.preview_url,
            sender=body.from_, client_ref=body.client_ref or None, sandbox=call.principal.sandbox,
        )  # fmt: skip
    with _refusals():
        prepared = await service.prepare(call.account_id, request)
    outcome = await committed(call.ctx.engine.acceptor.submit(prepared))
    if outcome is not None:
        if outcome.reject is Reject.INSUFFICIENT_BALANCE:
            raise await _insufficient(call, prepared)
        raise outcome
    mid = format_id(prepared.id)
    cost = 0 if prepared.sandbox else prepared.amount
    sent = WhatsAppSent(
        message_id=mid, id=mid, status="delivered" if prepared.sandbox else "queued",
        to="+" + prepared.destination, type="template" if prepared.type == "template" else "text",
        template=prepared.template_name, category=prepared.category,
        phone_number_id=prepared.phone_number_id, cost_micros=cost, cost=units(cost),
        currency=prepared.currency, client_ref=body.client_ref, sandbox=prepared.sandbox,
        created_at=datetime.now(UTC),
    )  # fmt: skip
    return one(call, sent, 202)


def _template(r: Any) -> WaTemplate:
    raw = r["components"]
    components = msgspec.json.decode(
        raw if isinstance(raw, str) else msgspec.json.encode(raw), type=list[WaComponent]
    )
    return WaTemplate(
        str(r["id"]), r["name"], r["language"], r["category"], r["status"], r["reason"] or None, components,
        r["meta_id"], r["created_at"], r["updated_at"],
    )  # fmt: skip


async def list_templates(call: Call) -> Reply:
    q = call.query_as(WaTemplateQuery)
    where = "account_id = $1"
    args: list[Any] = [call.account_id]
    if q.status is not None:
        args.append(q.status)
        where += f" AND status = ${len(args)}"
    if q.name is not None:
        args.append(q.name)
        where += f" AND name = ${len(args)}"
    total = await call.ctx.pool.fetchval(f"SELECT count(*) FROM whatsapp_templates WHERE {where}", *args)
    before = decode_cursor(q.cursor)
    if before is not None:
        args.append(before)
        where += f" AND id < ${len(args)}"
    args.append(q.page_size + 1)
    rows = await call.ctx.pool.fetch(
        f"SELECT * FROM whatsapp_templates WHERE {where} ORDER BY id DESC LIMIT ${len(args)}", *args
    )
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
    return page_of(call, [_template(r) for r in page], pagination)


async def create_template(call: Call) -> Reply:
    body = call.body_as(WaTemplateCreate)
    with _refusals():
        row = await _service(call).create_template(
            call.account_id, body.name, body.language, body.category, msgspec.to_builtins(body.components)
        )
    return one(call, _template(row), 201)


async def delete_template(call: Call) -> Reply:
    name = call.path("name")
    with _refusals():
        deleted = await _service(call).delete_template(call.account_id, name)
    if not deleted:
        raise not_found("template")
    return one(call, WaTemplateDeleted(name, True, deleted))


async def list_conversations(call: Call) -> Reply:
    q = call.query_as(PageQuery)
    hours = call.ctx.engine.settings.whatsapp.window_hours
    rows = await call.ctx.pool.fetch(
        "SELECT *, last_inbound_at + make_interval(secs => $2) AS expires_at FROM whatsapp_conversations"
        " WHERE account_id = $1 AND last_inbound_at > now() - make_interval(secs => $2)"
        " ORDER BY last_inbound_at DESC, wa_id",
        call.account_id, hours * 3600.0,
    )  # fmt: skip
    page, pagination = offset_page(rows, q)
    items = [
        WaConversation(
            "+" + r["wa_id"],
            r["phone_number_id"],
            r["profile_name"],
            r["last_inbound_at"],
            r["expires_at"],
            r["last_message"],
            r["inbound_count"],
        )
        for r in page
    ]
    return page_of(call, items, pagination)


async def list_accounts(call: Call) -> Reply:
    q = call.query_as(PageQuery)
    rows = await call.ctx.pool.fetch(
        "SELECT * FROM whatsapp_accounts WHERE account_id = $1 ORDER BY id", call.account_id
    )
    page, pagination = offset_page(rows, q)
    items = [
        WaAccount(
            str(r["id"]),
            r["waba_id"],
            r["phone_number_id"],
            "+" + r["display_phone_number"].lstrip("+"),
            r["verified_name"],
            r["quality_rating"],
            r["status"],
            r["created_at"],
        )
        for r in page
    ]
    return page_of(call, items, pagination)


async def get_message(call: Call) -> Reply:
    message_id = parse_id(call.path("id"))
    row = None
    if message_id is not None:
        row = await call.ctx.pool.fetchrow(
            "SELECT * FROM whatsapp_messages WHERE id = $1 AND account_id = $2", message_id, call.account_id
        )
    if row is None:
        raise not_found("message")
    detail = row["status"]
    status: WaStatus = (
        "read" if detail == "delivered" and row["read_at"] else _STATUS_OF.get(detail, "failed")
    )
    sandbox = row["money"] == "none"
    return one(call, WaMessage(
        format_id(row["id"]), status, detail, row["wamid"], "+" + row["destination"], row["phone_number_id"],
        row["type"], row["template_name"], row["category"], 0 if sandbox else row["amount"],
        row["currency"].strip(), row["client_ref"] or "", sandbox, row["created_at"], row["submitted_at"],
        row["delivered_at"], row["read_at"], row["final_at"], row["error_code"], row["reason"],
    ))  # fmt: skip


async def verify_webhook(call: Call) -> Reply:
    q = call.query_as(WaHubQuery)
    expected = call.ctx.engine.settings.whatsapp.verify_token
    if not expected or q.verify_token != expected:
        raise ApiError(403, "FORBIDDEN", "hub.verify_token does not match")
    return Reply(200, q.challenge.encode(), {"Content-Type": "text/plain; charset=utf-8"})


async def receive_webhook(call: Call) -> Reply:
    secret = call.ctx.engine.settings.whatsapp.app_secret
    if not verify_signature(secret, call.raw, call.request.headers.get("x-hub-signature-256")):
        raise ApiError(401, "UNAUTHORIZED", "X-Hub-Signature-256 is missing or does not sign this body")
    inbound = call.ctx.engine.whatsapp_inbound
    assert inbound is not None
    try:
        batch = parse_payload(msgspec.json.decode(call.raw))
    except (msgspec.DecodeError, InvalidPayload) as exc:
        raise ApiError(400, "VALIDATION_ERROR", f"not a WhatsApp webhook: {exc}") from None
    counts = await inbound.handle(batch)
    return one(call, WaWebhookAck(True, counts["messages"], counts["statuses"], counts["templates"]))


OPERATIONS = [
    Operation("POST", "/v1/whatsapp/send", send_whatsapp, "Send a WhatsApp message", SEND, T,
              body=(WaSendTemplate, WaSendText), responses={202: One[WhatsAppSent]},
              description="A template message (type template, APPROVED templates only) or, within 24 hours "
              "of the customer's last message, a free-form one (type text); else 422 "
              "CONVERSATION_WINDOW_CLOSED. Statuses come as whatsapp.message webhook events."),
    Operation("GET", "/v1/whatsapp/templates", list_templates, "List approved message templates", MANAGE, T,
              query=WaTemplateQuery, responses={200: Page[WaTemplate]},
              description="Every template with its Meta state; status=APPROVED lists those that can be "
              "sent."),
    Operation("POST", "/v1/whatsapp/templates", create_template,
              "Create a new template (pending Meta approval)", MANAGE, T, body=WaTemplateCreate,
              responses={201: One[WaTemplate]}),
    Operation("DELETE", "/v1/whatsapp/templates/{name}", delete_template, "Delete a template", MANAGE, T,
              responses={200: One[WaTemplateDeleted]}),
    Operation("GET", "/v1/whatsapp/messages/{id}", get_message, "Get a WhatsApp message's status", SEND, T,
              responses={200: One[WaMessage]},
              description="Not a row of the document: the message's life as Meta's statuses moved it."),
    Operation("GET", "/v1/whatsapp/conversations", list_conversations, "List active 24h conversations",
              SEND, T, query=PageQuery, responses={200: Page[WaConversation]}),
    Operation("GET", "/v1/whatsapp/accounts", list_accounts, "List connected WhatsApp Business accounts",
              SEND, T, query=PageQuery, responses={200: Page[WaAccount]}),
    Operation("GET", "/v1/whatsapp/webhook", verify_webhook, "Meta webhook hub verification", None, T,
              query=WaHubQuery, responses={200: bytes}, produces={200: "text/plain"}, public=True,
              description="Answers hub.challenge as text when hub.verify_token is whatsapp.verify_token; "
              "else 403."),
    Operation("POST", "/v1/whatsapp/webhook", receive_webhook, "Receive inbound WhatsApp events", None, T,
              responses={200: One[WaWebhookAck]}, public=True, idempotent=False, public_limit=(1000.0, 2000),
              security=[{"MetaSignature": []}], content={"application/json": {"type": "object"}},
              description="Meta's signed events: X-Hub-Signature-256 = sha256=HMAC-SHA256(app secret, raw "
              "body), else 401. Inbound messages, statuses and template reviews."),
]  # fmt: skip
