"""Seed 002 (Xquik) account, credits and authentication rows through a real HTTP client: statuses,
fields and the document's error envelope {"error": "<code>", "message": "..."}."""

from __future__ import annotations

import types
from typing import Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis

from engine.admin.provision import token_key_id
from engine.xquik import credits
from engine.xquik.keys import create_key
from http_api.app import create_app
from http_api.operations import Call, Operation, Reply
from http_api.server import serve_http
from http_api.xquik.dialect import DIALECT, PREFIX, PageQuery, decode_cursor, page_of, xquik_error
from http_api.xquik.metering import metered
from http_api.xquik.mount import ROUTE_MODULES
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


class MeterQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    credits: int
    used: int = -1
    fail: bool = False


async def metered_probe(call: Call) -> Reply:
    """A metered operation as the other Xquik modules write them (http_api/xquik/metering.py)."""
    q = call.query_as(MeterQuery)
    async with metered(call, q.credits, "test.probe") as meter:
        if q.fail:
            raise xquik_error(502, "x_api_unavailable", "the X data source failed mid-call")
        if q.used >= 0:
            meter.use(q.used)
    return Reply(200, {"charged": meter.used})


async def paged_probe(call: Call) -> Reply:
    """A cursor-paginated list as the other Xquik modules write them (dialect.PageQuery, page_of)."""
    q = call.query_as(PageQuery)
    after = int(decode_cursor(q.after, 1)[0]) if q.after else 0
    rows = await call.ctx.pool.fetch(
        "SELECT n FROM generate_series(1, 7) AS n WHERE n > $1 ORDER BY n LIMIT $2", after, q.limit + 1
    )
    page = page_of(rows, q.limit, lambda r: (r["n"],))
    return Reply(200, {"items": [r["n"] for r in page.items], "hasMore": page.has_more,
                       "nextCursor": page.next_cursor})  # fmt: skip


PROBE = types.ModuleType("probe")
PROBE.OPERATIONS = [  # type: ignore[attr-defined]
    Operation("GET", f"{PREFIX}/_probe", metered_probe, "probe", None, "test", query=MeterQuery,
              dialect=DIALECT),
    Operation("GET", f"{PREFIX}/_pages", paged_probe, "pages", None, "test", query=PageQuery,
              dialect=DIALECT),
]  # fmt: skip


async def test_a_metered_call_holds_first_charges_what_it_used_and_releases_on_failure(xq: Xq) -> None:
    account = xq.stack.account_id  # an account with no Xquik credit record yet
    key = {"x-api-key": (await create_key(xq.pool, account, "probe")).full_key}
    redis = aioredis.Redis.from_url(xq.redis_url)
    app = create_app(xq.engine, redis, prefix=xq.redis_prefix, modules=[*ROUTE_MODULES, PROBE])
    try:
        async with (
            serve_http(app, "127.0.0.1", 0) as server,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", headers=key) as client,
        ):

            async def probe(status: int, code: str | None = None, **params: Any) -> dict[str, Any]:
                r = await client.get(f"{PREFIX}/_probe", params=params)
                assert r.status_code == status, r.text
                body: dict[str, Any] = r.json()
                assert code is None or body == {"error": code, "message": body["message"]}
                return body

            async def left() -> str:
                return str((await client.get(f"{PREFIX}/credits")).json()["balance"])

            await probe(402, "no_credits", credits=1)
            await credits.grant(xq.pool, account, 100, "probe")
            await probe(402, "insufficient_credits", credits=101)  # refused before any work
            assert (await probe(200, credits=50, used=20)) == {"charged": 20} and await left() == "80"
            assert (await probe(200, credits=30)) == {"charged": 30} and await left() == "50"
            await probe(502, "x_api_unavailable", credits=40, fail="true")
            assert await left() == "50"  # the failed call's hold was given back

            seen, cursor = [], None  # pages: ?after=&limit=, hasMore / nextCursor
            while True:
                params = {"limit": "3", **({"after": cursor} if cursor else {})}
                page = (await client.get(f"{PREFIX}/_pages", params=params)).json()
                seen.append(page["items"])
                cursor = page["nextCursor"]
                assert page["hasMore"] is (cursor is not None)
                if not page["hasMore"]:
                    break
            assert seen == [[1, 2, 3], [4, 5, 6], [7]]
            for bad in ({"after": "not-a-cursor"}, {"limit": "0"}, {"limit": "101"}, {"colour": "red"}):
                r = await client.get(f"{PREFIX}/_pages", params=bad)
                assert r.status_code == 400 and r.json()["error"] == "invalid_input", (bad, r.text)
    finally:
        await redis.aclose()
    await xq.ledger_ok()
