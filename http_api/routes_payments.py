"""Billing through the payment provider: invoices (with their PDF), checkout sessions, auto top-up.

    GET  /v1/billing/invoices            billing.read    one per paid top-up, newest first (paginated)
    GET  /v1/billing/invoices/{id}       billing.read
    GET  /v1/billing/invoices/{id}/pdf   billing.read    application/pdf
    POST /v1/billing/checkout            billing.topup   201 {id, url, amount, currency, status}: pay at url
    POST /v1/billing/auto-topup          billing.topup   {enabled, threshold, amount} (minor units)
    POST /v1/billing/stripe/webhook      (Stripe)        signed events; a paid session tops the wallet up

Money comes in only through engine.payments.Payments (the one service; the ledger is topped up when the
provider's verified event says paid). Amounts are integer minor units of the account's currency. The
invoice PDF is rendered by engine.payments.invoice_pdf with the account's profile as "bill to". This
module never trusts a webhook the provider's signature does not verify.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from billing.money import from_minor, to_minor
from engine.payments.invoice_pdf import InvoiceDocument, InvoiceLine, render_invoice_pdf
from engine.payments.provider import InvalidEvent, PaymentError
from engine.payments.service import MAX_TOPUP_MINOR, MIN_TOPUP_MINOR, InvalidAmount, NotConfigured, Payments
from http_api.envelopes import One, Page, PageQuery, one, page_of
from http_api.errors import ApiError, not_found, validation_error
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.routes_billing import account_balance
from http_api.routes_contacts import path_id
from http_api.routes_settings import profile_row
from http_api.schemas import Request

R, W, T = "billing.read", "billing.topup", "Billing"
DEFAULT_AUTO_TOPUP_MINOR = 2_000
TopUpMinor = Annotated[
    int,
    Meta(ge=MIN_TOPUP_MINOR, le=MAX_TOPUP_MINOR, description="minor units (500 = 5.00), 500 to 1,000,000"),
]
ReturnUrl = Annotated[str, Meta(max_length=2048, pattern=r"^$|^https?://[^\x00-\x20]+$")]


class InvoiceLineOut(msgspec.Struct, frozen=True):
    description: str
    quantity: int
    unit_amount: int
    amount: int


class Invoice(msgspec.Struct, frozen=True):
    id: int
    number: str
    status: Literal["paid", "void"]
    currency: str
    subtotal: int  # minor units
    tax: int
    total: int
    lines: list[InvoiceLineOut]
    payment_id: int
    issued_at: datetime
    pdf_url: str


class CheckoutIn(Request, frozen=True):
    amount: TopUpMinor
    success_url: ReturnUrl = ""
    cancel_url: ReturnUrl = ""


class CheckoutOut(msgspec.Struct, frozen=True):
    id: str  # the provider's session id
    payment_id: int
    url: str  # send the customer here to pay
    amount: int
    currency: str
    status: Literal["open", "paid", "failed", "expired"]
    created_at: datetime


class AutoTopUpIn(Request, frozen=True):
    enabled: bool
    threshold: Annotated[int, Meta(ge=0, le=10**12, description="top up when the balance falls below")] = 0
    amount: TopUpMinor | None = None  # what to buy each time; kept when left out (a new rule: 2000)


class AutoTopUpOut(msgspec.Struct, frozen=True):
    enabled: bool
    threshold: int
    amount: int
    currency: str
    card: str | None  # "visa 4242" once a checkout saved one; auto top-up waits for it
    last_error: str


class WebhookAck(msgspec.Struct, frozen=True):
    received: bool
    outcome: str


_INVOICE = "id, number, status, currency, subtotal, tax, total, lines, payment_id, issued_at"


def _invoice(r: Any) -> Invoice:
    lines = [InvoiceLineOut(**line) for line in json.loads(r["lines"])]
    return Invoice(r["id"], r["number"], r["status"], r["currency"].strip(), r["subtotal"], r["tax"],
                   r["total"],
                   lines, r["payment_id"], r["issued_at"], f"/v1/billing/invoices/{r['id']}/pdf")  # fmt: skip


def _payments(call: Call) -> Payments:
    payments = call.ctx.engine.payments
    if payments is None or payments.provider is None:
        raise ApiError(503, "SERVICE_UNAVAILABLE", "payments are not configured on this deployment")
    return payments


async def list_invoices(call: Call) -> Reply:
    q = call.query_as(PageQuery)
    before = decode_cursor(q.cursor)
    total = await call.ctx.pool.fetchval(
        "SELECT count(*) FROM invoices WHERE account_id = $1", call.account_id
    )
    rows = await call.ctx.pool.fetch(
        f"""SELECT {_INVOICE} FROM invoices WHERE account_id = $1 AND ($2::bigint IS NULL OR id < $2)
        ORDER BY id DESC LIMIT $3""",
        call.account_id, before, q.page_size + 1,
    )  # fmt: skip
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
    return page_of(call, [_invoice(r) for r in page], pagination)


async def _owned_invoice(call: Call) -> Invoice:
    invoice_id = path_id(call, "id", "invoice")
    row = await call.ctx.pool.fetchrow(
        f"SELECT {_INVOICE} FROM invoices WHERE id = $1 AND account_id = $2", invoice_id, call.account_id
    )
    if row is None:
        raise not_found("invoice")
    return _invoice(row)


async def get_invoice(call: Call) -> Reply:
    return one(call, await _owned_invoice(call))


async def invoice_pdf(call: Call) -> Reply:
    invoice = await _owned_invoice(call)
    profile = await profile_row(call.ctx.pool, call.account_id)
    bill_to = [profile["company"] or profile["display_name"] or profile["name"]]
    bill_to += [line for line in profile["address"].splitlines() if line.strip()]
    bill_to += [f"VAT {profile['vat_number']}"] if profile["vat_number"] else []
    bill_to += [profile["email"]] if profile["email"] else []
    seller = call.ctx.engine.settings.payments.seller.split("|")
    doc = InvoiceDocument(
        number=invoice.number, issued_at=invoice.issued_at, status=invoice.status, currency=invoice.currency,
        seller=seller, bill_to=bill_to,
        lines=[InvoiceLine(x.description, x.quantity, x.unit_amount, x.amount) for x in invoice.lines],
        subtotal=invoice.subtotal, tax=invoice.tax, total=invoice.total,
    )  # fmt: skip
    headers = {
        "Content-Type": "application/pdf",
        "Content-Disposition": f'inline; filename="{invoice.number}.pdf"',
    }
    return Reply(200, render_invoice_pdf(doc), headers)


async def create_checkout(call: Call) -> Reply:
    body = call.body_as(CheckoutIn)
    payments = _payments(call)
    try:
        p = await payments.create_checkout(
            call.account_id, body.amount, success_url=body.success_url, cancel_url=body.cancel_url
        )
    except InvalidAmount as exc:
        raise validation_error(str(exc), field="amount") from None
    except (PaymentError, NotConfigured) as exc:
        raise ApiError(503, "SERVICE_UNAVAILABLE", str(exc)) from None
    out = CheckoutOut(p.provider_ref, p.id, p.url, p.amount_minor, p.currency, p.status, p.created_at)  # type: ignore[arg-type]
    return one(call, out, 201)


_RULE = """SELECT r.enabled, r.threshold, r.amount, r.last_error, c.card_brand, c.card_last4, c.payment_method
FROM auto_topup_rules r LEFT JOIN payment_customers c ON c.account_id = r.account_id
WHERE r.account_id = $1"""


async def configure_auto_topup(call: Call) -> Reply:
    body = call.body_as(AutoTopUpIn)
    currency = (await account_balance(call)).currency
    amount = from_minor(body.amount or DEFAULT_AUTO_TOPUP_MINOR, currency)
    await call.ctx.pool.execute(
        """INSERT INTO auto_topup_rules (account_id, enabled, threshold, amount) VALUES ($1, $2, $3, $4)
        ON CONFLICT (account_id) DO UPDATE SET enabled = $2, threshold = $3,
            amount = CASE WHEN $5 THEN $4 ELSE auto_topup_rules.amount END, updated_at = now(),
            last_error = CASE WHEN $2 THEN '' ELSE auto_topup_rules.last_error END,
            last_failed_at = CASE WHEN $2 THEN NULL ELSE auto_topup_rules.last_failed_at END""",
        call.account_id, body.enabled, from_minor(body.threshold, currency), amount, body.amount is not None,
    )  # fmt: skip
    row = await call.ctx.pool.fetchrow(_RULE, call.account_id)
    assert row is not None
    payments = call.ctx.engine.payments
    if payments is not None and body.enabled:
        payments.wake()  # already below the threshold: top up now
    card = f"{row['card_brand']} {row['card_last4']}".strip() if row["payment_method"] else None
    return one(
        call,
        AutoTopUpOut(row["enabled"], to_minor(row["threshold"], currency, round_up=False),
                     to_minor(row["amount"], currency, round_up=False), currency, card or None,
                     row["last_error"]),
    )  # fmt: skip


async def stripe_webhook(call: Call) -> Reply:
    payments = _payments(call)
    try:
        outcome = await payments.handle_event(call.raw, call.request.headers.get("stripe-signature"))
    except InvalidEvent as exc:  # the signature is the caller's credential: without a good one, who is it?
        raise ApiError(401, "UNAUTHORIZED", f"invalid Stripe event: {exc}") from None
    except PaymentError as exc:  # Stripe retries the event later: nothing was settled
        raise ApiError(503, "SERVICE_UNAVAILABLE", str(exc)) from None
    return one(call, WebhookAck(True, outcome))


OPERATIONS = [
    Operation("GET", "/v1/billing/invoices", list_invoices, "List invoices", R, T, query=PageQuery,
              responses={200: Page[Invoice]}),
    Operation("GET", "/v1/billing/invoices/{id}", get_invoice, "Get invoice details", R, T,
              responses={200: One[Invoice]}),
    Operation("GET", "/v1/billing/invoices/{id}/pdf", invoice_pdf, "Download invoice PDF", R, T,
              responses={200: bytes}, produces={200: "application/pdf"}),
    Operation("POST", "/v1/billing/checkout", create_checkout, "Create Stripe checkout session", W, T,
              body=CheckoutIn, responses={201: One[CheckoutOut]},
              description="The wallet is topped up (and an invoice issued) when Stripe reports the session "
              "paid; the card is kept for auto top-up."),
    Operation("POST", "/v1/billing/auto-topup", configure_auto_topup, "Configure auto top-up rules", W, T,
              body=AutoTopUpIn, responses={200: One[AutoTopUpOut]},
              description="Below `threshold` (minor units) the card a checkout saved is charged `amount`."),
    Operation("POST", "/v1/billing/stripe/webhook", stripe_webhook, "Stripe events (signed)", None, T,
              responses={200: One[WebhookAck]}, public=True, idempotent=False,
              security=[{"StripeSignature": []}],
              content={"application/json": {"type": "object"}},
              description="Verified with the Stripe-Signature header (payments.stripe_webhook_secret)."),
]  # fmt: skip
