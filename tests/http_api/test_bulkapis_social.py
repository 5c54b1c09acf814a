"""The BulkAPIs social endpoints (seed 000) through httpx against the running app and the X simulator:
accounts, DMs, posts, conversations and comments, each row's documented status and fields, the plan's
social codes, and dm.sent / post.published webhooks signed as the document says."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from engine import consent
from engine.social.actions import Action
from http_api.bulkapis.plans import set_membership
from tests.http_api.social_running import SocialApi, social_api
from tests.http_api.test_webhooks_support import receiver


@pytest.fixture
async def api(database_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[SocialApi]:
    async with social_api(database_url, redis_url, redis_prefix) as running:
        yield running


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is True, body
    return body["data"]


def failed(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == code, body


async def finished(api: SocialApi, job_id: str) -> dict[str, Any]:
    await api.social.jobs.wait(api.social.account_id, int(job_id, 16))
    job: dict[str, Any] = ok(await api.client.get(f"/api/v1/jobs/{job_id}", headers=api.auth))
    return job


async def test_accounts_rows(api: SocialApi) -> None:
    c, auth, ref = api.client, api.auth, api.account_ref
    [account] = ok(await c.get("/api/v1/accounts", headers=auth))
    assert account["id"] == ref and account["platform"] == "x" and account["username"] == "demo"
    assert account["platformUserId"] == api.social.me and account["displayName"] == "Demo Account"
    assert (
        account["isActive"] is True and account["needsReauth"] is False and account["createdAt"].endswith("Z")
    )
    assert ok(await c.get(f"/api/v1/accounts/{ref}", headers=auth)) == account
    health = ok(await c.get(f"/api/v1/accounts/{ref}/health", headers=auth))
    assert health["healthy"] is True and health["username"] == "demo"
    failed(await c.get("/api/v1/accounts/acc_999999", headers=auth), 404, "NOT_FOUND")
    # plan limits: no pack, then a pack too small for this account
    await set_membership(api.social.stack.pool, api.social.account_id, "growth", social_packs=0)
    failed(await c.get("/api/v1/accounts", headers=auth), 403, "NO_SOCIAL_PACK")
    body = {"accountId": ref, "recipientUserId": api.social.peer_id, "text": "hi"}
    failed(await c.post("/api/v1/dm/send", json=body, headers=auth), 403, "NO_SOCIAL_PACK")
    await set_membership(api.social.stack.pool, api.social.account_id, "growth", social_packs=1)
    await api.social.stack.pool.execute(  # 50 accounts connected before this one: the pack covers those
        """INSERT INTO social_accounts (account_id, platform, platform_user_id, username, credentials_key_id,
               credentials, created_at)
           SELECT $1, 'x', 'u' || n, 'u' || n, 'k1', '\\x00', now() - interval '1 day'
           FROM generate_series(1, 50) n""",
        api.social.account_id,
    )
    failed(await c.get(f"/api/v1/accounts/{ref}", headers=auth), 403, "SOCIAL_ACCOUNTS_EXCEEDED")
    await set_membership(api.social.stack.pool, api.social.account_id, "growth", social_packs=2)
    assert ok(await c.get(f"/api/v1/accounts/{ref}", headers=auth))["id"] == ref
    # needs reauth: refused with the document's code, and the account says so
    assert api.social.stack.engine.social is not None
    await api.social.stack.engine.social.store.set_state(
        api.social.social_account_id, "needs_reauth", "revoked"
    )
    failed(await c.post("/api/v1/posts", json={"accountId": ref, "text": "x"}, headers=auth), 400,
           "ACCOUNT_NEEDS_REAUTH")  # fmt: skip
    assert ok(await c.get(f"/api/v1/accounts/{ref}", headers=auth))["needsReauth"] is True
    assert ok(await c.delete(f"/api/v1/accounts/{ref}", headers=auth)) == {"id": ref, "deleted": True}
    failed(await c.get(f"/api/v1/accounts/{ref}", headers=auth), 404, "NOT_FOUND")


async def test_dm_and_post_rows_with_signed_webhooks(api: SocialApi) -> None:
    c, auth, ref = api.client, api.auth, api.account_ref
    async with receiver() as hook:
        secret = "whsec_my_secret"
        hook_body = {"name": "p", "url": hook.url, "secret": secret, "events": ["dm.sent", "post.published"]}
        ok(await c.post("/api/v1/webhooks", json=hook_body, headers=auth), 201)
        # POST /api/v1/dm/send, as the document's curl
        body = {"accountId": ref, "recipientUserId": api.social.peer_id, "text": "Hello from BulkAPIs!"}
        queued = ok(await c.post("/api/v1/dm/send", json=body, headers=auth))
        assert queued["status"] == "queued" and queued["message"] == "DM queued for delivery"
        job = await finished(api, queued["jobId"])
        assert job["status"] == "succeeded" and job["action"] == Action.SEND_DM
        sent = await hook.next()
        assert (
            sent.headers["x-bulkapis-signature"]
            == hmac.new(secret.encode(), sent.body, hashlib.sha256).hexdigest()
        )
        assert sent.headers["x-bulkapis-event"] == "dm.sent" and sent.json()["event"] == "dm.sent"
        assert sent.json()["data"]["accountId"] == ref and sent.json()["data"]["jobId"] == queued["jobId"]
        assert sent.json()["data"]["status"] == "succeeded"
        assert api.sim.world.dms[-1].text == "Hello from BulkAPIs!"
        # POST /api/v1/posts
        post = {"accountId": ref, "text": "Hello world from BulkAPIs! 🚀"}
        queued = ok(await c.post("/api/v1/posts", json=post, headers=auth))
        assert queued["status"] == "queued" and queued["message"] == "Post queued for publishing"
        job = await finished(api, queued["jobId"])
        post_id = job["result"]["id"]
        published = await hook.next()
        assert published.headers["x-bulkapis-event"] == "post.published"
        assert published.json()["data"]["result"]["id"] == post_id
    failed(await c.post("/api/v1/posts", json={"accountId": ref, "text": "x" * 281}, headers=auth), 400,
           "VALIDATION_ERROR")  # fmt: skip
    no_recipient = {"accountId": ref, "text": "no recipient"}
    failed(await c.post("/api/v1/dm/send", json=no_recipient, headers=auth), 400, "VALIDATION_ERROR")
    # the recipient opted out (a STOP by DM or SMS: the one record, engine/consent): refused in this
    # document's words, as a send to an opted-out number is in seed 001's
    async with api.social.stack.pool.acquire() as conn:
        await consent.opt_out(
            conn, api.social.account_id, consent.social_address("x", api.social.peer_id), "dm"
        )
    opted = {"accountId": ref, "recipientUserId": api.social.peer_id, "text": "again?"}
    failed(await c.post("/api/v1/dm/send", json=opted, headers=auth), 400, "VALIDATION_ERROR")
    # GET /api/v1/posts?accountId=, GET /api/v1/posts/:postId?accountId=
    posts = ok(await c.get("/api/v1/posts", params={"accountId": ref}, headers=auth))
    assert post_id in [p["id"] for p in posts]
    got = ok(await c.get(f"/api/v1/posts/{post_id}", params={"accountId": ref}, headers=auth))
    assert (
        got["id"] == post_id
        and got["text"] == "Hello world from BulkAPIs! 🚀"
        and got["authorId"] == api.social.me
    )
    # a reply: POST /api/v1/comments/:postId
    reply = ok(
        await c.post(f"/api/v1/comments/{post_id}", json={"accountId": ref, "text": "thread"}, headers=auth)
    )
    assert (await finished(api, reply["jobId"]))["status"] == "succeeded"
    # DELETE /api/v1/posts/:postId?accountId=
    deleted = ok(await c.delete(f"/api/v1/posts/{post_id}", params={"accountId": ref}, headers=auth))
    assert (await finished(api, deleted["jobId"]))["status"] == "succeeded"
    failed(await c.get(f"/api/v1/posts/{post_id}", params={"accountId": ref}, headers=auth), 404, "NOT_FOUND")
    # a platform outage on a read answers 502 PLATFORM_ERROR
    api.sim.faults.fail_next(10, status=503)
    failed(await c.get("/api/v1/posts", params={"accountId": ref}, headers=auth), 502, "PLATFORM_ERROR")


async def test_conversations_and_comments_rows(api: SocialApi) -> None:
    c, auth, ref = api.client, api.auth, api.account_ref
    s = api.social
    queued = ok(await c.post("/api/v1/posts", json={"accountId": ref, "text": "my post"}, headers=auth))
    post_id = (await finished(api, queued["jobId"]))["result"]["id"]
    world = api.sim.world
    dm = world.dm(to="demo", by="alice", text="Hey, I commented on your post!")
    conversation = dm.conversation_id
    world.reply(to=post_id, by="alice", text="@demo nice post")
    assert s.stack.engine.social is not None
    async with receiver() as hook:
        events = ["dm.received", "comment.received"]
        ok(await c.post("/api/v1/webhooks", json={"name": "inbox", "url": hook.url, "events": events},
                        headers=auth), 201)  # fmt: skip
        await s.stack.engine.social.poller.poll_account(s.social_account_id)
        got = {r.headers["x-bulkapis-event"]: r.json() for r in [await hook.next(), await hook.next()]}
    received = got["dm.received"]["data"]  # the document's dm.received example, field for field
    assert set(received) >= {"accountId", "conversationId", "messageId", "senderId", "senderUsername", "text",
                             "createdAt"}  # fmt: skip
    assert received["accountId"] == ref and received["conversationId"] == conversation
    # X's DM events name the sender by id only: the username is there when the inbox knows it
    assert received["senderId"] == s.peer_id and received["senderUsername"] in ("alice", None)
    assert received["text"] == "Hey, I commented on your post!" and received["messageId"] == dm.id
    assert got["comment.received"]["data"]["postId"] == post_id
    conversations = ok(await c.get("/api/v1/conversations", params={"accountId": ref}, headers=auth))
    [conv] = [x for x in conversations if x["id"] == conversation]
    assert conv["accountId"] == ref and s.peer_id in conv["participantIds"] and conv["messageCount"] >= 1
    one = ok(await c.get(f"/api/v1/conversations/{conversation}", params={"accountId": ref}, headers=auth))
    assert one["id"] == conversation
    messages = ok(await c.get(f"/api/v1/conversations/{conversation}/messages", params={"accountId": ref},
                              headers=auth))  # fmt: skip
    assert messages[-1]["text"] == "Hey, I commented on your post!" and messages[-1]["senderId"] == s.peer_id
    failed(
        await c.get("/api/v1/conversations/nope", params={"accountId": ref}, headers=auth), 404, "NOT_FOUND"
    )
    queued = ok(await c.post(f"/api/v1/conversations/{conversation}/messages",
                             json={"accountId": ref, "text": "thanks!"}, headers=auth))  # fmt: skip
    assert (await finished(api, queued["jobId"]))["status"] == "succeeded"
    listed = ok(await c.get("/api/v1/comments", params={"accountId": ref, "postId": post_id}, headers=auth))
    assert [x["text"] for x in listed] == ["@demo nice post"] and listed[0]["authorId"] == s.peer_id
    by_post = ok(await c.get(f"/api/v1/comments/{post_id}", params={"accountId": ref}, headers=auth))
    assert by_post == listed
