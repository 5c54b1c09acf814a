"""Inbound polling: every connected account's DMs, comments and mentions into `social_inbox`, once each.

    poller = InboxPoller(pool, jobs, webhooks, interval=60.0); poller.start(); ...; await poller.close()
    await poller.poll_account(social_account_id)          # one round now (tests, the API's refresh)

Two streams per account: "mentions" (the connector's `list_mentions`: a reply to one of the account's
own posts is stored as a *comment* of that post, anything else as a *mention*) and "dms"
(`list_dm_events`, both directions; only inbound ones raise events). Each page is one transaction:
the stream's cursor row is locked (FOR UPDATE SKIP LOCKED: one node polls a stream at a time), the page
is fetched with the cursor stored by the previous page, the new items are inserted (ON CONFLICT DO
NOTHING on the platform's id), the webhook rows of those that were new are stored, and the cursor moves
on — so a crash anywhere replays at most a page that is then found already stored: nothing is missed or
announced twice across restarts (engine/social/cursors.py keeps the sweeps exact). Calls count against
the account's rate windows in the dispatch loop's `RateLimiter` (seed 000: DM events 15 / 15 min): a
stream whose window is spent waits for its next round instead of drawing a 429.

Polls are not jobs of the dispatch loop: they cost nothing, have no outcome to settle and are repeated
for ever; they share its rate windows, which is what the loop would give them.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from engine import consent, usage
from engine.infra.periodic import Periodic
from engine.outbox.webhooks import WebhookEvent, WebhookSender
from engine.social.actions import Action, DmEvent, ListPage, Page, Post
from engine.social.connector import AccountSession, rules_for
from engine.social.errors import SocialError
from engine.social.jobs.service import SocialJobs

log = structlog.get_logger("engine.social.inbox")

STREAMS = ("mentions", "dms")
_ACTION = {"mentions": Action.LIST_MENTIONS, "dms": Action.LIST_DM_EVENTS}
_EVENT = {"dm": "dm.received", "comment": "comment.received", "mention": "mention.received"}
_MAX_PAGES = 20  # per stream and round: a long backlog is read over several rounds

_LOCK = """
INSERT INTO social_cursors (social_account_id, stream) VALUES ($1, $2) ON CONFLICT DO NOTHING;
"""
_CLAIM = (
    "SELECT cursor FROM social_cursors WHERE social_account_id = $1 AND stream = $2 FOR UPDATE SKIP LOCKED"
)
_SAVE = (
    "UPDATE social_cursors SET cursor = $3, polled_at = now() WHERE social_account_id = $1 AND stream = $2"
)
_OWN_POSTS = """
SELECT DISTINCT result->>'id' AS id FROM social_jobs
WHERE social_account_id = $1 AND status = 'succeeded' AND action IN ('post.create', 'post.reply')
  AND result->>'id' = ANY($2::text[])
"""
_INSERT = """
INSERT INTO social_inbox (account_id, social_account_id, platform, kind, item_id, conversation_id, post_id,
                          in_reply_to, author_id, author_username, direction, text, created_at)
SELECT $1, $2, $3, kind, item_id, conversation_id, post_id, in_reply_to, author_id, author_username,
       direction, text, created_at
FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
            $12::text[], $13::timestamptz[])
    AS t(kind, item_id, conversation_id, post_id, in_reply_to, author_id, author_username, direction, text,
         created_at)
ON CONFLICT (social_account_id, kind, item_id) DO NOTHING
RETURNING id, kind, item_id, conversation_id, post_id, in_reply_to, author_id, author_username, direction,
          text, created_at
