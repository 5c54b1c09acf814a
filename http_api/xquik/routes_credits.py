"""Xquik credits and billing: top-ups (checkout, status, quick top-up), auto top-up, POST /subscribe.

    POST /credits/topup                {dollars >= 10} -> {url, redirect_url}: a checkout of the payments
                                       service (engine/payments); credits land when it is paid
    GET  /credits/topup/redirect       ?session_id=: 302 to the provider's hosted page (public: the
                                       browser follows the url above)
    GET  /credits/topup/status         ?session_id= -> processing | paid | failed | expired
    POST /credits/quick-topup          {dollars 10..500}: charge the saved card now -> charged |
                                       no_payment_method | requires_action (clientSecret) | declined
    PUT  /credits/auto-topup           {enabled, amountDollars 10..500, threshold}: this server's place
                                       for the rule GET /account and GET /credits show (the document
                                       shows the fields, not where they are set)
    POST /subscribe                    {url}: the subscription's checkout, or the billing page once
                                       subscribed

Credits are bought at USD 0.00015 each, whole credits rounded down (engine/xquik/credits.py). This
module must never add credits itself: only a settled payment does (engine/payments).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

from msgspec import Meta

from engine.payments.provider import PaymentError
from engine.payments.service import InvalidAmount, NotConfigured, Payments
from engine.xquik import credits
from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import DIALECT, PREFIX, XquikIn, XquikOut, figure, shown, xquik_error
from http_api.xquik.routes_account import CreditInfoOut, credit_info_out

TAG = "Xquik credits"
SUBSCRIPTION_CENTS = 2000  # USD 20 a month
TOPUP_MIN_DOLLARS = 10
QUICK_MAX_DOLLARS = 500
_STATUS = {"open": "processing", "paid": "paid", "failed": "failed", "expired": "expired"}


def _payments(call: Call) -> Payments:
    payments = call.ctx.engine.payments
    if payments is None or payments.provider is None:
        raise xquik_error(503, "payments_unavailable", "no payment provider is configured on this server")
    return payments


def _cents(dollars: float) -> int:
    cents = round(dollars * 100)
    if abs(dollars * 100 - cents) > 1e-6:
        raise xquik_error(400, "invalid_input", "dollars has at most two decimal places")
    return cents


class TopUp(XquikIn, frozen=True):
    dollars: Annotated[float, Meta(ge=TOPUP_MIN_DOLLARS, le=10_000), shown(multipleOf=0.01)]
    locale: str = "en"


class CheckoutUrl(XquikOut, frozen=True, rename=None):
    url: str
    redirect_url: str


async def xquik_topup(call: Call) -> Reply:
    body = call.body_as(TopUp)
    payments = _payments(call)
    try:
        payment = await payments.create_checkout(
            call.account_id, _cents(body.dollars), kind="xquik_credits", currency="USD",
            description="Xquik credits",
        )  # fmt: skip
    except InvalidAmount as exc:
        raise xquik_error(400, "invalid_input", str(exc)) from None
    except (NotConfigured, PaymentError) as exc:
        raise xquik_error(502, "payment_unavailable", str(exc)) from None
    base = str(call.request.base_url).rstrip("/")
    url = f"{base}{PREFIX}/credits/topup/redirect?{urlencode({'session_id': payment.provider_ref})}"
    return Reply(200, CheckoutUrl(url, url))


class SessionQuery(XquikIn, frozen=True, rename=None):
    session_id: Annotated[str, Meta(min_length=1, max_length=200)]


async def xquik_topup_redirect(call: Call) -> Reply:
    ref = call.query_as(SessionQuery).session_id
    url = await call.ctx.pool.fetchval(
        "SELECT url FROM payments WHERE provider_ref = $1 AND kind IN ('xquik_credits', 'xquik_subscription')"
        " AND status = 'open' AND url <> ''",
        ref,
    )
    if url is None:
        raise xquik_error(404, "not_found", "no open checkout for that session_id")
    return Reply(302, b"", {"Location": str(url), "Content-Type": "text/plain"})


class TopUpStatus(XquikOut, frozen=True, rename=None, omit_defaults=True):
    status: str
    amount_dollars: int | None = None
    credits: str | None = None


async def xquik_topup_status(call: Call) -> Reply:
    ref = call.query_as(SessionQuery).session_id
    row = await call.ctx.pool.fetchrow(
        "SELECT status, amount_minor FROM payments WHERE provider_ref = $1 AND account_id = $2"
        " AND kind = 'xquik_credits'",
        ref,
        call.account_id,
    )
    if row is None:
        raise xquik_error(404, "not_found", "no top-up checkout exists for that session_id on this account")
    status = _STATUS[row["status"]]
    if status in ("failed", "expired"):
        return Reply(200, TopUpStatus(status))
    cents = int(row["amount_minor"])
    return Reply(200, TopUpStatus(status, cents // 100, figure(credits.credits_for_cents(cents))))


class QuickTopUp(XquikIn, frozen=True):
    dollars: Annotated[float, Meta(ge=TOPUP_MIN_DOLLARS, le=QUICK_MAX_DOLLARS), shown(multipleOf=0.01)]


class QuickTopUpOut(XquikOut, frozen=True, omit_defaults=True):
    outcome: str
    credits: str | None = None
    balance: str | None = None
    client_secret: str | None = None
    message: str | None = None


async def xquik_quick_topup(call: Call) -> Reply:
    cents = _cents(call.body_as(QuickTopUp).dollars)
    payments = _payments(call)
    try:
        outcome, _, charge = await payments.charge_now(
            call.account_id, cents, kind="xquik_quick_topup", currency="USD"
        )
    except PaymentError as exc:
        raise xquik_error(502, "payment_unavailable", str(exc)) from None
    if outcome == "charged":
        info = await credits.balance(call.ctx.pool, call.account_id)
        added = figure(credits.credits_for_cents(cents))
        return Reply(200, QuickTopUpOut(outcome, added, figure(info.balance)))
    if outcome == "requires_action":
        assert charge is not None
        return Reply(200, QuickTopUpOut(outcome, client_secret=charge.client_secret))
    if outcome == "declined":
        message = charge.error if charge is not None else "declined"
        return Reply(200, QuickTopUpOut(outcome, message=message))
    return Reply(200, QuickTopUpOut(outcome))


class AutoTopUp(XquikIn, frozen=True):
    enabled: bool
    amount_dollars: Annotated[int, Meta(ge=TOPUP_MIN_DOLLARS, le=QUICK_MAX_DOLLARS)] = 10
    threshold: Annotated[int, Meta(ge=0, le=10**12)] = 50_000


async def xquik_set_auto_topup(call: Call) -> Reply:
    body = call.body_as(AutoTopUp)
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await credits.open_profile(conn, call.account_id)
        await conn.execute(
            "UPDATE xquik_accounts SET auto_topup_enabled = $2, auto_topup_amount_dollars = $3,"
            " auto_topup_threshold = $4 WHERE account_id = $1",
            call.account_id, body.enabled, body.amount_dollars, body.threshold,
        )  # fmt: skip
    return Reply(200, credit_info_out(await credits.balance(call.ctx.pool, call.account_id)))


class SubscribeOut(XquikOut, frozen=True):
    url: str


async def xquik_subscribe(call: Call) -> Reply:
    payments = _payments(call)
    plan = await call.ctx.pool.fetchval(
        "SELECT plan FROM xquik_accounts WHERE account_id = $1", call.account_id
    )
    if plan == "active":  # the billing page of this deployment's site (no provider portal here)
        site = urlsplit(payments.settings.checkout_success_url)
        return Reply(200, SubscribeOut(f"{site.scheme}://{site.netloc}/billing/portal"))
    try:
        payment = await payments.create_checkout(
            call.account_id, SUBSCRIPTION_CENTS, kind="xquik_subscription", currency="USD",
            description="Xquik subscription",
        )  # fmt: skip
    except (NotConfigured, PaymentError) as exc:
        raise xquik_error(502, "payment_unavailable", str(exc)) from None
    return Reply(200, SubscribeOut(payment.url))


OPERATIONS = [
    Operation("POST", f"{PREFIX}/credits/topup", xquik_topup, "Top up credits (checkout URL)", None, TAG,
              body=TopUp, responses={200: CheckoutUrl}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/credits/topup/redirect", xquik_topup_redirect, "Go to the checkout page",
              None, TAG, query=SessionQuery, public=True, dialect=DIALECT, produces={302: "text/plain"}),
    Operation("GET", f"{PREFIX}/credits/topup/status", xquik_topup_status, "Get top-up status", None, TAG,
              query=SessionQuery, responses={200: TopUpStatus}, dialect=DIALECT),
    Operation("POST", f"{PREFIX}/credits/quick-topup", xquik_quick_topup, "Quick top-up (saved card)", None,
              TAG, body=QuickTopUp, responses={200: QuickTopUpOut}, dialect=DIALECT),
    Operation("PUT", f"{PREFIX}/credits/auto-topup", xquik_set_auto_topup, "Set the auto top-up rule", None,
              TAG, body=AutoTopUp, responses={200: CreditInfoOut}, dialect=DIALECT),
    Operation("POST", f"{PREFIX}/subscribe", xquik_subscribe, "Get subscription link", None, TAG,
              body_required=False, responses={200: SubscribeOut}, dialect=DIALECT),
]  # fmt: skip
