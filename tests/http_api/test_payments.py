"""Checkout, settling, invoices (their PDF looked at as a picture), auto top-up: through Stripe's own SDK
against a local Stripe stand-in (engine.simulation.stripe_standin), over real sockets both ways."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pypdfium2
import pytest
import stripe

from engine.simulation.stripe_standin import StripeStandIn, stripe_signature
from http_api.server import serve_http
from tests.engine.harness import StackOptions
from tests.http_api.conftest import Api
from tests.http_api.test_contacts import eventually


@pytest.fixture
async def standin() -> AsyncIterator[StripeStandIn]:
    fake = StripeStandIn(api_key="sk_test_standin", webhook_secret="whsec_standin")
    async with serve_http(fake.app(), "127.0.0.1", 0) as server:
        fake.base_url = f"http://127.0.0.1:{server.port}"
        yield fake


@pytest.fixture
def stack_options(standin: StripeStandIn) -> StackOptions:
    payments = {
        "stripe_api_key": standin.api_key, "stripe_api_base": standin.base_url,
        "stripe_webhook_secret": standin.webhook_secret, "auto_topup_interval": 60.0,
        "seller": "smsengine Ltd|1 Carrier Street|London EC1A 1AA",
    }  # fmt: skip
    return StackOptions(settings={"payments": payments})


@pytest.fixture
async def papi(api: Api, standin: StripeStandIn) -> Api:
    standin.webhook_url = f"{api.base_url}/v1/billing/stripe/webhook"
    return api


async def balance(api: Api) -> int:
    r = await api.client.get("/v1/billing/balance", headers=api.headers())
    return int(r.json()["data"]["balance"])


async def pay(api: Api, amount: int) -> dict[str, object]:
    r = await api.client.post("/v1/billing/checkout", json={"amount": amount}, headers=api.headers())
    assert r.status_code == 201, r.text
    checkout: dict[str, object] = r.json()["data"]
    async with httpx.AsyncClient() as customer:  # the customer pays on the hosted page
        paid = await customer.post(str(checkout["url"]))
    assert paid.json() == {"paid": True, "webhook_status": 200}
    return checkout


def picture_of(pdf: bytes) -> tuple[str, float, bytes]:
    """The first page's text, the share of its pixels that are not white, and the page as a PNG."""
    doc = pypdfium2.PdfDocument(pdf)
    page = doc[0]
    text = page.get_textpage().get_text_range()
    image = page.render(scale=1.0).to_pil().convert("L")
    pixels = image.tobytes()  # one byte per pixel (mode L)
    ink = sum(1 for p in pixels if p < 200) / len(pixels)
    png = io.BytesIO()
    image.save(png, format="PNG")
    doc.close()
    return text, ink, png.getvalue()


async def test_checkout_paid_tops_up_once_and_issues_an_invoice_with_a_real_pdf(
    papi: Api, standin: StripeStandIn
) -> None:
    h = papi.headers()
    await papi.client.patch(
        "/v1/settings/profile", json={"company": "Acme Ltd", "address": "2 Market Square\nLeeds LS1 1AA",
                                      "vat_number": "GB123456789"}, headers=h,
    )  # fmt: skip
    before = await balance(papi)
    r = await papi.client.post("/v1/billing/checkout", json={"amount": 2500}, headers=h)
    assert r.status_code == 201, r.text
    checkout = r.json()["data"]
    assert str(checkout["id"]).startswith("cs_test_") and checkout["status"] == "open"
    assert checkout["url"] == f"{standin.base_url}/pay/{checkout['id']}" and checkout["amount"] == 2500
    assert standin.sessions[checkout["id"]]["amount_total"] == 2500  # what the SDK sent Stripe
    assert await balance(papi) == before  # nothing before Stripe says paid
    async with httpx.AsyncClient() as customer:
        assert (await customer.post(checkout["url"])).json()["webhook_status"] == 200
    assert await balance(papi) == before + 2500

    # Stripe retries events: the same one again changes nothing
    session = standin.sessions[checkout["id"]]
    assert await standin.send_event("checkout.session.completed", session) == 200
    assert (
        standin.events[-1]["body"]
        and json.loads(standin.events[-1]["body"])["data"]["outcome"] == "already settled"
    )
    assert await balance(papi) == before + 2500
    # a forged event is refused: its signature does not verify with the SDK
    payload = json.dumps({"id": "evt_x", "object": "event", "type": "checkout.session.completed",
                          "data": {"object": session}}).encode()  # fmt: skip
    forged = await papi.client.post(
        "/v1/billing/stripe/webhook", content=payload,
        headers={"Stripe-Signature": stripe_signature("whsec_wrong", payload)},
    )  # fmt: skip
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "UNAUTHORIZED"
    # ...which is exactly what the SDK itself says of it
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            payload, stripe_signature("whsec_wrong", payload), standin.webhook_secret
        )

    invoices = (await papi.client.get("/v1/billing/invoices", headers=h)).json()
    assert invoices["pagination"]["total"] == 1
    [invoice] = invoices["data"]
    year = datetime.now(UTC).year
    assert (
        invoice["number"] == f"INV-{year}-000001" and invoice["total"] == 2500 and invoice["status"] == "paid"
    )
    assert invoice["lines"] == [{"description": "Prepaid messaging credit", "quantity": 1,
                                 "unit_amount": 2500,
                                 "amount": 2500}]  # fmt: skip
    one = (await papi.client.get(f"/v1/billing/invoices/{invoice['id']}", headers=h)).json()["data"]
    assert one == invoice
    pdf = await papi.client.get(invoice["pdf_url"], headers=h)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    text, ink, png = picture_of(pdf.content)
    # looked at as a picture: a page with something on it, not a blank one
    assert 0.005 < ink < 0.5, ink
    assert png.startswith(b"\x89PNG")
    if artifacts := os.environ.get("SMSTEST_ARTIFACTS"):  # to look at it yourself
        await asyncio.to_thread(Path(artifacts, "invoice.png").write_bytes, png)
    for expected in (f"INV-{year}-000001", "smsengine Ltd", "Acme Ltd", "2 Market Square", "VAT GB123456789",
                     "Prepaid messaging credit", "€25.00", "Total", "PAID"):  # fmt: skip
        assert expected in text, (expected, text)
    # another account sees none of it
    assert (
        await papi.client.get(f"/v1/billing/invoices/{invoice['id']}", headers=papi.other())
    ).status_code == 404
    assert (await papi.client.get(invoice["pdf_url"], headers=papi.other())).status_code == 404
    assert (await papi.client.get("/v1/billing/invoices", headers=papi.other())).json()["data"] == []


