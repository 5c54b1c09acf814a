"""The unified inbox: DMs, comments and mentions polled with stored cursors, stored and announced once
each — across pages, a platform fault mid-sweep and a fresh poller (what a restart has) — with webhook
signatures checked by the documented formula written out here."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest

from engine.social.actions import Action
from engine.social.inbox.poller import InboxPoller
from engine.social.simulation.x_api import XSimulator
from tests.engine.social.jobs_harness import SocialStack, social_stack, x_world
from tests.http_api.test_webhooks_support import Received, receiver


@pytest.fixture
async def sim() -> AsyncIterator[XSimulator]:
    async with XSimulator() as simulator:
        x_world(simulator)
        yield simulator


@pytest.fixture
async def social(database_url: str, redis_url: str, sim: XSimulator) -> AsyncIterator[SocialStack]:
    async with social_stack(database_url, redis_url, sim, poll_interval_seconds=0) as stack:
        yield stack


def signed(secret: str, request: Received) -> bool:
    """The customer's check: hex HMAC-SHA256(secret, X-Webhook-Timestamp + "." + raw body)."""
    timestamp = request.headers["x-webhook-timestamp"].encode()
    digest = hmac.new(secret.encode(), timestamp + b"." + request.body, hashlib.sha256).hexdigest()
    return request.headers["x-webhook-signature"] == "sha256=" + digest


async def inbox(s: SocialStack, kind: str) -> list[str]:
    rows = await s.stack.pool.fetch(
        "SELECT text FROM social_inbox WHERE kind = $1 ORDER BY item_id::numeric", kind
    )
    return [r["text"] for r in rows]


async def test_every_item_is_stored_and_announced_once_across_pages_faults_and_restarts(
    social: SocialStack, sim: XSimulator
) -> None:
    engine = social.stack.engine
    assert engine.social is not None
    own = await social.jobs.submit(
        social.account_id, social.social_account_id, Action.CREATE_POST, {"text": "mine"}
    )
    post_id = (await social.jobs.wait(social.account_id, own.job_id)).result["id"]  # type: ignore[index]
    async with receiver() as hook:
        secret = "whsec_inbox"
        await social.stack.pool.execute(
            "INSERT INTO webhooks (account_id, url, events, secret) VALUES ($1, $2, $3, $4)",
            social.account_id, hook.url, ["dm.received", "comment.received", "mention.received"], secret,
        )  # fmt: skip
        assert engine.webhooks is not None
        engine.webhooks.directory.add(social.account_id)
        for n in range(60):  # more than one page of DM events
            sim.world.dm(to="demo", by="alice", text=f"hi {n}")
        sim.world.reply(to=post_id, by="alice", text="@demo a comment")
        sim.world.mention(of="demo", by="alice", text="@demo a mention")
        poller = engine.social.poller
        sim.faults.fail_next(1, status=503, path_prefix="/2/dm_events")  # the first DM page fails
        first = await poller.poll_account(social.social_account_id)
        second = await poller.poll_account(social.social_account_id)
        assert first + second == 62
        restarted = InboxPoller(social.stack.engine.pool, engine.social.jobs, engine.webhooks)
        assert await restarted.poll_account(social.social_account_id) == 0  # nothing again
        sim.world.dm(to="demo", by="alice", text="after the restart")
        answer = await social.jobs.submit(social.account_id, social.social_account_id, Action.SEND_DM,
                                          {"recipient_id": social.peer_id, "text": "an answer"})  # fmt: skip
        await social.jobs.wait(social.account_id, answer.job_id)
        assert await restarted.poll_account(social.social_account_id) == 2
        assert await inbox(social, "dm") == [f"hi {n}" for n in range(60)] + [
            "after the restart",
            "an answer",
        ]
        outbound = "SELECT text FROM social_inbox WHERE direction = 'out'"
        assert [r["text"] for r in await social.stack.pool.fetch(outbound)] == ["an answer"]
        assert await inbox(social, "comment") == ["@demo a comment"]
        assert await inbox(social, "mention") == ["@demo a mention"]
        got = [await hook.next() for _ in range(63)]
        assert all(signed(secret, r) for r in got)
        events = sorted((r.json()["event"], r.json()["data"]["text"]) for r in got)
        assert len(set(events)) == 63
        assert ("comment.received", "@demo a comment") in events
        comment = next(r.json()["data"] for r in got if r.json()["event"] == "comment.received")
        assert comment["post_id"] == post_id and comment["author"]["username"] == "alice"
        assert hook.requests.empty()  # our own DM is in the conversation, not announced as received
