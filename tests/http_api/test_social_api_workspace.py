"""Seed 004 (social-api) rows beyond publishing and the inbox: brands, invites, OAuth redirect URIs and
the GET callback, the media library and its quota (413), exports, creator info, pages, reviews, users,
billing (the Stripe stand-in) and the WhatsApp rows (the Meta Cloud API simulator), through httpx
against the running app with one `Bearer sapi_key_...` token.

One engine, its simulators and app for the whole module; each test uses its own objects.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from engine.admin.ledger import check_engine_ledger
from engine.admin.provision import create_api_key
from engine.core.ids import parse_id
from engine.infra.services import ServiceUrls
from engine.infra.settings import HttpSettings
from engine.simulation.meta_cloud import MetaCloudSimulator, MetaWorld
from engine.simulation.stripe_standin import StripeStandIn
from engine.social.simulation.connect import connect_x_account
from engine.social.simulation.x_api import XSimulator
from engine.whatsapp.service import connect_number
from http_api.app import create_app
from http_api.auth import single_token
from http_api.server import serve_http
from tests.conftest import DatabaseFactory, with_database
from tests.engine.harness import Stack, StackOptions, running_stack
from tests.engine.social.jobs_harness import social_settings, x_world

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Ws:
    stack: Stack
    client: httpx.AsyncClient
    base_url: str
    x: XSimulator
    meta: MetaCloudSimulator
    stripe: StripeStandIn
    auth: dict[str, str]
    seed001: dict[str, str]
    social_id: int

    async def call(self, method: str, path: str, status: int, **kw: Any) -> Any:
        kw.setdefault("headers", self.auth)
        r = await self.client.request(method, path, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def error(self, method: str, path: str, status: int, code: str, **kw: Any) -> dict[str, Any]:
        body = await self.call(method, path, status, **kw)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "meta"}, body
        assert body["error"]["code"] == code, body
        meta: dict[str, Any] = body["error"]["meta"]
        return meta


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ws(service_urls: ServiceUrls, database_factory: DatabaseFactory) -> AsyncIterator[Ws]:
    name = database_factory.take()
    database_url = with_database(service_urls.database_url, name)
    prefix = f"smsengine-test:{uuid.uuid4().hex[:12]}:"
    world = MetaWorld(status_delay=0.02, approval_delay=0.02)
    stripe = StripeStandIn(api_key="sk_test_standin", webhook_secret="whsec_standin")
    async with XSimulator() as x, MetaCloudSimulator(world) as meta:
        x_world(x)
        async with serve_http(stripe.app(), "127.0.0.1", 0) as stripe_server:
            stripe.base_url = f"http://127.0.0.1:{stripe_server.port}"
            options = StackOptions(settings={
                "social": social_settings(x, poll_interval_seconds=0),
                "whatsapp": {"api_base": meta.base_url, "api_version": "v21.0",
                             "access_token": world.access_token, "app_secret": world.app_secret,
                             "verify_token": world.verify_token},
                "payments": {"stripe_api_key": stripe.api_key, "stripe_api_base": stripe.base_url,
                             "stripe_webhook_secret": stripe.webhook_secret, "auto_topup_interval": 60.0},
            })  # fmt: skip
            async with running_stack(database_url, service_urls.redis_url, options) as stack:
                assert stack.engine.social is not None
                record = await connect_x_account(stack.engine.social, stack.account_id, x, username="demo")
                await connect_number(
                    stack.pool, stack.account_id, waba_id=world.waba_id,
                    phone_number_id=world.phone_number_id,
                    display_phone_number=world.display_phone_number, verified_name=world.verified_name,
                )  # fmt: skip
                key, secret = await create_api_key(stack.pool, stack.account_id, name="ws")
                redis = aioredis.Redis.from_url(service_urls.redis_url)
                http = HttpSettings(host="127.0.0.1", port=0, rate_limit=1000.0, rate_burst=1000)
                try:
                    app = create_app(stack.engine, redis, prefix=prefix, settings=http)
                    async with serve_http(app, "127.0.0.1", 0) as server:
                        base = f"http://127.0.0.1:{server.port}"
                        world.webhook_url = f"{base}/v1/whatsapp/webhook"
                        stripe.webhook_url = f"{base}/v1/billing/stripe/webhook"
                        async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
                            yield Ws(
                                stack, client, base, x, meta, stripe,
                                {"Authorization": "Bearer " + single_token(key, secret)},
                                {"X-API-Key": key, "X-API-Secret": secret}, record.account.id,
                            )  # fmt: skip
                finally:
                    await redis.aclose()
    database_factory.give_back(name)


async def eventually(probe: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------------------------------ the rows


async def test_brands_invites_redirect_uris_and_a_brand_scoped_connect_through_the_callback(ws: Ws) -> None:
    await ws.error("GET", "/v1/brands", 401, "auth.unauthorized", headers={})
    brand = await ws.call("POST", "/v1/brands", 201, json={"name": "Acme Shoes", "description": "eu"})
    assert brand["name"] == "Acme Shoes" and brand["account_count"] == 0 and brand["id"]
    await ws.error("POST", "/v1/brands", 409, "brand.already_exists", json={"name": "Acme Shoes"})
    await ws.error("POST", "/v1/brands", 400, "validation.invalid_request", json={"name": ""})
    other = await ws.call("POST", "/v1/brands", 201, json={"name": "Other"})
    renamed = await ws.call("PATCH", f"/v1/brands/{other['id']}", 200, json={"name": "Other Co"})
    assert renamed["name"] == "Other Co" and renamed["description"] == ""
    listed = await ws.call("GET", "/v1/brands", 200)
    assert [b["name"] for b in listed["data"]] == ["Acme Shoes", "Other Co"]
    await ws.error("PATCH", "/v1/brands/999999", 404, "brand.not_found", json={"name": "x"})

    invite = await ws.call("POST", "/v1/invites", 201, json={"brand_id": brand["id"], "email": "a@b.co"})
    assert invite["token"].startswith("inv_") and invite["role"] == "member" and not invite["expired"]
    [seen] = (await ws.call("GET", "/v1/invites", 200))["data"]
    assert seen["id"] == invite["id"] and "token" not in seen and seen["brand_id"] == brand["id"]
    await ws.error("POST", "/v1/invites", 404, "brand.not_found", json={"brand_id": 999999})
    await ws.call("DELETE", f"/v1/invites/{invite['id']}", 204)
    await ws.error("DELETE", f"/v1/invites/{invite['id']}", 404, "invite.not_found")

    callback = f"{ws.base_url}/v1/oauth/callback"
    uri = await ws.call("POST", "/v1/oauth/redirect-uris", 201, json={"uri": callback})
    assert (await ws.call("GET", "/v1/oauth/redirect-uris", 200))["data"] == [uri]
    await ws.error(
        "POST", "/v1/oauth/redirect-uris", 409, "redirect_uri.already_exists", json={"uri": callback}
    )
    await ws.error(
        "POST", "/v1/accounts/connect", 422, "oauth.redirect_uri_not_allowed",
        json={"platform": "twitter", "redirect_uri": "https://elsewhere.example/cb"},
    )  # fmt: skip
    ws.x.world.register_app("shoes-app", "shoes-secret")  # the brand's own X app (BYOK per brand)
    await ws.error(
        "PUT", "/v1/platforms/twitter/credentials/brand/999999", 404, "brand.not_found",
        json={"client_id": "shoes-app", "client_secret": "shoes-secret"},
    )  # fmt: skip
    await ws.call(
        "PUT", f"/v1/platforms/twitter/credentials/brand/{brand['id']}", 200,
        json={"client_id": "shoes-app", "client_secret": "shoes-secret"},
    )  # fmt: skip
    started = await ws.call(
        "POST", "/v1/accounts/connect", 200,
        json={"platform": "twitter", "redirect_uri": callback, "brand_id": brand["id"]},
    )  # fmt: skip
    assert httpx.URL(started["auth_url"]).params["client_id"] == "shoes-app"
    workspace_wide = await ws.call(
        "POST", "/v1/accounts/connect", 200, json={"platform": "twitter", "redirect_uri": callback}
    )
    assert httpx.URL(workspace_wide["auth_url"]).params["client_id"] == "engine-app"
    ws.x.world.add_user("shoes")
    ws.x.world.authorizing_user = "shoes"
    async with httpx.AsyncClient() as browser:  # the user approves at X, X redirects to the callback
        location = (await browser.get(started["auth_url"])).headers["location"]
        assert location.startswith(callback)
        done = await browser.get(location)  # no API key: the state is the credential
    assert done.status_code == 201, done.text
    account = done.json()
    assert account["username"] == "shoes" and account["brand_id"] == brand["id"]
    again = await browser_get(location)  # a code is exchanged once
    assert again.status_code == 422 and again.json()["error"]["code"] == "oauth.invalid_request"
    denied = await browser_get(callback + "?state=s&error=access_denied")
    assert denied.status_code == 422 and denied.json()["error"]["code"] == "oauth.access_denied"
    scoped = await ws.call("GET", "/v1/accounts", 200, params={"brand_id": brand["id"]})
    assert [a["id"] for a in scoped["data"]] == [account["id"]]
    everything = await ws.call("GET", "/v1/accounts", 200)
    assert {a["id"] for a in everything["data"]} == {ws.social_id, account["id"]}
    counted = next(b for b in (await ws.call("GET", "/v1/brands", 200))["data"] if b["id"] == brand["id"])
    assert counted["account_count"] == 1

    await ws.call("DELETE", f"/v1/brands/{brand['id']}", 204)
    await ws.error(  # the brand's app went with it
        "DELETE", f"/v1/platforms/twitter/credentials/brand/{brand['id']}", 404, "byok.not_found"
    )
    after = await ws.call("GET", "/v1/accounts", 200)
    assert {a["id"]: a["brand_id"] for a in after["data"]}[account["id"]] is None  # the account stays
    await ws.call("DELETE", f"/v1/oauth/redirect-uris/{uri['id']}", 204)
    await ws.call("DELETE", f"/v1/accounts/{account['id']}", 204)


async def browser_get(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as browser:
        return await browser.get(url)


async def test_media_library_keeps_files_within_the_plans_quota(ws: Ws) -> None:
    storage = await ws.call("GET", "/v1/media/storage", 200)
    assert storage["plan"] == "free" and storage["quota_bytes"] == 1024**3 and storage["used_bytes"] == 0
    await ws.stack.pool.execute(  # the operator's override of the plan's quota, small for the test
        "INSERT INTO social_workspaces (account_id, storage_quota_bytes) VALUES ($1, 1000)"
        " ON CONFLICT (account_id) DO UPDATE SET storage_quota_bytes = 1000",
        ws.stack.account_id,
    )
    png = b"\x89PNG" + b"a" * 596
    up = await ws.call(
        "POST", "/v1/media/upload", 201, params={"filename": "logo.png"}, content=png,
        headers={**ws.auth, "Content-Type": "image/png"},
    )  # fmt: skip
    assert up["status"] == "ready" and up["size_bytes"] == 600 and up["content_type"] == "image/png"
    meta = await ws.error(
        "POST", "/v1/media/upload", 413, "storage.quota_exceeded", params={"filename": "big.png"},
        content=b"b" * 401, headers={**ws.auth, "Content-Type": "image/png"},
    )  # fmt: skip
    assert meta["quota_bytes"] == 1000 and meta["used_bytes"] == 600
    await ws.error(
        "GET", "/v1/media/upload-url", 413, "storage.quota_exceeded",
        params={"filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": 401},
    )  # fmt: skip
    await ws.error(
        "POST", "/v1/media/upload", 415, "media.unsupported_type", params={"filename": "a.exe"},
        content=b"MZ", headers={**ws.auth, "Content-Type": "application/x-msdownload"},
    )  # fmt: skip

    brand = await ws.call("POST", "/v1/brands", 201, json={"name": "Media brand"})
    target = await ws.call(
        "GET", "/v1/media/upload-url", 200,
        params={"filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": 300,
                "brand_id": brand["id"]},
    )  # fmt: skip
    assert target["method"] == "PUT" and target["upload_url"].startswith(ws.base_url)
    media = target["media_id"]
    await ws.error("POST", f"/v1/media/{media}/verifyUpload", 409, "media.not_uploaded")
    assert (await ws.call("GET", "/v1/media/storage", 200))["used_bytes"] == 900  # announced, counted
    async with httpx.AsyncClient() as uploader:  # no API key: the URL's token is the credential
        wrong = await uploader.put(target["upload_url"] + "x", content=b"v" * 300)
        assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "media.not_found"
        short = await uploader.put(target["upload_url"], content=b"v" * 10)
        assert short.status_code == 400 and short.json()["error"]["code"] == "media.size_mismatch"
        put = await uploader.put(target["upload_url"], content=b"v" * 300, headers=target["headers"])
        assert put.status_code == 200 and put.json()["received_bytes"] == 300
    ready = await ws.call("POST", f"/v1/media/{media}/verifyUpload", 200)
    assert ready["status"] == "ready" and ready["sha256"] and ready["filename"] == "clip.mp4"

    only = await ws.call("GET", "/v1/media", 200, params={"brand_id": brand["id"]})
    assert [(m["id"], m["brand_id"]) for m in only["data"]] == [(media, brand["id"])]
    await ws.error(
        "POST", "/v1/media/upload", 404, "brand.not_found", params={"filename": "a.png", "brand_id": 999999},
        content=b"x", headers={**ws.auth, "Content-Type": "image/png"},
    )  # fmt: skip
    first = await ws.call("GET", "/v1/media", 200, params={"limit": 1})
    assert [m["id"] for m in first["data"]] == [media] and first["next_cursor"]
    second = await ws.call("GET", "/v1/media", 200, params={"limit": 1, "cursor": first["next_cursor"]})
    assert [m["id"] for m in second["data"]] == [up["id"]] and second["next_cursor"] is None
    storage = await ws.call("GET", "/v1/media/storage", 200)
    assert storage == {"plan": "free", "used_bytes": 900, "quota_bytes": 1000, "remaining_bytes": 100,
                       "file_count": 2}  # fmt: skip
    await ws.call("DELETE", f"/v1/media/{up['id']}", 204)
    await ws.error("DELETE", f"/v1/media/{up['id']}", 404, "media.not_found")
    assert (await ws.call("GET", "/v1/media/storage", 200))["used_bytes"] == 300
    await ws.stack.pool.execute(
        "UPDATE social_workspaces SET storage_quota_bytes = NULL WHERE account_id = $1", ws.stack.account_id
    )


async def test_exports_creator_info_pages_reviews_and_the_user(ws: Ws) -> None:
    post = await ws.call("POST", "/v1/posts", 201, json={"account_id": ws.social_id, "text": "export me"})
    job_id = parse_id(post["id"])
    assert job_id is not None and ws.stack.engine.social is not None
    await ws.stack.engine.social.jobs.wait(ws.stack.account_id, job_id)
    export = await ws.call("POST", f"/v1/accounts/{ws.social_id}/export", 201, json={})
    assert export["status"] == "completed" and export["account_id"] == ws.social_id
    [row] = [r for r in export["rows"] if r["post_id"] == post["id"]]
    assert (
        row["text"] == "export me" and row["platform_post_id"] in ws.x.world.posts and row["type"] == "post"
    )
    listed = await ws.call("GET", "/v1/exports", 200)
    assert listed["data"][0]["id"] == export["id"] and "rows" not in listed["data"][0]
    assert (await ws.call("GET", f"/v1/exports/{export['id']}", 200))["row_count"] == export["row_count"]
    assert (await ws.call("GET", f"/v1/exports/{export['id']}/videos", 200))["data"] == []
    await ws.error("GET", "/v1/exports/999999", 404, "export.not_found")
    await ws.error("POST", "/v1/accounts/999999/export", 404, "account.not_found", json={})
    await ws.error(
        "POST", f"/v1/accounts/{ws.social_id}/export", 400, "validation.invalid_range",
        json={"from": "2026-02-15T14:30:00Z", "to": "2026-02-14T14:30:00Z"},
    )  # fmt: skip

    info = await ws.call("GET", f"/v1/accounts/{ws.social_id}/creator-info", 200)
    assert info["username"] == "demo" and info["platform"] == "twitter" and info["max_text_length"] == 280
    assert info["can_post"] is True
    meta = await ws.error("GET", f"/v1/accounts/{ws.social_id}/pages", 501, "platform.unsupported")
    assert meta["platform"] == "twitter"
    await ws.error(
        "PATCH", f"/v1/accounts/{ws.social_id}/pages/p1", 501, "platform.unsupported", json={"name": "n"}
    )
    await ws.error("GET", "/v1/accounts/999999/pages", 404, "account.not_found")
    assert await ws.call("GET", "/v1/inbox/reviews", 200) == {"data": [], "next_cursor": None}
    await ws.error(
        "GET", "/v1/inbox/reviews", 501, "platform.unsupported", params={"account_id": ws.social_id}
    )
    await ws.error("POST", "/v1/inbox/reviews/r1/reply", 404, "review.not_found", json={"text": "thanks"})

    await ws.error("GET", "/v1/users/me", 404, "user.not_found")
    await ws.stack.pool.execute(
        "INSERT INTO users (account_id, email, name, role)"
        " VALUES ($1, 'owner@acme.example', 'Olive', 'owner')",
        ws.stack.account_id,
    )
    me = await ws.call("GET", "/v1/users/me", 200)  # with an API key: the workspace's owner
    assert me["email"] == "owner@acme.example" and me["name"] == "Olive" and me["role"] == "owner"
    identity = ws.stack.engine.identity
    assert identity is not None
    async with ws.stack.pool.acquire() as conn:  # a dashboard session of a member (an auth service JWT)
        member = await conn.fetchval(
            "INSERT INTO users (account_id, email, name) VALUES ($1, 'm@acme.example', 'Mo')"
            " RETURNING id::text",
            ws.stack.account_id,
        )
        tokens = await identity.sessions.open(conn, member, ws.stack.account_id)
    jwt = {"Authorization": "Bearer " + tokens.access.token}
    mine = await ws.call("GET", "/v1/users/me", 200, headers=jwt)
    assert mine["email"] == "m@acme.example" and mine["role"] == "member"
    patched = await ws.call("PATCH", "/v1/users/me", 200, json={"name": "Maureen"}, headers=jwt)
    assert patched["name"] == "Maureen" and patched["id"] == member
    await ws.call("DELETE", "/v1/users/me", 204, headers=jwt)
    await ws.error("GET", "/v1/users/me", 401, "auth.unauthorized", headers=jwt)  # signed out everywhere
    assert (await ws.call("PATCH", "/v1/users/me", 200, json={"name": "Olive Oyl"}))["name"] == "Olive Oyl"
    await ws.call("DELETE", "/v1/users/me", 204)
    await ws.error("GET", "/v1/users/me", 404, "user.not_found")


async def test_billing_buys_a_plan_through_stripe_and_opens_the_portal(ws: Ws) -> None:
    await ws.error("POST", "/v1/billing/portal", 409, "billing.no_customer", json={})
    checkout = await ws.call("POST", "/v1/billing/checkout", 201, json={"plan": "pro"})
    assert checkout["plan"] == "pro" and checkout["amount"] == 2_900 and checkout["status"] == "open"
    assert checkout["session_id"] in ws.stripe.sessions and checkout["url"].startswith(ws.stripe.base_url)
    status = await ws.call(
        "GET", "/v1/billing/checkout/status", 200, params={"session_id": checkout["session_id"]}
    )
    assert status["status"] == "open" and status["plan"] == "free" and status["pending_plan"] == "pro"
    async with httpx.AsyncClient() as customer:  # pays on the hosted page; Stripe's signed event follows
        paid = await customer.post(checkout["url"])
    assert paid.json() == {"paid": True, "webhook_status": 200}
    status = await ws.call(
        "GET", "/v1/billing/checkout/status", 200, params={"session_id": checkout["session_id"]}
    )
    assert status["status"] == "paid" and status["plan"] == "pro" and status["paid_at"]
    assert (await ws.call("GET", "/v1/media/storage", 200))["quota_bytes"] == 25 * 1024**3
    async with ws.stack.pool.acquire() as conn:  # the plan's payment is on the one ledger, balanced
        assert (await check_engine_ledger(conn)).ok
    portal = await ws.call("POST", "/v1/billing/portal", 200, json={"return_url": "https://app.example/b"})
    assert portal["url"].startswith(ws.stripe.base_url + "/portal/")
    await ws.error(
        "GET", "/v1/billing/checkout/status", 404, "billing.session_not_found", params={"session_id": "cs_x"}
    )
    await ws.error("POST", "/v1/billing/checkout", 400, "validation.invalid_request", json={"plan": "gold"})
    # the same path with a BulkSMSRates credential is still that document's top-up, in its envelope
    r = await ws.client.post("/v1/billing/checkout", json={"amount": 1000}, headers=ws.seed001)
    assert r.status_code == 201 and r.json()["data"]["amount"] == 1000


async def test_whatsapp_templates_send_and_request_code_over_the_one_whatsapp_kind(ws: Ws) -> None:
    [number] = (await ws.client.get("/v1/whatsapp/accounts", headers=ws.seed001)).json()["data"]
    r = await ws.client.post("/v1/whatsapp/templates", headers=ws.seed001, json={
        "name": "ws_shipped", "language": "en", "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Al"]]}}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    base = f"/v1/platforms/whatsapp/accounts/{number['id']}"

    async def status_of(wanted: str) -> dict[str, Any] | None:
        listed = await ws.call("GET", base + "/templates", 200)
        found = [t for t in listed["data"] if t["name"] == "ws_shipped"]
        return found[0] if found and found[0]["status"] == wanted else None

    template = await eventually(lambda: status_of("APPROVED"))
    got = await ws.call("GET", f"/v1/platforms/whatsapp/templates/{template['id']}", 200)
    assert got["name"] == "ws_shipped" and got["category"] == "UTILITY"
    edited = await ws.call(
        "PUT", f"/v1/platforms/whatsapp/templates/{template['id']}", 200,
        json={"components": [{"type": "BODY", "text": "Hello {{1}}", "example": {"body_text": [["Al"]]}}]},
    )  # fmt: skip
    assert edited["status"] == "PENDING" and edited["components"][0]["text"] == "Hello {{1}}"
    [at_meta] = [t for t in ws.meta.world.templates.values() if t.name == "ws_shipped"]
    assert at_meta.components[0]["text"] == "Hello {{1}}"
    await eventually(lambda: status_of("APPROVED"))
    await ws.error("GET", "/v1/platforms/whatsapp/templates/999999", 404, "template.not_found")

    sent = await ws.call(
        "POST", base + "/send-template", 202,
        json={"to": "+447700900401", "template": {"name": "ws_shipped", "language": "en",
              "components": [{"type": "body", "parameters": [{"type": "text", "text": "Al"}]}]}},
    )  # fmt: skip
    assert sent["status"] == "queued" and sent["to"] == "+447700900401" and sent["template"] == "ws_shipped"

    async def at_meta_sent() -> bool:
        return any(s["to"] == "447700900401" for s in ws.meta.world.sent)

    await eventually(at_meta_sent)
    await ws.error(
        "POST", base + "/send-template", 422, "whatsapp.template_not_approved",
        json={"to": "+447700900402", "template": {"name": "nope", "language": "en"}},
    )  # fmt: skip
    await ws.error(
        "POST", "/v1/platforms/whatsapp/accounts/999999/send-template", 404, "account.not_found",
        json={"to": "+447700900402", "template": {"name": "ws_shipped", "language": "en"}},
    )  # fmt: skip
    done = await ws.call(
        "POST", f"/v1/platforms/whatsapp/phone-numbers/{number['phone_number_id']}/request-code", 200,
        json={"code_method": "VOICE", "language": "en"},
    )  # fmt: skip
    assert done == {"success": True, "code_method": "VOICE"}
    assert ws.meta.world.code_requests[-1]["code_method"] == "VOICE"
    await ws.error(
        "POST", "/v1/platforms/whatsapp/phone-numbers/123/request-code", 404, "phone_number.not_found"
    )
