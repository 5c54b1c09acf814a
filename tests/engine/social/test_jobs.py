"""Social jobs through the one dispatch loop, against the X simulator: what a customer would see.

Each post is published once and paid once; 5xx are retried, a refusal is final and costs nothing; the
platform's windows are kept before any 429 (a burst over X's 200 posts / 15 min waits instead of
storming X); a 429 pauses the account until x-rate-limit-reset; a conversation's DMs keep their order;
scheduled jobs wait; canceling releases the money. `ledger check` stays clean throughout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
import redis.asyncio as aioredis

from billing.check import format_report
from engine.admin.ledger import check_engine_ledger
from engine.social.actions import Action
from engine.social.connector import rules_for
from engine.social.jobs import SocialJobError
from engine.social.jobs.shared_limits import SharedWindows
from engine.social.simulation.x_api import XSimulator
from tests.engine.social.jobs_harness import SocialStack, social_stack, x_world


@pytest.fixture
async def sim() -> AsyncIterator[XSimulator]:
    async with XSimulator() as simulator:
        x_world(simulator)
        yield simulator


@pytest.fixture
async def social(database_url: str, redis_url: str, sim: XSimulator) -> AsyncIterator[SocialStack]:
    async with social_stack(database_url, redis_url, sim) as stack:
        yield stack


async def ledger_clean(s: SocialStack) -> None:
    async with s.stack.pool.acquire() as conn:
        report = await check_engine_ledger(conn)
    assert report.ok, format_report(report)


async def balance(s: SocialStack) -> int:
    sql = """SELECT a.balance FROM billing_customers c JOIN billing_ledger_accounts a ON a.id = c.available_id
             WHERE c.account_id = $1"""
    return int(await s.stack.pool.fetchval(sql, s.account_id))


async def test_a_post_is_published_once_and_paid_on_success(social: SocialStack, sim: XSimulator) -> None:
    before = await balance(social)
    sub = await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                   {"text": "hello from the loop"}, idempotency_key="k-1")  # fmt: skip
    again = await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                     {"text": "hello from the loop"}, idempotency_key="k-1")  # fmt: skip
    assert again.job_id == sub.job_id and not again.created
    view = await social.jobs.wait(social.account_id, sub.job_id)
    assert view.status == "succeeded" and view.money == "captured"
    posts = [p for p in sim.world.posts.values() if p.text == "hello from the loop"]
    assert len(posts) == 1 and view.result is not None and view.result["id"] == posts[0].id
    assert await balance(social) == before - 10_000  # settings social.prices post.create
    await ledger_clean(social)


async def test_5xx_are_retried_and_a_refusal_is_final_and_free(social: SocialStack, sim: XSimulator) -> None:
    sim.faults.fail_next(2, status=503, path_prefix="/2/tweets")
    sub = await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                   {"text": "through two 503s"})  # fmt: skip
    view = await social.jobs.wait(social.account_id, sub.job_id)
    assert view.status == "succeeded" and view.attempts == 3
    assert sum(1 for p in sim.world.posts.values() if p.text == "through two 503s") == 1
    before = await balance(social)
    dup = await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                   {"text": "through two 503s"})  # fmt: skip
    failed = await social.jobs.wait(social.account_id, dup.job_id)
    assert (failed.status, failed.error_code, failed.money) == ("failed", "duplicate_content", "released")
    assert await balance(social) == before
    sim.faults.fail_next(10, status=500, path_prefix="/2/tweets")
    gone = await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                    {"text": "X is down"})  # fmt: skip
    failed = await social.jobs.wait(social.account_id, gone.job_id)
    assert (failed.status, failed.error_code, failed.attempts) == ("failed", "PLATFORM_ERROR", 5)
    with pytest.raises(SocialJobError) as refused:
        await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                 {"text": "x" * 281})  # fmt: skip
    assert refused.value.code == "text_too_long" and refused.value.meta["limit"] == 280
    await ledger_clean(social)


async def test_a_burst_waits_for_the_window_instead_of_storming_x(
    social: SocialStack, sim: XSimulator
) -> None:
    # X's window for posts, shortened to 2 s on both sides so that the test sees it free up again
    x = social.stack.engine.social.x  # type: ignore[union-attr]
    x.rate_rules = tuple(
        msgspec.structs.replace(r, limit=20, window_seconds=2) if r.name == "x.posts.create" else r
        for r in x.rate_rules
    )
    sim.limits[("POST", "/2/tweets")] = (20, 2)
    subs = await asyncio.gather(*(
        social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                           {"text": f"burst {n}"})
        for n in range(30)
    ))  # fmt: skip
    async with asyncio.timeout(30):
        while sum(1 for p in sim.world.posts.values() if p.text.startswith("burst")) < 20:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert sum(1 for p in sim.world.posts.values() if p.text.startswith("burst")) == 20  # the rest waits
    posted = {p.text for p in sim.world.posts.values()}
    waiting = [await social.jobs.get(social.account_id, s.job_id) for n, s in enumerate(subs)
               if f"burst {n}" not in posted]  # fmt: skip
    assert [v.status for v in waiting] == ["queued"] * 10  # waiting for the window: not 'sending'
    views = [await social.jobs.wait(social.account_id, s.job_id, within=15) for s in subs]
    assert [v.status for v in views] == ["succeeded"] * 30
    assert sum(1 for p in sim.world.posts.values() if p.text.startswith("burst")) == 30
    assert sim.rate_limited == 0  # the window was kept before X had to say so
    await ledger_clean(social)


async def test_the_rate_windows_are_every_nodes_through_redis(
    social: SocialStack, sim: XSimulator, redis_url: str
) -> None:
    """Another node (its own SharedWindows on the same Redis and deployment) spends the account's post
    window: this node's post waits for it instead of calling X, then goes once the window frees up."""
    x = social.stack.engine.social.x  # type: ignore[union-attr]
    x.rate_rules = tuple(
        msgspec.structs.replace(r, limit=5, window_seconds=1) if r.name == "x.posts.create" else r
        for r in x.rate_rules
    )
    sim.limits[("POST", "/2/tweets")] = (5, 1)
    shared = social.jobs.shared
    assert shared is not None  # a Redis URL was given: the windows are shared
    other_redis = aioredis.Redis.from_url(redis_url)
    try:
        other = SharedWindows(other_redis, shared.namespace)
        scope, rules = (str(social.social_account_id), "x"), rules_for(x, Action.CREATE_POST)
        assert [await other.reserve(scope, rules, Action.CREATE_POST) for _ in range(5)] == [0.0] * 5
        assert await other.reserve(scope, rules, Action.CREATE_POST) > 0  # full, for every node
        (rule,) = [r for r in rules if r.name == "x.posts.create"]
        assert await shared.used(rule, scope) == 5  # and this node sees the other's calls
        sub = await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                       {"text": "after the other node"})  # fmt: skip
        view = await social.jobs.wait(social.account_id, sub.job_id, within=15)
        assert view.status == "succeeded" and shared.waited >= 1  # it waited for the other node's window
        assert sim.rate_limited == 0
    finally:
        await other_redis.aclose()
    await ledger_clean(social)


