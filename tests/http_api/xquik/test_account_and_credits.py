"""Seed 002 (Xquik) account, credits and authentication rows through a real HTTP client: statuses,
fields and the document's error envelope {"error": "<code>", "message": "..."}."""

from __future__ import annotations

import pytest

from engine.admin.provision import token_key_id
from engine.xquik import credits
from tests.http_api.xquik.conftest import Xq

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_account_credits_and_metering_on_the_ledger(xq: Xq) -> None:
    body = await xq.call("GET", "/account", 200)
    assert body["plan"] == "inactive" and body["monitorsUsed"] == 0
    assert body["creditInfo"]["balance"] == "0" and body["xUsername"] is None
    assert set(body["monitorBilling"]) >= {"activeDailyEstimate", "creditsPerActiveMonitorHour"}
    with pytest.raises(credits.NoCredits):
        await credits.reserve(xq.pool, xq.account_id, 1, "x.tweet", "no-record")
    await xq.grant(1000)
    hold = await credits.reserve(xq.pool, xq.account_id, 100, "x.tweets", "r1")
    assert await credits.reserve(xq.pool, xq.account_id, 100, "x.tweets", "r1") == hold  # idempotent
    info = await xq.call("GET", "/credits", 200)
    assert info["balance"] == "900"
    await credits.capture(xq.pool, hold, 30)
    await credits.capture(xq.pool, hold, 30)  # once
    await credits.charge(xq.pool, xq.account_id, 5, "x.tweet", "r2")
    with pytest.raises(credits.InsufficientCredits):
        await credits.reserve(xq.pool, xq.account_id, 10_000, "x.tweets", "r3")
    info = await xq.call("GET", "/credits", 200)
    assert info == {
        "balance": "965", "lifetimePurchased": "1000", "lifetimeUsed": "35", "autoTopupEnabled": False,
        "autoTopupAmountDollars": 10, "autoTopupThreshold": "50000",
    }  # fmt: skip
    await xq.ledger_ok()


async def test_unauthenticated_and_malformed(xq: Xq) -> None:
    for headers in ({}, {"x-api-key": "xq_" + "0" * 64}, {"x-api-key": "bogus"}):
        r = await xq.client.get(xq.url("/account"), headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "unauthenticated", r.text
    r = await xq.client.put(xq.url("/account/x-identity"), content=b"{nope", headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_json"
    r = await xq.client.put(xq.url("/account/x-identity"), json={"username": "no spaces"}, headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    body = await xq.call("PUT", "/account/x-identity", 200, json={"username": "@demo"})
    assert body == {"success": True, "xUsername": "demo"}
    assert (await xq.call("GET", "/account", 200))["xUsername"] == "demo"
    r = await xq.client.get(xq.url("/nowhere"), headers=xq.auth)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = await xq.client.patch(xq.url("/account"), json={"locale": "tr"}, headers=xq.auth)
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"  # session auth only
    body = await xq.call("PATCH", "/account", 200, json={"locale": "tr"}, headers=xq.session)
    assert body["locale"] == "tr"
    r = await xq.client.patch(xq.url("/account"), json={"locale": "fr"}, headers=xq.session)
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"


async def test_rate_limited_answers_the_document_s_429(xq: Xq) -> None:
    key = await xq.new_key("slow")
    await xq.pool.execute(
        "UPDATE api_keys SET rate_limit = 0.001, rate_burst = 1 WHERE key = $1", token_key_id(key)
    )
    assert (await xq.client.get(xq.url("/credits"), headers={"x-api-key": key})).status_code == 200
    r = await xq.client.get(xq.url("/credits"), headers={"x-api-key": key})
    body = r.json()
    assert r.status_code == 429 and body["error"] == "rate_limit_exceeded", r.text
    assert body["retryAfter"] >= 1 and r.headers["retry-after"] == str(body["retryAfter"])
