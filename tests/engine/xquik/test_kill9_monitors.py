"""kill -9 of an engine process while its monitors are mid-poll: after a restart every post of the
monitored users is one event (of the right type), each event has exactly one webhook delivery row, and
the receiver got every event. Reuses the social kill -9 test's child process (`idle`: the engine runs,
its poller polls) and the webhook receiver of the HTTP tests."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import asyncpg
import pytest

from engine.admin.provision import create_account
from engine.social.accounts.sealing import KeyRing
from engine.social.simulation.common import Faults
from engine.social.simulation.x_api import XSimulator
from engine.social.simulation.x_api_monitoring import app_bearer, quote, repost
from tests.engine.social.test_kill9_social import child
from tests.engine.test_kill9 import free_port
from tests.http_api.test_webhooks_support import receiver

pytestmark = pytest.mark.slow

USERS = ("ann", "ben", "cal")
POSTS = 30  # per user, read 5 a page: 6+ pages each, every call 20-60 ms at X
ALL = ["tweet.new", "tweet.reply", "tweet.quote", "tweet.retweet"]


async def test_kill_9_mid_poll_emits_each_event_once(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    async with (
        XSimulator(faults=Faults(latency_ms=20, latency_max_ms=60, seed=3)) as sim,
        receiver() as hooks,
    ):
        world = sim.world
        anchor = world.create_post(world.add_user("demo").id, "the post everyone answers")
        expected: dict[str, str] = {}
        for name in USERS:
            user = world.add_user(name)
            for n in range(POSTS):
                kind = n % 4
                if kind == 0:
                    post, event = world.create_post(user.id, f"{name} {n}"), "tweet.new"
                elif kind == 1:
                    post, event = world.reply(to=anchor.id, by=name, text=f"{name} reply {n}"), "tweet.reply"
                elif kind == 2:
                    post, event = quote(world, by=name, of=anchor.id, text=f"{name} quote {n}"), "tweet.quote"
                else:
                    post, event = repost(world, by=name, of=anchor.id), "tweet.retweet"
                expected[post.id] = event
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        account = await create_account(pool, "watcher")
        for name in USERS:  # no cursor yet: every post already there is new to the monitor
            await pool.execute(
                "INSERT INTO xquik_monitors (account_id, username, x_user_id, event_types, paid_until) "
                "VALUES ($1, $2, $3, $4, now() + interval '1 day')",
                account, name, world.user_by_name(name).id, ALL,  # type: ignore[union-attr]
            )  # fmt: skip
        await pool.execute(
            "INSERT INTO webhooks (account_id, url, events, secret, profile) "
            "VALUES ($1, $2, $3, 's3', 'xquik')",
            account, hooks.url, ALL,
        )  # fmt: skip
        env = dict(
            os.environ, SMSENGINE_DATABASE_URL=database_url, SMSENGINE_REDIS_URL=redis_url,
            SMSENGINE_SMPP_PORT=str(free_port()), SMSENGINE_HTTP_PORT="0", SMSENGINE_DATA_DIR=str(tmp_path),
            SMSENGINE_LOG_LEVEL="warning", SMSENGINE_SOCIAL_X_API_BASE_URL=sim.base_url,
            SMSENGINE_SOCIAL_ENCRYPTION_KEYS=KeyRing.new_entry("k1"),
            SMSENGINE_SECURITY_ALLOWED_PRIVATE_TARGETS="127.0.0.1",
            SMSENGINE_MONITORS_X_BEARER_TOKEN=app_bearer(world), SMSENGINE_MONITORS_PAGE_SIZE="5",
            SMSENGINE_MONITORS_POLL_INTERVAL_SECONDS="0.2",
            KILL9_ACCOUNT="0", KILL9_SOCIAL="0", KILL9_PEER="0",
        )  # fmt: skip
        count = "SELECT count(*) FROM xquik_events"
        async with child(env, "idle") as first:
            async with asyncio.timeout(60):
                while await pool.fetchval(count) < len(expected) // 3:  # noqa: ASYNC110 - mid-way
                    await asyncio.sleep(0.01)
            first.send_signal(signal.SIGKILL)
            await first.wait()
        killed_at = await pool.fetchval("SELECT now()")
        assert await pool.fetchval(count) < len(expected)  # the kill did catch the poller mid-way

        async with child(env, "idle"):
            async with asyncio.timeout(60):
                while await pool.fetchval(count) < len(expected):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                # every delivery is sent, but those the killed process had claimed (and maybe sent) wait
                # for their lease to run out (engine/outbox/webhooks.py LEASE_SECONDS): not awaited here
                sql = (
                    "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' "
                    "AND (next_attempt <= now() OR next_attempt > $1::timestamptz + interval '61 seconds')"
                )
                while await pool.fetchval(sql, killed_at) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        events = await pool.fetch("SELECT id, type, tweet_id FROM xquik_events")
        assert {r["tweet_id"]: r["type"] for r in events} == expected and len(events) == len(expected)
        rows = await pool.fetch("SELECT data->>'streamEventId' AS event, status FROM webhook_deliveries")
        assert sorted(r["event"] for r in rows) == sorted(str(r["id"]) for r in events)  # one row each
        received = set()
        while not hooks.requests.empty():
            received.add(hooks.requests.get_nowait().json()["streamEventId"])
        assert received >= {r["event"] for r in rows if r["status"] == "delivered"}
        await pool.close()