async def test_a_429_pauses_the_account_until_its_reset(social: SocialStack, sim: XSimulator) -> None:
    sim.limits[("POST", "/2/tweets")] = (2, 2)  # X tighter than its published window, for a moment
    subs = [
        await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                 {"text": f"p{i}"})
        for i in range(4)
    ]  # fmt: skip
    views = [await social.jobs.wait(social.account_id, s.job_id, within=15) for s in subs]
    assert [v.status for v in views] == ["succeeded"] * 4
    assert 1 <= sim.rate_limited <= 2  # one 429 per window, not a storm of retries


async def test_a_conversations_dms_keep_their_order(social: SocialStack, sim: XSimulator) -> None:
    sim.faults.fail_next(1, status=503, path_prefix="/2/dm_conversations")
    subs = [
        await social.jobs.submit(social.account_id, social.social_account_id, Action.SEND_DM,
                                 {"recipient_id": social.peer_id, "text": f"dm {i}"})
        for i in range(5)
    ]  # fmt: skip
    for s in subs:
        assert (await social.jobs.wait(social.account_id, s.job_id)).status == "succeeded"
    events = sorted(sim.world.dm_events_of(social.me), key=lambda e: int(e.id))
    texts = [e.text for e in events if e.text.startswith("dm ")]
    assert texts == [f"dm {i}" for i in range(5)]


async def test_scheduled_jobs_wait_and_a_canceled_one_costs_nothing(
    social: SocialStack, sim: XSimulator
) -> None:
    before = await balance(social)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    sub = await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                   {"text": "later"}, scheduled_for=soon)  # fmt: skip
    later = await social.jobs.submit(social.account_id, social.social_account_id, Action.CREATE_POST,
                                     {"text": "never"}, scheduled_for=soon + timedelta(hours=1))  # fmt: skip
    assert (await social.jobs.get(social.account_id, sub.job_id)).status == "scheduled"
    canceled = await social.jobs.cancel(social.account_id, later.job_id)
    assert (canceled.status, canceled.money) == ("canceled", "released")
    view = await social.jobs.wait(social.account_id, sub.job_id)
    assert view.status == "succeeded" and view.final_at is not None and view.final_at >= soon
    assert not any(p.text == "never" for p in sim.world.posts.values())
    assert await balance(social) == before - 10_000
    await ledger_clean(social)