"""


def opt_out_data(
    row: asyncpg.Record, social_account_id: int, platform: str, opted_out: bool
) -> dict[str, Any]:
    """The opt_out event of a STOP / START sent by DM (an SMS one names the number instead)."""
    created = row["created_at"]
    return {
        "channel": "dm", "platform": platform, "user_id": row["author_id"], "opted_out": opted_out,
        "keyword": (row["text"] or "").strip().upper(), "social_account_id": social_account_id,
        "conversation_id": row["conversation_id"],
        "received_at": created.isoformat() if created is not None else None,
    }  # fmt: skip


def item_data(row: asyncpg.Record, social_account_id: int, platform: str) -> dict[str, Any]:
    """The webhook payload of a new inbox item."""
    created = row["created_at"]
    return {
        "inbox_id": row["id"], "social_account_id": social_account_id, "platform": platform,
        "kind": row["kind"], "id": row["item_id"], "conversation_id": row["conversation_id"],
        "post_id": row["post_id"], "in_reply_to": row["in_reply_to"], "text": row["text"],
        "author": {"id": row["author_id"], "username": row["author_username"]},
        "created_at": created.isoformat() if created is not None else None,
    }  # fmt: skip


class InboxPoller:
    def __init__(
        self, pool: asyncpg.Pool, jobs: SocialJobs, webhooks: WebhookSender | None, *, interval: float = 60.0
    ) -> None:
        self._pool = pool
        self._jobs = jobs
        self._webhooks = webhooks
        self.interval = interval
        self._rounds = Periodic("inbox poll", self.poll_all, interval)
        self.rounds = 0
        self.stored = 0

    def start(self) -> None:
        self._rounds.start()

    async def close(self) -> None:
        await self._rounds.close()

    def wake(self) -> None:
        self._rounds.wake()

    async def poll_all(self) -> int:
        rows = await self._pool.fetch("SELECT id FROM social_accounts WHERE state = 'active' ORDER BY id")
        stored = 0
        for row in rows:
            stored += await self.poll_account(row["id"])
        self.rounds += 1
        return stored

    async def poll_account(self, social_account_id: int) -> int:
        """One round of every stream of the account; how many new items were stored."""
        try:
            session = await self._jobs.accounts.session(social_account_id)
        except (KeyError, SocialError):
            return 0
        stored = 0
        for stream in STREAMS:
            try:
                stored += await self._poll_stream(session, stream)
            except SocialError as exc:
                log.info(
                    "inbox stream not polled", account=social_account_id, stream=stream, error=exc.message
                )
        self.stored += stored
        return stored

    async def _poll_stream(self, session: AccountSession, stream: str) -> int:
        account = session.account
        connector = self._jobs.connectors.get(account.platform)
        if connector is None:
            return 0
        action = _ACTION[stream]
        rules = rules_for(connector, action)
        stored = 0
        await self._pool.execute(_LOCK, account.id, stream)
        for _ in range(_MAX_PAGES):
            scope = (str(account.id), account.platform)
            if await self._jobs.reserve(scope, rules, action) > 0:
                return stored  # the window is spent: next round
            emitted = 0
            async with self._pool.acquire() as conn, conn.transaction():
                claimed = await conn.fetchrow(_CLAIM, account.id, stream)
                if claimed is None:
                    return stored  # another node is polling this stream right now
                page: Page[Any]
                if stream == "dms":
                    page = await connector.list_dm_events(
                        session, ListPage(cursor=claimed["cursor"], limit=50)
                    )
                    items = [self._dm(e, account.platform_user_id) for e in page.items]
                else:
                    page = await connector.list_mentions(
                        session, ListPage(cursor=claimed["cursor"], limit=50)
                    )
                    own = await self._own_posts(conn, account.id, page.items)
                    items = [self._post(p, own) for p in page.items]
                new = await self._insert(conn, session, items) if items else []
                await conn.execute(_SAVE, account.id, stream, page.cursor)
                events = [
                    WebhookEvent(
                        account.account_id, _EVENT[r["kind"]], item_data(r, account.id, account.platform)
                    )
                    for r in new
                    if r["direction"] == "in"
                ]
                for r in new:  # STOP / START by DM: the sender's opt-out, the same record as SMS's
                    opting = (
                        consent.keyword_of(r["text"])
                        if r["kind"] == "dm" and r["direction"] == "in"
                        else None
                    )
                    if opting is not None and r["author_id"]:
                        address = consent.social_address(account.platform, r["author_id"])
                        if opting:
                            await consent.opt_out(conn, account.account_id, address, "dm")
                        else:
                            await consent.opt_in(conn, account.account_id, address)
                        events.append(
                            WebhookEvent(
                                account.account_id,
                                "opt_out",
                                opt_out_data(r, account.id, account.platform, opting),
                            )
                        )
                if events and self._webhooks is not None:
                    emitted = await self._webhooks.emit(conn, events)
                await usage.record(conn, [
                    usage.Count(account.account_id, usage.inbox_metric(r["kind"]))
                    for r in new
                    if r["direction"] == "in"
                ])  # fmt: skip
            stored += len(new)
            if emitted and self._webhooks is not None:
                self._webhooks.wake()
            if not page.more:
                return stored
        return stored

    @staticmethod
    def _dm(event: DmEvent, me: str) -> tuple[Any, ...]:
        direction = "out" if event.sender_id == me else "in"
        return ("dm", event.id, event.conversation_id, None, None, event.sender_id, None, direction,
                event.text, event.created_at)  # fmt: skip

    @staticmethod
    def _post(post: Post, own: set[str]) -> tuple[Any, ...]:
        parent = post.in_reply_to
        kind = (
            "comment" if parent is not None and (parent in own or post.conversation_id in own) else "mention"
        )
        post_id = (
            (post.conversation_id if post.conversation_id in own else parent) if kind == "comment" else None
        )
        return (kind, post.id, post.conversation_id, post_id, parent, post.author_id, post.author_username,
                "in", post.text, post.created_at)  # fmt: skip

    async def _own_posts(self, conn: Any, social_account_id: int, posts: tuple[Post, ...]) -> set[str]:
        wanted = sorted({p for post in posts for p in (post.in_reply_to, post.conversation_id) if p})
        if not wanted:
            return set()
        return {r["id"] for r in await conn.fetch(_OWN_POSTS, social_account_id, wanted)}

    async def _insert(
        self, conn: Any, session: AccountSession, items: list[tuple[Any, ...]]
    ) -> list[asyncpg.Record]:
        columns = list(zip(*items, strict=True))
        account = session.account
        return list(
            await conn.fetch(
                _INSERT, account.account_id, account.id, account.platform, *[list(c) for c in columns]
            )
        )
