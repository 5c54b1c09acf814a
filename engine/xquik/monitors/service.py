"""Account monitors: CRUD, and the poller that turns a monitored user's new posts into events, once each.

    monitors = Monitors(pool, source, limiter=jobs.limiter, clock=jobs.clock, webhooks=sender)
    row = await monitors.create(account_id, "elonmusk", ["tweet.new", "tweet.reply"])   # resolves xUserId
    monitors.start(); ...; await monitors.close()          # polls every active monitor each interval
    await monitors.poll(monitor_id)                         # one round now (tests)

Shape: the inbox poller's (engine/social/inbox/poller.py), not a job kind of the dispatch loop. A poll
has nothing a loop job has: no price held and settled per attempt, no outcome, no lane, and it repeats
for ever; what it must share with the loop is the rate budget, so each page first takes its unit from
the loop's windows (the social targets' `throttle`'s: Redis' SharedWindows across nodes, else the
process' `RateLimiter`) under the app-scope rule
`TIMELINE_APP`; a spent window ends the round for that monitor (the next round resumes).

Once each: a page is one transaction — the monitor's row is locked (FOR UPDATE SKIP LOCKED: one node
polls a monitor at a time), the page is fetched with the cursor stored by the previous page, its events
are inserted (unique on (monitor, type, tweet)), the webhook rows of those that were new are stored
(engine/outbox/webhooks.py, profile xquik) and the cursor moves on. A crash anywhere replays at most the
page, whose events are then found already stored: none is lost or announced twice.
Money is not here: engine/xquik/monitors/billing.py charges an active monitor's hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
import structlog

from engine.dispatch.clock import Clock
from engine.infra.periodic import Periodic
from engine.outbox.webhooks import WebhookEvent, WebhookSender
from engine.social.actions import Action
from engine.social.connector import RateRule
from engine.social.errors import RateLimited, SocialError
from engine.social.jobs.limits import RateLimiter
from engine.social.jobs.shared_limits import SharedWindows
from engine.xquik.monitors.billing import MonitorBilling
from engine.xquik.monitors.x_source import TimelinePost, XSource

log = structlog.get_logger("engine.xquik.monitors")

EVENT_TYPES = ("tweet.new", "tweet.reply", "tweet.quote", "tweet.retweet")
MAX_MONITORS = 200  # GET /monitors lists up to 200, no pagination
_MAX_PAGES = 20  # per monitor and round
TIMELINE_APP = RateRule(
    name="xquik.timeline.app", actions=frozenset({Action.LIST_POSTS}), limit=900, window_seconds=900,
    scope="app", source="X API v2 GET /2/users/:id/tweets, app-only: 900 per 15 minutes as the simulator "
    "enforces it (X publishes 1,500 per app on Pro)",
)  # fmt: skip
RULES = (TIMELINE_APP,)
_SCOPE = ("xquik", "xquik-app")

_COLUMNS = "id, account_id, username, x_user_id, event_types, active, created_at, updated_at, paid_until"


class MonitorExists(Exception):
    pass


class Monitors:
    def __init__(
        self,
        pool: asyncpg.Pool,
        source: XSource,
        *,
        limiter: RateLimiter,
        shared: SharedWindows | None = None,
        clock: Clock,
        webhooks: WebhookSender | None,
        interval: float = 15.0,
        page_size: int = 100,
    ) -> None:
        self._pool = pool
        self.source = source
        self._limiter = limiter
        self._shared = shared  # the windows every node shares (Redis), when the social targets use them
        self._clock = clock
        self._webhooks = webhooks
        self.interval = interval
        self.page_size = page_size
        self._rounds = Periodic("monitor poll", self.poll_all, interval)
        self.rounds = 0
        self.emitted = 0
        self._resume_at = 0.0  # X answered 429 (a window this process did not count): no call before this
        self.billing: MonitorBilling | None = None  # None: monitors cost nothing (tests of polling alone)

    # ------------------------------------------------------------------------------------- CRUD

    async def create(self, account_id: int, username: str, event_types: Sequence[str]) -> asyncpg.Record:
        """Resolve the user on X (Permanent not_found: no such user), refuse a second monitor of the same
        username (MonitorExists), store it with a cursor past the user's newest post."""
        existing = await self._pool.fetchval(
            "SELECT id FROM xquik_monitors WHERE account_id = $1 AND lower(username) = lower($2)",
            account_id, username,
        )  # fmt: skip
        if existing is not None:
            raise MonitorExists(username)
        user = await self.source.user(username)
        cursor = await self.source.newest_cursor(user.id)
        hold = await self.billing.hold_first_hour(account_id) if self.billing is not None else None
        row = None
        try:
            row = await self._pool.fetchrow(
                f"INSERT INTO xquik_monitors (account_id, username, x_user_id, event_types, cursor, "
                f"paid_until) VALUES ($1, $2, $3, $4, $5, now() + interval '1 hour') RETURNING {_COLUMNS}",
                account_id, user.username, user.id, list(dict.fromkeys(event_types)), cursor,
            )  # fmt: skip
        except asyncpg.UniqueViolationError:
            raise MonitorExists(username) from None
        finally:
            if hold is not None and self.billing is not None:
                await self.billing.settle(hold, ok=row is not None)
        assert row is not None
        self.wake()
        return row

    async def list_all(self, account_id: int) -> list[asyncpg.Record]:
        return list(
            await self._pool.fetch(
                f"SELECT {_COLUMNS} FROM xquik_monitors WHERE account_id = $1 ORDER BY id LIMIT $2",
                account_id, MAX_MONITORS,
            )
        )  # fmt: skip

    async def count(self, account_id: int) -> int:
        return int(
            await self._pool.fetchval("SELECT count(*) FROM xquik_monitors WHERE account_id = $1", account_id)
        )

    async def get(self, account_id: int, monitor_id: int) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM xquik_monitors WHERE account_id = $1 AND id = $2", account_id, monitor_id
        )

    async def update(
        self, account_id: int, monitor_id: int, *, event_types: Sequence[str] | None, active: bool | None
    ) -> asyncpg.Record | None:
        """Change event types and / or pause or resume. Resuming a monitor whose paid hour has run out
        starts (and pays) a new hour first: 402 before anything changes."""
        current = await self.get(account_id, monitor_id)
        if current is None:
            return None
        hold = None
        paid = current["paid_until"] is not None and current["paid_until"] > datetime.now(UTC)
        if active and not current["active"] and not paid and self.billing is not None:
            hold = await self.billing.hold_first_hour(account_id)
        row = None
        try:
            row = await self._pool.fetchrow(
                f"UPDATE xquik_monitors SET event_types = coalesce($3, event_types), "
                f"active = coalesce($4, active), updated_at = now(), "
                f"paid_until = CASE WHEN $5 THEN greatest(paid_until, now() + interval '1 hour') "
                f"ELSE paid_until END "
                f"WHERE account_id = $1 AND id = $2 RETURNING {_COLUMNS}",
                account_id, monitor_id, list(dict.fromkeys(event_types)) if event_types is not None else None,
                active, hold is not None,
            )  # fmt: skip
        finally:
            if hold is not None and self.billing is not None:
                await self.billing.settle(hold, ok=row is not None)
        self.wake()
        return row

    async def delete(self, account_id: int, monitor_id: int) -> bool:
        """Stops tracking and deletes the monitor's events with it (ON DELETE CASCADE)."""
        deleted = await self._pool.fetchval(
            "DELETE FROM xquik_monitors WHERE account_id = $1 AND id = $2 RETURNING id",
            account_id,
            monitor_id,
        )
        return deleted is not None

    # ------------------------------------------------------------------------------------ polling

    def start(self) -> None:
        if self.interval > 0:
            self._rounds.start()

    async def close(self) -> None:
        await self._rounds.close()

    def wake(self) -> None:
        self._rounds.wake()

    async def poll_all(self) -> int:
        if self._clock.now() < self._resume_at:
            return 0
        rows = await self._pool.fetch("SELECT id FROM xquik_monitors WHERE active ORDER BY id")
        emitted = 0
        for row in rows:
            try:
                emitted += await self.poll(row["id"])
            except RateLimited as exc:  # another client of the same app spent the window: wait for its reset
                wait = max(0.0, (exc.reset_at - datetime.now(UTC)).total_seconds())
                self._resume_at = self._clock.now() + wait
                log.info("monitors paused: X rate limit", seconds=round(wait, 1))
                break
            except SocialError as exc:
                log.info("monitor not polled", monitor=row["id"], error=exc.message)
        self.rounds += 1
        return emitted

    async def poll(self, monitor_id: int) -> int:
        """One round of the monitor's timeline: how many new events were stored."""
        stored = 0
        for _ in range(_MAX_PAGES):
            if self._shared is not None:
                wait = await self._shared.reserve(_SCOPE, RULES, Action.LIST_POSTS)
            else:
                wait = self._limiter.wait(_SCOPE, RULES, Action.LIST_POSTS, self._clock.now())
            if wait > 0:
                return stored  # the app's window is spent: next round
            emitted = 0
            async with self._pool.acquire() as conn, conn.transaction():
                monitor = await conn.fetchrow(
                    "SELECT id, account_id, username, x_user_id, event_types, cursor FROM xquik_monitors "
                    "WHERE id = $1 AND active FOR UPDATE SKIP LOCKED",
                    monitor_id,
                )
                if monitor is None:
                    return stored  # paused, deleted, or another node is polling it right now
                page = await self.source.timeline(monitor["x_user_id"], monitor["cursor"], self.page_size)
                wanted = [p for p in reversed(page.posts) if p.type in monitor["event_types"]]  # oldest first
                new = await self._insert(conn, monitor, wanted) if wanted else []
                await conn.execute(
                    "UPDATE xquik_monitors SET cursor = $2, polled_at = now() WHERE id = $1",
                    monitor_id,
                    page.cursor,
                )
                if new and self._webhooks is not None:
                    emitted = await self._webhooks.emit(conn, [webhook_event(r) for r in new])
            stored += len(new)
            self.emitted += len(new)
            if emitted and self._webhooks is not None:
                self._webhooks.wake()
            if not page.more:
                return stored
        return stored

    async def _insert(
        self, conn: Any, monitor: asyncpg.Record, posts: list[TimelinePost]
    ) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                """
                INSERT INTO xquik_events (account_id, monitor_id, type, username, tweet_id, occurred_at, data)
                SELECT $1, $2, t.type, $3, t.tweet_id, coalesce(t.occurred_at, now()), t.data
                FROM unnest($4::text[], $5::text[], $6::timestamptz[], $7::jsonb[]) WITH ORDINALITY
                    AS t(type, tweet_id, occurred_at, data, n)
                ORDER BY t.n
                ON CONFLICT (monitor_id, type, tweet_id) DO NOTHING
                RETURNING id, account_id, monitor_id, type, username, tweet_id, occurred_at, data
                """,
                monitor["account_id"], monitor["id"], monitor["username"],
                [p.type for p in posts], [p.id for p in posts], [_time(p.created_at) for p in posts],
                [msgspec.json.encode(event_data(p)).decode() for p in posts],
            )
        )  # fmt: skip


def event_data(post: TimelinePost) -> dict[str, Any]:
    """An event's `data` as the document shows it (tweetId, text, metrics), and what it refers to."""
    data: dict[str, Any] = {"tweetId": post.id, "text": post.text, "metrics": post.metrics}
    if post.referenced_id is not None:
        data["referencedTweetId"] = post.referenced_id
    return data


def webhook_event(row: asyncpg.Record) -> WebhookEvent:
    """The outbox event of a stored monitor event (its body is the xquik profile's)."""
    data = row["data"]
    payload = {
        "streamEventId": str(row["id"]), "monitorId": str(row["monitor_id"]), "username": row["username"],
        "occurredAt": iso(row["occurred_at"]),
        "data": msgspec.json.decode(data) if isinstance(data, str | bytes) else data,
    }  # fmt: skip
    return WebhookEvent(row["account_id"], row["type"], payload)


def iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