async def test_auto_topup_charges_the_saved_card_once_below_the_threshold(
    papi: Api, standin: StripeStandIn
) -> None:
    h = papi.headers()
    r = await papi.client.post("/v1/billing/auto-topup", json={"enabled": True, "threshold": 0}, headers=h)
    assert r.json()["data"]["amount"] == 2000 and r.json()["data"]["card"] is None  # no card saved yet
    await pay(papi, 1000)  # saves the card
    start = await balance(papi)
    r = await papi.client.post(
        "/v1/billing/auto-topup", json={"enabled": True, "threshold": start + 1, "amount": 700}, headers=h
    )
    assert r.status_code == 200, r.text
    rule = r.json()["data"]
    assert rule == {"enabled": True, "threshold": start + 1, "amount": 700, "currency": "EUR",
                    "card": "visa 4242", "last_error": ""}  # fmt: skip
    assert (await papi.client.get("/v1/billing/balance", headers=h)).json()["data"][
        "auto_topup_enabled"
    ] is True

    async def charged() -> bool:  # enabling woke the service: the charge is on its way
        return await balance(papi) != start

    await eventually(charged)
    assert await balance(papi) == start + 700
    charges = [i for i in standin.intents.values() if i["amount"] == 700]
    assert len(charges) == 1 and charges[0]["payment_method"].startswith("pm_")
    payments = papi.stack.engine.payments
    assert payments is not None
    assert await payments.auto_topup_pass() == 0  # still below the threshold, but never twice in a row
    invoices = (await papi.client.get("/v1/billing/invoices", headers=h)).json()["data"]
    assert [i["lines"][0]["description"] for i in invoices] == [
        "Prepaid messaging credit (auto top-up)", "Prepaid messaging credit",
    ]  # fmt: skip


async def test_a_declined_card_is_recorded_and_moves_no_money(papi: Api, standin: StripeStandIn) -> None:
    h = papi.headers()
    await pay(papi, 1000)
    start = await balance(papi)
    standin.decline_next = 1
    payments = papi.stack.engine.payments
    assert payments is not None
    await papi.stack.pool.execute(
        "INSERT INTO auto_topup_rules (account_id, enabled, threshold, amount)"
        " VALUES ($1, true, $2, 5000000)",
        papi.stack.account_id, 10**12,
    )  # fmt: skip
    assert await payments.auto_topup_pass() == 0
    assert await balance(papi) == start
    r = await papi.client.post("/v1/billing/auto-topup", json={"enabled": False, "threshold": 0}, headers=h)
    assert (
        r.json()["data"]["last_error"] == "Your card was declined." and r.json()["data"]["enabled"] is False
    )
    failed = await papi.stack.pool.fetchval("SELECT status FROM payments WHERE kind = 'auto_topup'")
    assert failed == "failed"


async def test_checkout_validation_and_a_deployment_without_payments(papi: Api) -> None:
    h = papi.headers()
    for amount in (0, 1, 10**7):  # below min_topup_minor (500), above max (1,000,000)
        r = await papi.client.post("/v1/billing/checkout", json={"amount": amount}, headers=h)
        assert r.status_code == 400, amount
    reader = await papi.new_key(permissions=["billing.read"])
    r = await papi.client.post("/v1/billing/checkout", json={"amount": 1000}, headers=reader)
    assert r.status_code == 403
    papi.stack.engine.payments = None
    r = await papi.client.post("/v1/billing/checkout", json={"amount": 1000}, headers=h)
    assert r.status_code == 503 and r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
