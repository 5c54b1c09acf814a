"""Seed 002 (Xquik) monitors, events, webhooks and trends through a real HTTP client against the running
app, the X simulator (app-only token, user timeline with referenced_tweets, trends) and a webhook
receiver whose signatures are checked with hmac, independently of engine/outbox/profiles.py."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from engine.social.simulation.x_api_monitoring import app_bearer, quote, repost
from tests.http_api.test_webhooks_support import Received, receiver
from tests.http_api.xquik.conftest import Xq

pytestmark = pytest.mark.asyncio(loop_scope="module")
ALL = ["tweet.new", "tweet.reply", "tweet.quote", "tweet.retweet"]


def xquik_signed(secret: str, request: Received) -> bool:
    """What a customer writes (Xquik's docs): sha256= hex HMAC-SHA256 over "<timestamp>.<nonce>.<body>"."""
    h = request.headers
    signed = f"{h['x-xquik-timestamp']}.{h['x-xquik-nonce']}.".encode() + request.body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return len(h["x-xquik-nonce"]) == 32 and hmac.compare_digest(h["x-xquik-signature"], expected)


async def balance(xq: Xq) -> int:
    return int((await xq.call("GET", "/credits", 200))["balance"])


async def test_monitor_events_webhooks_and_trends(xq: Xq) -> None:
    layer = xq.engine.xquik_monitors
    sender = xq.engine.webhooks
    assert layer is not None and sender is not None
    layer.source.bearer = app_bearer(xq.sim.world)
    sender.schedules["xquik"] = (0.05,)  # two attempts in all, quickly
    world = xq.sim.world
    await xq.grant(1000)

    # monitors: create (resolves xUserId, pays its first hour), duplicates, unknown users, bad names
    monitor = await xq.call("POST", "/monitors", 201, json={"username": "@alice", "eventTypes": ALL})
    assert (
        monitor["username"] == "alice" and monitor["xUserId"] == xq.peer_id and monitor["eventTypes"] == ALL
    )
    assert await balance(xq) == 1000 - 21
    dup = await xq.call("POST", "/monitors", 409, json={"username": "Alice", "eventTypes": ["tweet.new"]})
    assert dup["error"] == "monitor_already_exists"
    missing = await xq.call("POST", "/monitors", 404, json={"username": "nobody_here", "eventTypes": ALL})
    assert missing["error"] == "user_not_found"
    bad = await xq.call("POST", "/monitors", 400, json={"username": "no spaces!", "eventTypes": ALL})
    assert bad["error"] == "invalid_username"
    bad = await xq.call("POST", "/monitors", 400, json={"username": "bob", "eventTypes": ["tweet.like"]})
    assert bad["error"] == "invalid_input"
    listed = await xq.call("GET", "/monitors", 200)
    assert listed["total"] == 1 and listed["monitors"][0]["id"] == monitor["id"]
    assert (await xq.call("GET", f"/monitors/{monitor['id']}", 200))["isActive"] is True
    assert (await xq.call("GET", "/monitors/999999", 404))["error"] == "not_found"
    assert (await xq.call("GET", "/monitors/abc", 400))["error"] == "invalid_id"

    # webhooks: the secret once; an unsafe URL refused by the engine's SSRF policy
    async with receiver() as good, receiver([500, 500]) as bad_receiver:
        hook = await xq.call("POST", "/webhooks", 201, json={"url": good.url, "eventTypes": ALL[:2]})
        secret = hook["secret"]
        flaky = await xq.call(
            "POST", "/webhooks", 201, json={"url": bad_receiver.url, "eventTypes": ["tweet.retweet"]}
        )
        assert all("secret" not in w for w in (await xq.call("GET", "/webhooks", 200))["webhooks"])
        unsafe = await xq.call(
            "POST", "/webhooks", 400, json={"url": "http://169.254.169.254/x", "eventTypes": ALL}
        )
        assert unsafe["error"] == "invalid_input"

        # alice posts, replies, quotes and reposts: one event of each type, oldest first in the log
        original = world.create_post(world.user_by_name("demo").id, "demo's post")  # type: ignore[union-attr]
        new = world.create_post(xq.peer_id, "hello from alice")
        reply = world.reply(to=original.id, by="alice", text="@demo agreed")
        quoted = quote(world, by="alice", of=original.id, text="worth reading")
        reposted = repost(world, by="alice", of=original.id)
        await layer.monitors.poll(int(monitor["id"]))
        await layer.monitors.poll(int(monitor["id"]))  # nothing new: nothing emitted twice
        log = await xq.call("GET", "/events", 200, params={"monitorId": monitor["id"]})
        assert [(e["type"], e["data"]["tweetId"]) for e in log["events"]] == [
            ("tweet.retweet", reposted.id), ("tweet.quote", quoted.id), ("tweet.reply", reply.id),
            ("tweet.new", new.id),
        ]  # fmt: skip
        assert log["hasMore"] is False and log["events"][3]["data"]["text"] == "hello from alice"
        assert set(log["events"][3]["data"]["metrics"]) >= {"likes", "retweets", "replies"}
        page = await xq.call("GET", "/events", 200, params={"limit": 3})
        assert page["hasMore"] is True and len(page["events"]) == 3
        rest = await xq.call("GET", "/events", 200, params={"limit": 3, "after": page["nextCursor"]})
        assert [e["id"] for e in rest["events"]] == [log["events"][3]["id"]] and rest["hasMore"] is False
        only = await xq.call("GET", "/events", 200, params={"eventType": "tweet.quote"})
        assert [e["data"]["tweetId"] for e in only["events"]] == [quoted.id]
        one = await xq.call("GET", f"/events/{only['events'][0]['id']}", 200)
        assert one["monitorId"] == monitor["id"] and one["username"] == "alice"
        assert (await xq.call("GET", "/events", 400, params={"limit": 101}))["error"] == "invalid_input"

        # deliveries: signed as Xquik signs them, the document's payload; the failing one exhausted
        got = sorted([await good.next(), await good.next()], key=lambda r: r.json()["eventType"])
        assert all(xquik_signed(secret, r) for r in got)
        bodies = [r.json() for r in got]
        assert [(b["eventType"], b["data"]["tweetId"]) for b in bodies] == [
            ("tweet.new", new.id),
            ("tweet.reply", reply.id),
        ]
        assert bodies[0]["schemaVersion"] == 1 and bodies[0]["username"] == "alice"
        assert {b["streamEventId"] for b in bodies} <= {e["id"] for e in log["events"]}
        assert not xquik_signed("not-the-secret", got[0])
        await bad_receiver.next()
        await bad_receiver.next()
        await sender.wait_attempts(4)
        statuses = await xq.call("GET", f"/webhooks/{flaky['id']}/deliveries", 200)
        assert [d["status"] for d in statuses["deliveries"]] == ["exhausted"]
        delivered = await xq.call("GET", f"/webhooks/{hook['id']}/deliveries", 200)
        assert {d["status"] for d in delivered["deliveries"]} == {"delivered"}

        # test delivery: the documented webhook.test payload, signed the same way; inactive -> 400
        result = await xq.call("POST", f"/webhooks/{hook['id']}/test", 200)
        assert result["success"] is True and result["statusCode"] == 200
        test = await good.next()
        assert xquik_signed(secret, test)
        assert json.loads(test.body) == {
            "eventType": "webhook.test", "data": {"message": "Test delivery from Xquik"},
            "timestamp": json.loads(test.body)["timestamp"],
        }  # fmt: skip
        off = await xq.call("PATCH", f"/webhooks/{hook['id']}", 200, json={"isActive": False})
        assert off["isActive"] is False
        assert (await xq.call("POST", f"/webhooks/{hook['id']}/test", 400))["error"] == "webhook_inactive"
        await xq.call("DELETE", f"/webhooks/{flaky['id']}", 200)
        assert (await xq.call("DELETE", f"/webhooks/{flaky['id']}", 404))["error"] == "not_found"

    # billing: the next hour is charged when the paid one runs out; a paused monitor is not polled
    await xq.pool.execute("UPDATE xquik_monitors SET paid_until = now() WHERE id = $1", int(monitor["id"]))
    assert await layer.billing.sweep() == 1 and await layer.billing.sweep() == 0
    assert await balance(xq) == 1000 - 42
    paused = await xq.call("PATCH", f"/monitors/{monitor['id']}", 200, json={"isActive": False})
    assert paused["isActive"] is False
    world.create_post(xq.peer_id, "while paused")
    assert await layer.monitors.poll(int(monitor["id"])) == 0
    patched = await xq.call("PATCH", f"/monitors/{monitor['id']}", 200, json={"eventTypes": ["tweet.new"]})
    assert patched["eventTypes"] == ["tweet.new"]

    # trends: metered per trend, cached, the document's shape; an active plan is needed
    xq.sim.monitoring.trends[1] = [("#AI", 120_000), ("Python", 5_400), ("Rust", None)]
    assert (await xq.call("GET", "/trends", 402, params={"woeid": 1}))["error"] == "subscription_inactive"
    await xq.pool.execute("UPDATE xquik_accounts SET plan = 'active' WHERE account_id = $1", xq.account_id)
    trends = await xq.call("GET", "/trends", 200, params={"woeid": 1, "count": 2})
    assert trends["woeid"] == 1 and trends["total"] == 2
    assert [(t["name"], t["rank"], t["query"]) for t in trends["trends"]] == [
        ("#AI", 1, "#AI"),
        ("Python", 2, "Python"),
    ]
    again = await xq.call("GET", "/trends", 200, params={"woeid": 1, "count": 30})
    assert again["total"] == 3 and layer.trends.fetched == 1  # served from the cache
    assert await balance(xq) == 1000 - 42 - 5
    assert (await xq.call("GET", "/trends", 400, params={"woeid": 12345}))["error"] == "invalid_input"

    # delete: the monitor and its events are gone
    await xq.call("DELETE", f"/monitors/{monitor['id']}", 200)
    assert (await xq.call("GET", f"/monitors/{monitor['id']}", 404))["error"] == "not_found"
    assert (await xq.call("GET", "/events", 200))["events"] == []
    await xq.ledger_ok()
