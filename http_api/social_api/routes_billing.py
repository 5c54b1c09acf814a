"""Seed 004 Billing: the workspace's plan bought through the one payments service (engine/payments/,
Stripe's adapter; the Stripe stand-in in tests and the demo).

    POST /v1/billing/checkout          {plan, success_url?, cancel_url?}: 201 {session_id, url, plan,
                                       amount, currency, status}: pay at url
    GET  /v1/billing/checkout/status   ?session_id: {session_id, status, plan, ...}; once the payment is
                                       paid the workspace is on the plan (its storage quota with it)
    POST /v1/billing/portal            {return_url?}: 200 {url} of Stripe's customer portal; 409
                                       billing.no_customer before a first paid checkout

What a checkout pays for is the plan's first month, credited to the workspace's wallet on the one
ledger by `Payments.settle` when Stripe's signed event says paid (so `smsengine ledger check` sees it
like any top-up); the plan switches when the status is read after that.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.payments.provider import PaymentError
from engine.payments.service import InvalidAmount, NotConfigured, Payments
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request
from http_api.social_api.common import fail, operation, rfc3339

PLAN_PRICES_MINOR = {"pro": 2_900, "business": 9_900}  # a month, minor units of the account's currency
ReturnUrl = Annotated[str, Meta(max_length=2048, pattern=r"^$|^https?://[^\x00-\x20]+$")]


class CheckoutCreate(Request, frozen=True):
    plan: Literal["pro", "business"]
    success_url: ReturnUrl = ""
    cancel_url: ReturnUrl = ""


class CheckoutStatusQuery(msgspec.Struct, frozen=True, kw_only=True):
    session_id: Annotated[str, Meta(min_length=1, max_length=200)]


class PortalCreate(Request, frozen=True):
    return_url: ReturnUrl = ""


def _payments(call: Call) -> Payments:
    payments = call.ctx.engine.payments
    if payments is None or payments.provider is None:
        raise fail(503, "billing.unavailable", "payments are not configured on this deployment")
    return payments


async def checkout(call: Call) -> Reply:
    body = call.body_as(CheckoutCreate)
    payments = _payments(call)
    try:
        row = await payments.create_checkout(
            call.account_id,
            PLAN_PRICES_MINOR[body.plan],
            success_url=body.success_url,
            cancel_url=body.cancel_url,
        )
    except (NotConfigured, InvalidAmount) as exc:
        raise fail(503, "billing.unavailable", str(exc)) from None
    except PaymentError as exc:
        raise fail(502, "billing.provider_error", str(exc)) from None
    await call.ctx.pool.execute(
        """INSERT INTO social_workspaces (account_id, pending_plan, pending_payment_id) VALUES ($1, $2, $3)
           ON CONFLICT (account_id) DO UPDATE SET pending_plan = $2, pending_payment_id = $3,
               updated_at = now()""",
        call.account_id,
        body.plan,
        row.id,
    )
    return Reply(
        201,
        {
            "session_id": row.provider_ref,
            "url": row.url,
            "plan": body.plan,
            "amount": row.amount_minor,
            "currency": row.currency,
            "status": row.status,
            "created_at": rfc3339(row.created_at),
        },
    )


async def checkout_status(call: Call) -> Reply:
    q = call.query_as(CheckoutStatusQuery)
    row = await _payments(call).payment_by_ref(call.account_id, q.session_id)
    if row is None:
        raise fail(404, "billing.session_not_found", "no such checkout session")
    if row.status == "paid":  # the paid plan takes effect (once: the pending mark is cleared with it)
        await call.ctx.pool.execute(
            """UPDATE social_workspaces SET plan = pending_plan, pending_plan = NULL,
                   pending_payment_id = NULL,
               updated_at = now() WHERE account_id = $1 AND pending_payment_id = $2""",
            call.account_id,
            row.id,
        )
    ws = await call.ctx.pool.fetchrow(
        "SELECT plan, pending_plan FROM social_workspaces WHERE account_id = $1", call.account_id
    )
    return Reply(
        200,
        {
            "session_id": row.provider_ref,
            "status": row.status,
            "amount": row.amount_minor,
            "currency": row.currency,
            "plan": ws["plan"] if ws is not None else "free",
            "pending_plan": ws["pending_plan"] if ws is not None else None,
            "paid_at": rfc3339(row.paid_at),
        },
    )


async def portal(call: Call) -> Reply:
    body = call.body_as(PortalCreate) if call.body is not None else PortalCreate()
    try:
        url = await _payments(call).portal(call.account_id, body.return_url)
    except PaymentError as exc:
        raise fail(502, "billing.provider_error", str(exc)) from None
    if url is None:
        raise fail(409, "billing.no_customer", "no paid checkout yet: there is nothing to manage")
    return Reply(200, {"url": url})


def _op(method: str, path: str, handler: Any, summary: str, **more: Any) -> Operation:
    return operation(method, path, handler, summary, "billing.topup", "Billing", **more)


OPERATIONS = [
    # POST /v1/billing/checkout with a sapi_key_ token is served here (http_api/surfaces.py SEED004_SHARED)
    _op(
        "POST",
        "/v1/social-api/billing/checkout",
        checkout,
        "Buy a plan (Stripe Checkout)",
        body=CheckoutCreate,
        ok=201,
    ),
    _op(
        "POST",
        "/v1/billing/portal",
        portal,
        "The Stripe customer portal",
        body=PortalCreate,
        body_required=False,
    ),
    _op(
        "GET",
        "/v1/billing/checkout/status",
        checkout_status,
        "A checkout's status",
        query=CheckoutStatusQuery,
    ),
]
