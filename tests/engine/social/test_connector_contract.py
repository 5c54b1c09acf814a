"""The connector contract, run against every platform (X, Bluesky) and its simulator over real HTTP.

Each test is something the dispatch loop relies on: every action returns its typed result or raises
one classified error; cursors hand out every inbound item exactly once across calls and restarts;
429 is RateLimited with the platform's reset time; 5xx is Transient; an expired token is refreshed and
the call succeeds; a revoked grant is NeedsReauth and marks the account.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from engine.social.actions import (
    Action,
    ConversationPage,
    CreatePost,
    HideReply,
    ListPage,
    NoParams,
    PostTarget,
    RepliesPage,
    Reply,
    SendConversationDm,
    SendDm,
    UserLookup,
)
from engine.social.connector import METHODS, PlatformConnector, rules_for
from engine.social.errors import NeedsReauth, Permanent, RateLimited, Transient
from tests.engine.social.conftest import Harness


async def drain(fetch, cursor: str | None, limit: int = 2) -> tuple[list[str], str]:  # type: ignore[no-untyped-def]
    """Call a listing until it says there is no more right now; the ids handed out, and the cursor."""
    ids: list[str] = []
    for _ in range(100):
        page = await fetch(cursor, limit)
        ids.extend(item.id for item in page.items)
        cursor = page.cursor
        if not page.more:
            return ids, cursor
    raise AssertionError("the listing never ended")


def test_every_action_has_a_method_and_a_rate_rule(platform: Harness) -> None:
    connector: PlatformConnector = platform.connector
    for action in Action:
        assert callable(getattr(connector, METHODS[action]))
        assert rules_for(connector, action), f"{platform.platform} has no rate rule for {action}"


async def test_create_get_and_delete_a_post(platform: Harness) -> None:
    session = await platform.session()
    created = await platform.connector.create_post(session, CreatePost(text="Hello from the contract suite"))
    assert created.text == "Hello from the contract suite" and created.url
    post = await platform.connector.get_post(session, PostTarget(post_id=created.id))
    assert post.text == created.text and post.author_id == session.account.platform_user_id
    assert (await platform.connector.delete_post(session, PostTarget(post_id=created.id))).changed
    with pytest.raises(Permanent) as gone:
        await platform.connector.get_post(session, PostTarget(post_id=created.id))
    assert gone.value.code == "not_found"
    await platform.connector.delete_post(session, PostTarget(post_id=created.id))  # a retried delete succeeds


async def test_reply_is_part_of_the_conversation(platform: Harness) -> None:
    session = await platform.session()
    parent = await platform.connector.create_post(session, CreatePost(text="A question?"))
    answer = await platform.connector.reply(session, Reply(in_reply_to=parent.id, text="An answer."))
    post = await platform.connector.get_post(session, PostTarget(post_id=answer.id))
    assert post.in_reply_to == parent.id and post.conversation_id == parent.id


async def test_like_and_unlike_show_in_the_metrics_and_repeat_harmlessly(platform: Harness) -> None:
    session = await platform.session()
    target = platform.peer_post()
    assert (await platform.connector.like(session, PostTarget(post_id=target))).changed
    await platform.connector.like(session, PostTarget(post_id=target))  # liking twice is not an error
    post = await platform.connector.get_post(session, PostTarget(post_id=target))
    assert post.metrics is not None and post.metrics.likes == 1
    await platform.connector.unlike(session, PostTarget(post_id=target))
    post = await platform.connector.get_post(session, PostTarget(post_id=target))
    assert post.metrics is not None and post.metrics.likes == 0


async def test_hide_and_unhide_a_reply_in_our_thread_only(platform: Harness) -> None:
    session = await platform.session()
    ours = await platform.connector.create_post(session, CreatePost(text="Our thread"))
    reply = platform.reply_by_peer(ours.id, "an unwanted reply")
    assert (await platform.connector.hide_reply(session, HideReply(reply_id=reply, hidden=True))).changed
    await platform.connector.hide_reply(session, HideReply(reply_id=reply, hidden=False))
    theirs = platform.peer_post("their thread")
    foreign_reply = platform.reply_by_peer(theirs, "a reply in their thread")
    with pytest.raises(Permanent) as refused:
        await platform.connector.hide_reply(session, HideReply(reply_id=foreign_reply, hidden=True))
    assert refused.value.code == "forbidden"


async def test_dm_to_a_user_then_to_the_conversation(platform: Harness) -> None:
    session = await platform.session()
    first = await platform.connector.send_dm(session, SendDm(recipient_id=platform.peer_id, text="Hi there"))
    second = await platform.connector.send_conversation_dm(
        session, SendConversationDm(conversation_id=first.conversation_id, text="Second message")
    )
    assert second.conversation_id == first.conversation_id and second.message_id != first.message_id
    page = await platform.connector.list_conversation_messages(
        session, ConversationPage(conversation_id=first.conversation_id)
    )
    assert [event.text for event in page.items] == ["Second message", "Hi there"]  # newest first
    assert {event.sender_id for event in page.items} == {session.account.platform_user_id}


async def test_dm_to_someone_who_accepts_none_is_permanent(platform: Harness) -> None:
    session = await platform.session()
    with pytest.raises(Permanent) as refused:
        await platform.connector.send_dm(session, SendDm(recipient_id=platform.closed_peer_id, text="Hello?"))
    assert refused.value.code == "recipient_not_accepting_dms"


async def test_too_long_a_post_is_permanent(platform: Harness) -> None:
    session = await platform.session()
    with pytest.raises(Permanent) as refused:
        await platform.connector.create_post(session, CreatePost(text="x" * 301))
    assert refused.value.code == "text_too_long"


async def test_user_lookup_by_id_and_by_name_and_me(platform: Harness) -> None:
    session = await platform.session()
    by_id = await platform.connector.lookup_user(session, UserLookup(user_id=platform.peer_id))
    by_name = await platform.connector.lookup_user(session, UserLookup(username=platform.peer_name))
    assert by_id == by_name and by_id.username == platform.peer_name and by_id.display_name == "Alice"
    me = await platform.connector.me(session, NoParams())
    assert me.id == session.account.platform_user_id
    with pytest.raises(Permanent) as missing:
        await platform.connector.lookup_user(session, UserLookup(username="nobody-here"))
    assert missing.value.code == "not_found"


async def test_mentions_cursor_neither_misses_nor_repeats(platform: Harness) -> None:
    async def fetch(cursor: str | None, limit: int):  # type: ignore[no-untyped-def]
        return await platform.connector.list_mentions(
            await platform.session(), ListPage(cursor=cursor, limit=limit)
        )

    limit = 5  # X's mentions take 5 to 100 a page
    first = [platform.mention(f"@{platform.extra['me']} number {i}") for i in range(12)]
    seen, cursor = await drain(fetch, None, limit)
    assert sorted(seen) == sorted(first) and len(seen) == len(set(seen))
    assert (await drain(fetch, cursor, limit))[0] == []  # nothing new: nothing handed out again
    later = [platform.mention(f"@{platform.extra['me']} later {i}") for i in range(7)]
    # A poller that stored the cursor mid-sweep and restarted resumes from it (a fresh session).
    page = await fetch(cursor, limit)
    resumed, cursor = await drain(fetch, page.cursor, limit)
    assert sorted([p.id for p in page.items] + resumed) == sorted(later)


async def test_replies_cursor_neither_misses_nor_repeats(platform: Harness) -> None:
    session = await platform.session()
    root = await platform.connector.create_post(session, CreatePost(text="Comments welcome"))

    async def fetch(cursor: str | None, limit: int):  # type: ignore[no-untyped-def]
        return await platform.connector.list_replies(
            session, RepliesPage(post_id=root.id, cursor=cursor, limit=limit)
        )

    first = [platform.reply_by_peer(root.id, f"comment {i}") for i in range(13)]
    seen, cursor = await drain(fetch, None, 10)
    assert sorted(seen) == sorted(first) and len(seen) == len(set(seen))
    later = [platform.reply_by_peer(root.id, f"late comment {i}") for i in range(3)]
    again, _ = await drain(fetch, cursor, 10)
    assert sorted(again) == sorted(later)


async def test_dm_events_cursor_neither_misses_nor_repeats(platform: Harness) -> None:
    async def fetch(cursor: str | None, limit: int):  # type: ignore[no-untyped-def]
        return await platform.connector.list_dm_events(
            await platform.session(), ListPage(cursor=cursor, limit=limit)
        )

    for i in range(9):
        platform.inbound_dm(f"inbound {i}")
    seen, cursor = await drain(fetch, None, 4)
    assert len(seen) == 9 == len(set(seen))
    for i in range(4):
        platform.inbound_dm(f"more {i}")
    more, cursor = await drain(fetch, cursor, 4)
    assert len(more) == 4 and not set(more) & set(seen)
    assert (await drain(fetch, cursor, 4))[0] == []


async def test_own_posts_listing_hands_out_each_post_once(platform: Harness) -> None:
    session = await platform.session()

    async def fetch(cursor: str | None, limit: int):  # type: ignore[no-untyped-def]
        return await platform.connector.list_posts(session, ListPage(cursor=cursor, limit=limit))

    made = [
        (await platform.connector.create_post(session, CreatePost(text=f"post {i}"))).id for i in range(7)
    ]
    seen, cursor = await drain(fetch, None, 5)
    assert sorted(seen) == sorted(made)
    newer = (await platform.connector.create_post(session, CreatePost(text="one more"))).id
    assert (await drain(fetch, cursor, 5))[0] == [newer]


async def test_429_is_rate_limited_until_the_platforms_reset(platform: Harness) -> None:
    session = await platform.session()
    platform.allow_only(1, Action.ME, seconds=600)
    await platform.connector.me(session, NoParams())
    before = time.time()
    with pytest.raises(RateLimited) as limited:
        await platform.connector.me(session, NoParams())
    reset = limited.value.reset_at.timestamp()
    assert before + 590 <= reset <= before + 602  # the window's end as the platform reported it
    assert limited.value.remaining == 0 and limited.value.reset_at.tzinfo == UTC


async def test_5xx_is_transient_and_the_next_try_succeeds(platform: Harness) -> None:
    session = await platform.session()
    platform.fail_next(1, status=503)
    with pytest.raises(Transient) as failed:
        await platform.connector.create_post(session, CreatePost(text="through an outage"))
    assert failed.value.status == 503 and failed.value.maybe_done
    assert (await platform.connector.create_post(session, CreatePost(text="through an outage"))).id


async def test_a_platform_that_does_not_answer_in_time_is_transient(platform: Harness) -> None:
    session = await platform.session()
    connector = type(platform.connector)(platform.sim.base_url, timeout=0.2)
    platform.sim.faults.latency_ms = 1000
    try:
        with pytest.raises(Transient):
            await connector.me(session, NoParams())
    finally:
        platform.sim.faults.latency_ms = 0
        await connector.aclose()


async def test_an_expired_token_is_refreshed_once_and_the_call_succeeds(platform: Harness) -> None:
    before = await platform.store.tokens(platform.social_account_id)
    platform.expire_access_token()
    session = await platform.session()
    assert (await platform.connector.me(session, NoParams())).id == session.account.platform_user_id
    after = await platform.store.tokens(platform.social_account_id)
    assert after.access_token != before.access_token and after.refresh_token != before.refresh_token
    record = await platform.store.get(platform.social_account_id)
    assert record is not None and record.state == "active"


async def test_a_token_about_to_expire_is_refreshed_before_use(platform: Harness) -> None:
    before = await platform.store.tokens(platform.social_account_id)
    assert before.expires_at is not None and before.expires_at > datetime.now(UTC)
    accounts = platform.fresh_accounts()
    accounts._margin = 3 * 3600  # every token of two hours is "about to expire"
    session = await accounts.session(platform.social_account_id)
    await platform.connector.me(session, NoParams())
    after = await platform.store.tokens(platform.social_account_id)
    assert after.access_token != before.access_token


async def test_two_processes_refreshing_at_once_refresh_once(platform: Harness) -> None:
    # Refresh tokens are single use on both platforms: two concurrent refreshes with the same one would
    # spend it twice and wrongly lose the account. The row lock makes the second reuse the first's work.
    platform.expire_access_token()
    one, two = platform.fresh_accounts(), platform.fresh_accounts()
    sessions = [await one.session(platform.social_account_id), await two.session(platform.social_account_id)]
    results = await asyncio.gather(*(platform.connector.me(s, NoParams()) for s in sessions))
    assert {user.id for user in results} == {sessions[0].account.platform_user_id}
    record = await platform.store.get(platform.social_account_id)
    assert record is not None and record.state == "active"


async def test_a_revoked_grant_needs_reauth_and_marks_the_account(platform: Harness) -> None:
    session = await platform.session()
    platform.revoke_access()
    with pytest.raises(NeedsReauth):
        await platform.connector.create_post(session, CreatePost(text="after revocation"))
    record = await platform.store.get(platform.social_account_id)
    assert record is not None and record.state == "needs_reauth" and record.state_reason
    with pytest.raises(NeedsReauth):  # and no session is handed out for it any more
        await platform.accounts.session(platform.social_account_id)
