"""Seed 004 (social-api) through a real HTTP client against the running app and the X simulator: each
row answers its documented status and fields, errors in the document's envelope
{"error": {"code": "namespace.code", "message", "meta"}}, with one `Authorization: Bearer sapi_key_...`
token from the one key store. Webhook signatures are checked by the formula written out here."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from engine.core.ids import parse_id
from engine.social.simulation.connect import connect_x_account
from engine.social.simulation.x_api import XSimulator
from http_api.auth import single_token
from tests.engine.harness import StackOptions
from tests.engine.social.jobs_harness import social_settings, x_world
from tests.http_api.conftest import Api
from tests.http_api.test_webhooks_support import Received, receiver


@pytest.fixture
async def sim() -> AsyncIterator[XSimulator]:
    async with XSimulator() as simulator:
        x_world(simulator)
        yield simulator


@pytest.fixture
def stack_options(sim: XSimulator) -> StackOptions:
    return StackOptions(settings={"social": social_settings(sim, poll_interval_seconds=0)})


class Social:
    def __init__(self, api: Api, sim: XSimulator, social_account_id: int) -> None:
        self.api, self.sim, self.id = api, sim, social_account_id
        self.auth = {"Authorization": "Bearer " + single_token(api.key, api.secret)}
        self.engine = api.stack.engine
        assert self.engine.social is not None
        self.layer = self.engine.social

    async def call(self, method: str, path: str, status: int, **kw: Any) -> Any:
        r = await self.api.client.request(method, path, headers=self.auth, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def settled(self, ref: str) -> None:
        job_id = parse_id(ref)
        assert job_id is not None
        await self.layer.jobs.wait(self.api.stack.account_id, job_id)

    async def poll(self) -> int:
        return await self.layer.poller.poll_account(self.id)


@pytest.fixture
async def social(api: Api, sim: XSimulator) -> Social:
    assert api.stack.engine.social is not None
    record = await connect_x_account(api.stack.engine.social, api.stack.account_id, sim, username="demo")
    return Social(api, sim, record.account.id)


def document_error(body: Any, code: str) -> None:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "meta"}
    assert body["error"]["code"] == code


async def test_accounts_connect_limits_mentions_and_the_documents_errors(
    social: Social, sim: XSimulator
) -> None:
    c = social.api.client
    r = await c.get("/v1/accounts")
    assert r.status_code == 401
    document_error(r.json(), "auth.unauthorized")
    accounts = (await social.call("GET", "/v1/accounts", 200))["data"]
    assert [(a["id"], a["platform"], a["username"], a["status"]) for a in accounts] == [
        (social.id, "twitter", "demo", "active")
    ]
    started = await social.call(
        "POST",
        "/v1/accounts/connect",
        200,
        json={"platform": "twitter", "redirect_uri": "https://app.example/cb"},
    )
    assert started["auth_url"].startswith(sim.base_url) and started["state"]
    sim.world.add_user("second")
    sim.world.authorizing_user = "second"
    async with httpx.AsyncClient() as browser:
        location = (await browser.get(started["auth_url"])).headers["location"]
    code = httpx.URL(location).params["code"]
    second = await social.call(
        "POST",
        "/v1/accounts/connect",
        201,
        json={"platform": "twitter", "state": started["state"], "code": code},
    )
    assert second["username"] == "second" and second["platform"] == "twitter"
    document_error(
        await social.call("POST", "/v1/accounts/connect", 400, json={"platform": "tiktok"}),
        "validation.invalid_request",
    )
    limits = await social.call("GET", f"/v1/accounts/{social.id}/limits", 200)
    by_name = {rule["name"]: rule for rule in limits["limits"]}
    assert by_name["x.dm.send"]["limit"] == 180 and by_name["x.posts.create"]["limit"] == 200
    assert (
        by_name["x.posts.create"]["window_seconds"] == 900 and by_name["x.posts.create"]["remaining"] == 200
    )
    sim.world.mention(of="demo", by="alice", text="@demo look")
    await social.poll()
    mentions = await social.call("GET", f"/v1/accounts/{social.id}/mentions", 200, params={"limit": 1})
    assert [m["text"] for m in mentions["data"]] == ["@demo look"] and mentions["next_cursor"] is None
    assert mentions["data"][0]["author"]["username"] == "alice"
    await social.call("DELETE", f"/v1/accounts/{second['id']}", 204)
    assert [a["id"] for a in (await social.call("GET", "/v1/accounts", 200))["data"]] == [social.id]
    document_error(await social.call("DELETE", "/v1/accounts/999999", 404), "account.not_found")


async def test_publishing_rows(social: Social, sim: XSimulator) -> None:
    post = await social.call("POST", "/v1/posts", 201, json={"account_id": social.id, "text": "hello world"})
    assert post["status"] in ("publishing", "published") and post["platform"] == "twitter"
    await social.settled(post["id"])
    got = await social.call("GET", f"/v1/posts/{post['id']}", 200)
    assert got["status"] == "published" and got["platform_post_id"] in sim.world.posts
    assert got["published_at"] is not None and got["text"] == "hello world"
    document_error(
        await social.call("POST", "/v1/posts", 422, json={"account_id": social.id, "text": "x" * 281}),
        "validation.text_too_long",
    )
    explained = await social.call(
        "GET", "/v1/posts/validate", 200, params={"text": "hi 👋 https://example.com/a/very/long/path"}
    )
    assert explained["valid"] and explained["length"] == 3 + 2 + 1 + 23 and explained["limit"] == 280
    assert explained["unit"] == "weighted characters" and explained["segments"]
    long = await social.call("POST", "/v1/posts/validate", 200, json={"text": "界" * 141})
    assert not long["valid"] and long["length"] == 282 and long["problems"]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = await social.call(
        "POST", "/v1/posts", 201, json={"account_id": social.id, "text": "later", "scheduled_at": later}
    )
    assert scheduled["status"] == "scheduled"
    edited = await social.call("PATCH", f"/v1/posts/{scheduled['id']}", 200, json={"text": "later, edited"})
    assert edited["text"] == "later, edited"
    listed = await social.call("GET", "/v1/posts", 200, params={"status": "scheduled"})
    assert [p["id"] for p in listed["data"]] == [scheduled["id"]]
    await social.call("DELETE", f"/v1/posts/{scheduled['id']}", 204)
    assert (await social.call("GET", f"/v1/posts/{scheduled['id']}", 200))["status"] == "canceled"
    page1 = await social.call("GET", "/v1/posts", 200, params={"limit": 1})
    assert len(page1["data"]) == 1 and page1["next_cursor"]
    page2 = await social.call("GET", "/v1/posts", 200, params={"limit": 1, "cursor": page1["next_cursor"]})
    assert page2["data"][0]["id"] != page1["data"][0]["id"]
    sim.faults.fail_next(5, status=503, path_prefix="/2/tweets")
    failing = await social.call(
        "POST", "/v1/posts", 201, json={"account_id": social.id, "text": "fails first"}
    )
    await social.settled(failing["id"])
    failed = await social.call("GET", f"/v1/posts/{failing['id']}", 200)
    assert failed["status"] == "failed" and failed["error"]["code"] == "PLATFORM_ERROR"
    again = await social.call("POST", f"/v1/posts/{failing['id']}/retry", 202)
    assert again["retry_of"] == failing["id"]
    await social.settled(again["id"])
    assert (await social.call("GET", f"/v1/posts/{again['id']}", 200))["status"] == "published"
    platform_id = got["platform_post_id"]
    sim.world.reply(to=platform_id, by="alice", text="@demo nice")
    metrics = await social.call("GET", f"/v1/posts/{post['id']}/metrics", 200)
    assert metrics["metrics"]["replies"] == 1 and metrics["platform_post_id"] == platform_id
    gone = await social.call("POST", f"/v1/posts/{post['id']}/unpublish", 200)
    assert gone["status"] == "unpublished" and sim.world.posts[platform_id].deleted
    document_error(await social.call("POST", f"/v1/posts/{post['id']}/unpublish", 409), "post.not_published")
    demo = sim.world.user_by_name("demo")
    assert demo is not None
    sim.world.create_post(demo.id, "written on X itself")
    imported = await social.call("POST", "/v1/posts/import", 200, json={"account_id": social.id})
    assert [p["text"] for p in imported["data"]] == ["written on X itself"]
    assert (await social.call("POST", "/v1/posts/import", 200, json={"account_id": social.id}))[
        "imported"
    ] == 0
    document_error(await social.call("GET", "/v1/posts/0000000000000001", 404), "post.not_found")


async def test_inbox_rows(social: Social, sim: XSimulator) -> None:
    post = await social.call(
        "POST", "/v1/posts", 201, json={"account_id": social.id, "text": "comment on me"}
    )
    await social.settled(post["id"])
    pid = (await social.call("GET", f"/v1/posts/{post['id']}", 200))["platform_post_id"]
    comment = sim.world.reply(to=pid, by="alice", text="@demo first!")
    sim.world.reply(
        to=comment.id, by="bob" if sim.world.user_by_name("bob") else "alice", text="@alice @demo +1"
    )
    sim.world.dm(to="demo", by="alice", text="psst")
    await social.poll()
    commented = (await social.call("GET", "/v1/inbox/comments", 200))["data"]
    assert [(c["post_id"], c["comments"]) for c in commented] == [(pid, 2)]
    comments = (await social.call("GET", f"/v1/inbox/comments/{pid}", 200))["data"]
    assert {c["text"] for c in comments} == {"@demo first!", "@alice @demo +1"}
    replies = (await social.call("GET", f"/v1/inbox/comments/{pid}/{comment.id}/replies", 200))["data"]
    assert [r["text"] for r in replies] == ["@alice @demo +1"]
    base = f"/v1/inbox/comments/{pid}/{comment.id}"
    assert (await social.call("POST", base + "/hide", 200))["hidden"] is True
    assert sim.world.posts[comment.id].hidden
    assert (await social.call("DELETE", base + "/hide", 200))["hidden"] is False
    assert (await social.call("POST", base + "/like", 200))["liked"] is True
    assert (await social.call("DELETE", base + "/like", 200))["liked"] is False
    answer = await social.call(
        "POST", f"/v1/inbox/comments/{pid}", 202, json={"text": "@alice thanks", "comment_id": comment.id}
    )
    await social.settled(answer["job_id"])
    mine = next(p for p in sim.world.posts.values() if p.text == "@alice thanks")
    assert mine.in_reply_to_post_id == comment.id
    document_error(await social.call("DELETE", base, 501), "platform.unsupported")  # alice's, not ours
    private = await social.call("POST", base + "/private-reply", 202, json={"text": "a word in private"})
    await social.settled(private["job_id"])
    await social.poll()
    conversations = (await social.call("GET", "/v1/inbox/conversations", 200))["data"]
    assert len(conversations) == 1 and conversations[0]["unread"] == 1
    cid = conversations[0]["id"]
    one = await social.call("GET", f"/v1/inbox/conversations/{cid}", 200)
    assert one["messages"] == 2 and one["last_message"]["text"] == "a word in private"
    messages = (await social.call("GET", f"/v1/inbox/conversations/{cid}/messages", 200))["data"]
    assert [(m["text"], m["direction"]) for m in messages] == [("a word in private", "out"), ("psst", "in")]
    sent = await social.call(
        "POST", f"/v1/inbox/conversations/{cid}/messages", 202, json={"text": "and more"}
    )
    await social.settled(sent["job_id"])
    demo = sim.world.user_by_name("demo")
    assert demo is not None and sim.world.dm_events_of(demo.id)[0].text == "and more"
    assert (await social.call("POST", f"/v1/inbox/conversations/{cid}/read", 200))["unread"] == 0
    assert (await social.call("PATCH", f"/v1/inbox/conversations/{cid}", 200, json={"read": False}))[
        "unread"
    ] == 1
    document_error(await social.call("GET", "/v1/inbox/conversations/nope", 404), "conversation.not_found")


def signed(secret: str, request: Received) -> bool:
    """hex HMAC-SHA256(secret, X-Webhook-Timestamp + "." + raw body), as "sha256=<hex>"."""
    mac = hmac.new(
        secret.encode(), request.headers["x-webhook-timestamp"].encode() + b"." + request.body, hashlib.sha256
    )
    return request.headers["x-webhook-signature"] == "sha256=" + mac.hexdigest()


async def test_keys_byok_webhooks_events_and_usage(social: Social, sim: XSimulator) -> None:
    created = await social.call("POST", "/v1/keys", 201, json={"name": "ci"})
    assert created["key"].startswith("sapi_key_")
    other = {"Authorization": "Bearer " + created["key"]}
    assert (await social.api.client.get("/v1/accounts", headers=other)).status_code == 200
    assert created["id"] in [k["id"] for k in (await social.call("GET", "/v1/keys", 200))["data"]]
    await social.call("DELETE", f"/v1/keys/{created['id']}", 204)
    assert (await social.api.client.get("/v1/accounts", headers=other)).status_code == 401
    document_error(
        await social.call("GET", "/v1/platforms/twitter/credentials", 412), "byok.credentials_missing"
    )
    sim.world.register_app("their-app", "their-secret")
    put = await social.call(
        "PUT",
        "/v1/platforms/twitter/credentials",
        200,
        json={"client_id": "their-app", "client_secret": "their-secret"},
    )
    assert put["client_id"] == "their-app" and "their-secret" not in str(put)
    sealed = await social.api.stack.pool.fetchval("SELECT client_secret FROM social_app_credentials")
    assert b"their-secret" not in sealed  # sealed at rest
    assert (await social.call("GET", "/v1/platforms/twitter/credentials", 200))["client_id"] == "their-app"
    assert (await social.call("POST", "/v1/platforms/twitter/credentials/test", 200))["valid"] is True
    b1 = (await social.call("POST", "/v1/brands", 201, json={"name": "b1"}))["id"]
    await social.call(
        "PUT",
        f"/v1/platforms/twitter/credentials/brand/{b1}",
        200,
        json={"client_id": "brand-app", "client_secret": "s"},
    )
    await social.call("DELETE", f"/v1/platforms/twitter/credentials/brand/{b1}", 204)
    await social.call("DELETE", "/v1/platforms/twitter/credentials", 204)
    # a method the path does not have: 405 in this document's envelope too (the one error hook)
    document_error(await social.call("PUT", "/v1/webhooks", 405), "request.method_not_allowed")
    catalog = await social.call("GET", "/v1/webhooks/events", 200)
    assert {"post.published", "dm.received", "comment.received"} <= {e["type"] for e in catalog["data"]}
    async with receiver([500]) as hook:
        made = await social.call(
            "POST", "/v1/webhooks", 201, json={"url": hook.url, "events": ["post.published", "dm.received"]}
        )
        secret = made["secret"]
        assert (await social.call("GET", f"/v1/webhooks/{made['id']}", 200))["url"] == hook.url
        # the one store scopes each document's webhooks by profile: a BulkAPIs one is not listed here
        await social.engine.webhook_store.create(
            social.api.stack.account_id, "bulkapis", url=hook.url, events=["dm.sent"], name="theirs"
        )
        assert [w["id"] for w in (await social.call("GET", "/v1/webhooks", 200))["data"]] == [made["id"]]
        missing = f"/v1/webhooks/{made['id']}/deliveries/00000000-0000-0000-0000-000000000000"
        document_error(await social.call("GET", missing, 404), "delivery.not_found")
        post = await social.call("POST", "/v1/posts", 201, json={"account_id": social.id, "text": "hooked"})
        await social.settled(post["id"])
        first = await hook.next()  # answered 500: retried by the one webhook system
        assert signed(secret, first) and first.json()["event"] == "post.published"
        test = await social.call("POST", f"/v1/webhooks/{made['id']}/test", 202)
        received = [await hook.next()]
        assert all(signed(secret, r) for r in received)
        deliveries = (await social.call("GET", f"/v1/webhooks/{made['id']}/deliveries", 200))["data"]
        assert test["id"] in [d["id"] for d in deliveries]
        one = await social.call("GET", f"/v1/webhooks/{made['id']}/deliveries/{test['id']}", 200)
        assert one["event"] == "webhook.test"
        for _ in range(50):  # the test delivery's attempt is recorded just after its answer
            if (await social.call("GET", f"/v1/webhooks/{made['id']}/deliveries/{test['id']}", 200))[
                "status"
            ] != "pending":
                break
            await asyncio.sleep(0.05)
        again = await social.call("POST", f"/v1/webhooks/{made['id']}/deliveries/{test['id']}/retry", 202)
        assert again["id"] != test["id"] and signed(secret, await hook.next())
        patched = await social.call("PATCH", f"/v1/webhooks/{made['id']}", 200, json={"active": False})
        assert patched["active"] is False
        document_error(
            await social.call("POST", "/v1/webhooks", 400, json={"url": hook.url, "events": ["nope"]}),
            "validation.invalid_request",
        )
        await social.call("DELETE", f"/v1/webhooks/{made['id']}", 204)
        document_error(await social.call("GET", f"/v1/webhooks/{made['id']}", 404), "webhook.not_found")
    events = await social.call("GET", "/v1/events", 200)
    assert events["data"][0]["type"] == "post.published"
    summary = await social.call("GET", "/v1/events/summary", 200)
    assert summary["by_type"]["post.published"] == 1
    usage = await social.call("GET", "/v1/usage", 200)
    assert usage["usage"]["posts_published"] == 1 and usage["usage"]["connected_accounts"] == 1
    assert usage["spent_micro"] == 10_000


async def test_one_opt_out_per_person_across_sms_and_dms(social: Social, sim: XSimulator) -> None:
    """A STOP by DM opts the person out of DMs and, through the contact that names their X id, of SMS;
    opting the phone back in (seed 001) lets the DM through again: one record per person."""
    c, h = social.api.client, social.api.headers()
    alice = sim.world.user_by_name("alice")
    assert alice is not None
    sim.world.dm(to="demo", by="alice", text="hi")
    await social.poll()
    cid = (await social.call("GET", "/v1/inbox/conversations", 200))["data"][0]["id"]
    async with receiver() as hook:  # seed 001's opt_out event, from a DM this time
        made = await c.post("/v1/settings/webhooks", json={"url": hook.url, "events": ["opt_out"]}, headers=h)
        assert made.status_code == 201, made.text
        sim.world.dm(to="demo", by="alice", text=" stop ")
        await social.poll()  # the STOP is stored with the sweep's page, in its transaction
        told = (await hook.next()).json()
        assert told["event"] == "opt_out" and told["data"]["channel"] == "dm"
        assert told["data"]["user_id"] == alice.id and told["data"]["opted_out"] is True
    refused = await social.call("POST", f"/v1/inbox/conversations/{cid}/messages", 422, json={"text": "?"})
    document_error(refused, "recipient.opted_out")
    # the contact groups alice's X id with a phone: the phone is opted out with her
    made = await c.post("/v1/contacts", headers=h,
                        json={"phone": "+447700900411", "fields": {"x_user_id": alice.id}})  # fmt: skip
    assert made.status_code == 201, made.text
    listed = (await c.get("/v1/contacts/opt-outs", headers=h)).json()["data"]
    assert [(o["number"], o["source"]) for o in listed] == [("+447700900411", "person")]
    sms = {"to": "+447700900411", "from": "Acme", "body": "hello"}
    async with asyncio.timeout(10):  # the engine's set learns the grouped phone by NOTIFY, as every node's
        while True:
            if social.engine.is_opted_out(social.api.stack.account_id, "447700900411"):
                break
            await asyncio.sleep(0.02)
    r = await c.post("/v1/sms/send", json=sms, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "OPT_OUT", r.text
    # back in by the SMS surface: the whole person, DMs included
    assert (await c.delete("/v1/contacts/opt-outs/+447700900411", headers=h)).status_code == 200
    assert (await c.get("/v1/contacts/opt-outs", headers=h)).json()["data"] == []
    await social.call("POST", f"/v1/inbox/conversations/{cid}/messages", 202, json={"text": "welcome back"})
    # the one usage record counted both inbound DMs
    assert (await social.call("GET", "/v1/usage", 200))["usage"]["inbox_items"] == 2
    # and out again by the API: the DM is refused again
    assert (
        await c.post("/v1/contacts/opt-outs", json={"number": "+447700900411"}, headers=h)
    ).status_code == 201
    await social.call("POST", f"/v1/inbox/conversations/{cid}/messages", 422, json={"text": "?"})
