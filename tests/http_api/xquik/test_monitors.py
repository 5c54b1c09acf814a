"""Seed 002 (Xquik) monitors, events, webhooks, trends and radar through a real HTTP client against the
running app, the X simulator (app-only token, user timeline with referenced_tweets, trends) and a webhook
receiver whose signatures are checked with hmac, independently of engine/outbox/profiles.py; the
radar's Hacker News and Wikipedia sources are engine/simulation/radar_sources.py."""

from __future__ import annotations

import hashlib
import hmac
import json

import msgspec
import pytest

from engine.simulation.radar_sources import RadarSources
from engine.social.simulation.x_api_monitoring import app_bearer, quote, repost
from engine.xquik import credits
from http_api.xquik import routes_monitors as out
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
    await xq.grant(1000)
    unauthorized = await xq.call("POST", "/monitors", 502, json={"username": "alice", "eventTypes": ALL})
    assert unauthorized["error"] == "x_api_unauthorized"  # no app-only token configured yet
    layer.source.bearer = app_bearer(xq.sim.world)
    sender.schedules["xquik"] = (0.05,)  # two attempts in all, quickly
    world = xq.sim.world

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
        msgspec.convert(log, out.EventsOut)
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
        msgspec.convert(statuses, out.DeliveriesOut)
        msgspec.convert(await xq.call("GET", "/webhooks", 200), out.WebhooksOut)
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
    msgspec.convert(trends, out.TrendsOut)
    assert trends["woeid"] == 1 and trends["total"] == 2
    assert [(t["name"], t["rank"], t["query"]) for t in trends["trends"]] == [
        ("#AI", 1, "#AI"),
        ("Python", 2, "Python"),
    ]
    again = await xq.call("GET", "/trends", 200, params={"woeid": 1, "count": 30})
    assert again["total"] == 3 and layer.trends.fetched == 1  # served from the cache
    assert await balance(xq) == 1000 - 42 - 5
    assert (await xq.call("GET", "/trends", 400, params={"woeid": 12345}))["error"] == "invalid_input"

    # an hour that cannot be paid: resuming is refused (402), an active monitor is paused by the sweep
    await credits.charge(xq.pool, xq.account_id, await balance(xq), "test.drain", "drain")
    mid = int(monitor["id"])
    await xq.pool.execute("UPDATE xquik_monitors SET paid_until = now() WHERE id = $1", mid)
    refused = await xq.call("PATCH", f"/monitors/{mid}", 402, json={"isActive": True})
    assert refused["error"] == "insufficient_credits"
    assert (await xq.call("GET", f"/monitors/{mid}", 200))["isActive"] is False
    await xq.pool.execute("UPDATE xquik_monitors SET active = true WHERE id = $1", mid)
    assert await layer.billing.sweep() == 0 and layer.billing.paused == 1
    assert (await xq.call("GET", f"/monitors/{mid}", 200))["isActive"] is False

    # delete: the monitor and its events are gone
    await xq.call("DELETE", f"/monitors/{monitor['id']}", 200)
    assert (await xq.call("GET", f"/monitors/{monitor['id']}", 404))["error"] == "not_found"
    assert (await xq.call("GET", "/events", 200))["events"] == []
    assert xq.sim.rate_limited == 0  # every call kept within the windows the loop's limiter counts
    await xq.ledger_ok()


async def test_radar_reads_hacker_news_and_wikipedia(xq: Xq) -> None:
    layer = xq.engine.xquik_monitors
    assert layer is not None
    async with RadarSources() as src:
        layer.radar.hacker_news_url = layer.radar.wikipedia_url = src.base_url
        top = src.story("Claude 4.6 Released", points=450, comments=132, by="pgdev")
        src.story("An old story", points=900, age_minutes=60 * 10)  # outside the default 6 hours
        src.story("Small news", points=12)
        src.most_read("en", "Ada_Lovelace", views=90_000, extract="English mathematician")
        src.most_read("de", "Berlin", views=50_000)
        body = await xq.call("GET", "/radar", 200)
        assert [(i["source"], i["title"]) for i in body["items"]] == [
            ("wikipedia", "Ada Lovelace"),
            ("hacker_news", "Claude 4.6 Released"),
            ("hacker_news", "Small news"),
        ]
        msgspec.convert(body, out.RadarOut)
        hn = body["items"][1]
        assert hn["id"] == str(top) and hn["sourceId"] == f"hn_{top}" and hn["category"] == "tech"
        assert (
            hn["metadata"] == {"points": 450, "numberComments": 132, "author": "pgdev"} and hn["score"] == 450
        )
        assert {"publishedAt", "createdAt", "url", "region", "language"} <= set(hn)
        wiki = body["items"][0]
        assert wiki["description"] == "English mathematician" and wiki["imageUrl"].endswith(
            "Ada_Lovelace.jpg"
        )
        page = await xq.call("GET", "/radar", 200, params={"limit": 2, "hours": 72})
        assert page["hasMore"] is True and [i["title"] for i in page["items"]] == [
            "Ada Lovelace",
            "An old story",
        ]
        rest = await xq.call(
            "GET", "/radar", 200, params={"limit": 2, "hours": 72, "after": page["nextCursor"]}
        )
        assert [i["title"] for i in rest["items"]] == ["Claude 4.6 Released", "Small news"]
        assert rest["hasMore"] is False
        german = await xq.call("GET", "/radar", 200, params={"region": "DE", "source": "wikipedia"})
        assert [(i["title"], i["language"]) for i in german["items"]] == [("Berlin", "de")]
        tech = await xq.call("GET", "/radar", 200, params={"category": "general", "source": "hacker_news"})
        assert tech["items"] == []
        for unsupported in ("google_trends", "reddit", "github"):
            assert (await xq.call("GET", "/radar", 200, params={"source": unsupported}))["items"] == []
        asked = src.requests
        await xq.call("GET", "/radar", 200)
        assert src.requests == asked  # served from the refresh cache
        assert (await xq.call("GET", "/radar", 400, params={"hours": 73}))["error"] == "invalid_input"
        assert (await xq.call("GET", "/radar", 400, params={"source": "myspace"}))["error"] == "invalid_input"
