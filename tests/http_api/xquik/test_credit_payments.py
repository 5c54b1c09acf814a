"""Seed 002 (Xquik) credit top-ups, quick top-up, auto top-up and the subscription, paid through Stripe's
own SDK against the Stripe stand-in (engine.simulation.stripe_standin): credits reach the ledger only
when the provider says the money was paid, and `smsengine ledger check` stays clean."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from engine.xquik import credits
from tests.http_api.xquik.conftest import Xq

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def balance(xq: Xq) -> int:
    return int((await xq.call("GET", "/credits", 200))["balance"])


async def bad(xq: Xq, method: str, path: str, status: int, code: str, **kw: Any) -> None:
    r = await xq.client.request(method, xq.url(path), headers=xq.auth, **kw)
    assert r.status_code == status and r.json()["error"] == code, (path, kw, r.text)


async def test_checkout_top_up_settles_only_when_paid(xq: Xq) -> None:
    await xq.call("PUT", "/account/x-identity", 200, json={"username": "demo"})  # a profile, no credits
    with pytest.raises(credits.NoCredits):
        await credits.reserve(xq.pool, xq.account_id, 1, "x.tweet", "before-any-credits")
    outcome = await xq.call("POST", "/credits/quick-topup", 200, json={"dollars": 10})
    assert outcome == {"outcome": "no_payment_method"}  # no card saved yet
    await bad(xq, "POST", "/credits/topup", 400, "invalid_input", json={"dollars": 5})  # $10 minimum
    await bad(xq, "POST", "/credits/topup", 400, "invalid_input", json={"dollars": 10.001})
    await bad(xq, "POST", "/credits/topup", 400, "invalid_input", json={"amount": 10})
    await bad(xq, "GET", "/credits/topup/status", 400, "invalid_input")
    await bad(xq, "GET", "/credits/topup/status", 404, "not_found", params={"session_id": "cs_nope"})

    made = await xq.call("POST", "/credits/topup", 200, json={"dollars": 25})
    assert made["url"] == made["redirect_url"] and "session_id=" in made["url"]
    session_id = httpx.URL(made["url"]).params["session_id"]
    status = await xq.call("GET", "/credits/topup/status", 200, params={"session_id": session_id})
    assert status == {"status": "processing", "amount_dollars": 25, "credits": "166666"}
    assert await balance(xq) == 0  # nothing before the payment settles

    async with httpx.AsyncClient() as browser:  # the customer follows the url, then pays
        hop = await browser.get(made["url"])
        assert hop.status_code == 302 and hop.headers["location"].startswith(xq.standin.base_url)
        paid = await browser.post(hop.headers["location"])
    assert paid.json() == {"paid": True, "webhook_status": 200}
    status = await xq.call("GET", "/credits/topup/status", 200, params={"session_id": session_id})
    assert status == {"status": "paid", "amount_dollars": 25, "credits": "166666"}
    info = await xq.call("GET", "/credits", 200)
    assert info["balance"] == "166666" and info["lifetimePurchased"] == "166666"

    gone = await xq.call("POST", "/credits/topup", 200, json={"dollars": 10, "locale": "es"})
    gone_id = httpx.URL(gone["url"]).params["session_id"]
    async with httpx.AsyncClient() as browser:
        expired = await browser.post(f"{xq.standin.base_url}/expire/{gone_id}")
        assert expired.json() == {"expired": True, "webhook_status": 200}
        assert (await browser.get(gone["url"])).status_code == 404  # no page to go to any more
    status = await xq.call("GET", "/credits/topup/status", 200, params={"session_id": gone_id})
    assert status == {"status": "expired"}
    assert await balance(xq) == 166666
    await xq.ledger_ok()


async def test_quick_top_up_outcomes(xq: Xq) -> None:
    before = await balance(xq)
    charged = await xq.call("POST", "/credits/quick-topup", 200, json={"dollars": 10})
    assert charged == {"outcome": "charged", "credits": "66666", "balance": str(before + 66666)}
    await bad(xq, "POST", "/credits/quick-topup", 400, "invalid_input", json={"dollars": 501})
    await bad(xq, "POST", "/credits/quick-topup", 400, "invalid_input", json={"dollars": 9})

    xq.standin.require_action_next = 1  # the bank asks the customer to authenticate (3-D Secure)
    waiting = await xq.call("POST", "/credits/quick-topup", 200, json={"dollars": 20})
    assert waiting["outcome"] == "requires_action" and waiting["clientSecret"].startswith("pi_")
    assert await balance(xq) == before + 66666  # not yet paid: no credits
    intent = waiting["clientSecret"].split("_secret_")[0]
    async with httpx.AsyncClient() as browser:
        confirmed = await browser.post(f"{xq.standin.base_url}/confirm/{intent}")
    assert confirmed.json() == {"confirmed": True, "webhook_status": 200}
    assert await balance(xq) == before + 66666 + 133333

    xq.standin.decline_next = 1
    declined = await xq.call("POST", "/credits/quick-topup", 200, json={"dollars": 10})
    assert declined["outcome"] == "declined"
    assert await balance(xq) == before + 66666 + 133333
    await xq.ledger_ok()


async def test_auto_top_up_after_a_capture_under_the_threshold(xq: Xq) -> None:
    now = await balance(xq)
    rule = await xq.call("PUT", "/credits/auto-topup", 200,
                         json={"enabled": True, "amountDollars": 10, "threshold": now - 10})  # fmt: skip
    assert rule["autoTopupEnabled"] is True and rule["autoTopupThreshold"] == str(now - 10)
    too_small = {"enabled": True, "amountDollars": 5}
    await bad(xq, "PUT", "/credits/auto-topup", 400, "invalid_input", json=too_small)
    await credits.charge(xq.pool, xq.account_id, 5, "x.tweet", "above-threshold")
    assert await balance(xq) == now - 5  # still above the threshold: no charge
    holds = [
        await credits.reserve(xq.pool, xq.account_id, 30, "x.user_tweets", f"under-threshold-{i}")
        for i in range(2)
    ]
    # 20 used, 10 back, twice at once: under the threshold -> $10 bought, once
    await asyncio.gather(*(credits.capture(xq.pool, hold, 20) for hold in holds))
    assert await balance(xq) == now - 45 + 66666
    account = await xq.call("GET", "/account", 200)
    assert account["creditInfo"]["autoTopupEnabled"] is True
    assert account["creditInfo"]["autoTopupAmountDollars"] == 10
    await credits.reserve(xq.pool, xq.account_id, 7, "extraction", "still-running")  # an open hold
    await xq.ledger_ok()


async def test_subscribe_checkout_then_billing_page(xq: Xq) -> None:
    assert (await xq.call("GET", "/account", 200))["plan"] == "inactive"
    link = await xq.call("POST", "/subscribe", 200)
    assert link["url"].startswith(xq.standin.base_url)
    async with httpx.AsyncClient() as browser:
        paid = await browser.post(link["url"])
    assert paid.json()["webhook_status"] == 200
    assert (await xq.call("GET", "/account", 200))["plan"] == "active"
    portal = await xq.call("POST", "/subscribe", 200)
    assert portal["url"].endswith("/billing/portal")
    r = await xq.client.post(xq.url("/subscribe"))
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    # after the mixed run of this module (checkouts, charges, a 3-D Secure wait, a decline, captures,
    # partial captures, an auto top-up, a hold still open) the command agrees, in XQC and every currency;
    # this test's own credits movements make sure there is XQC to check when it runs alone
    await xq.grant(100)
    used = await credits.reserve(xq.pool, xq.account_id, 40, "x.user_tweets", "subscribe-partial")
    await credits.capture(xq.pool, used, 15)
    await credits.reserve(xq.pool, xq.account_id, 5, "extraction", "subscribe-open")
    status, out = await xq.smsengine("ledger", "check")
    assert status == 0 and "ledger OK" in out and "journal balanced in XQC" in out, out
