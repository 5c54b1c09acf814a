"""Webhooks: a transactional outbox of signed event notifications, delivered at least once.

Writing side (any transaction that changes state):

    n = await emit_events(conn, [WebhookEvent(account_id, "message.delivered", data)])   # inside it
    ...commit...
    if n: sender.wake()                                                                 # after it

`emit_events` inserts one `webhook_deliveries` row per active webhook of the account subscribed to the
event, in the caller's transaction, so an event is stored exactly when the change that caused it commits
(and never when it rolls back). `WebhookSender.emit` does the same but first drops the events of accounts
its `WebhookDirectory` knows to have no active webhook: the common case costs no query at all.

Delivering side: `WebhookSender` claims due rows (a lease on next_attempt, SKIP LOCKED, so several
processes share the table), POSTs `{"id", "event", "created_at", "data"}` signed with

    X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    X-Webhook-Id: <the delivery's uuid, the same on every retry>     X-Webhook-Timestamp: <unix seconds>

records every attempt (status code, error, duration), and retries after `schedule` (5 s, 30 s, 300 s).
When the last retry fails the delivery is failed, the webhook marked inactive with the reason, and its
other pending deliveries failed with it. That is the BulkSMSRates profile, every webhook's by default;
a webhook of another profile (engine/outbox/profiles.py: BulkAPIs) has its own body, headers and
signature, its own retry table, and may move an exhausted delivery to a dead-letter list instead
(status failed, dead_lettered_at set, the webhook left active).
It is woken in memory after a commit, by a timer for its own retries, and by a periodic sweep
(retries of another process, anything left by a restart).

This module must never send anything before the row is committed, and never drop a row silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import msgspec
import structlog

from billing.model import LowBalance
from billing.money import format_amount
from engine.outbox.profiles import BULKSMSRATES, DEFAULT, PROFILES, WebhookProfile, sign_bulksmsrates
from engine.outbox.url_guard import TargetPolicy, guarded_client

log = structlog.get_logger("engine.webhooks")

EVENTS = (
    "message.delivered", "message.failed", "message.expired", "message.received", "opt_out",
    "balance.low", "campaign.completed", "campaign.failed", "whatsapp.message",
    # social jobs and the social inbox (engine/social/jobs/model.py SOCIAL_EVENTS)
    "post.published", "post.failed", "post.deleted", "dm.sent", "dm.failed", "dm.received",
    "comment.received", "mention.received", "social.action.succeeded", "social.action.failed",
)  # fmt: skip
# Names a webhook may subscribe to that stand for several events: the BulkSMSRates document's "dlr" is
# every delivery report (its payload example still names the event message.delivered).
ALIASES = {"dlr": ("message.delivered", "message.failed", "message.expired")}
_ALIAS_OF = {event: alias for alias, events in ALIASES.items() for event in events}
# The receipt's carrier stat for a final status, when no receipt said it (dispatch failures, sandbox).
_STAT_OF_STATUS = {
    "delivered": "DELIVRD", "expired": "EXPIRED", "undeliverable": "UNDELIV", "rejected": "REJECTD",
    "failed": "UNDELIV",
}  # fmt: skip
TEST_EVENT = "webhook.test"  # sent by POST /v1/settings/webhooks/{id}/test: one attempt, no retry
SCHEDULE = (5.0, 30.0, 300.0)  # seconds before each retry; after the last one fails: inactive
LEASE_SECONDS = 60.0  # a claimed row is not claimed again before this, unless its attempt is recorded


class WebhookEvent(msgspec.Struct, frozen=True):
    """Something an account's webhooks may be told about. `data` must be JSON-serialisable."""

    account_id: int
    event: str
    data: dict[str, Any]
    at: datetime | None = None  # when it happened; None: now (the transaction's time)


_JSON = msgspec.json.Encoder()

_EMIT = """
INSERT INTO webhook_deliveries (webhook_id, account_id, event, data, created_at)
SELECT w.id, e.account_id, e.event, e.data, coalesce(e.at, now())
FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::timestamptz[], $5::text[]) WITH ORDINALITY
    AS e(account_id, event, data, at, alias, n)
JOIN webhooks w ON w.account_id = e.account_id AND w.active
    AND (e.event = ANY(w.events) OR e.alias = ANY(w.events))
ORDER BY e.n, w.id
"""


def document_payload(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """A message event's data with the fields the BulkSMSRates DLR example names, added to the engine's:
    `message_id`, `destination` in E.164 with '+', `carrier_status` (the receipt's stat) and
    `delivered_at` (null unless delivered)."""
    if not event.startswith("message.") or event == "message.received" or "status" not in data:
        return data
    destination = str(data.get("destination", ""))
    status = str(data["status"])
    return {
        **data,
        "destination": destination if destination.startswith("+") else "+" + destination,
        "carrier_status": data.get("carrier_status") or _STAT_OF_STATUS.get(status, "UNKNOWN"),
        "delivered_at": data.get("done_at") if status == "delivered" else None,
    }


async def emit_events(conn: Any, events: Sequence[WebhookEvent]) -> int:
    """Store a delivery per subscribed active webhook, in `conn`'s transaction; how many were stored.

    One indexed query (webhooks_active), whatever the number of events; none for an empty list.
    """
    if not events:
        return 0
    status: str = await conn.execute(
        _EMIT,
        [e.account_id for e in events],
        [e.event for e in events],
        [_JSON.encode(document_payload(e.event, e.data)).decode() for e in events],
        [e.at for e in events],
        [_ALIAS_OF.get(e.event) for e in events],
    )
    return int(status.rsplit(" ", 1)[-1])


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Webhook-Signature value for `body` sent at `timestamp`."""
    return sign_bulksmsrates(secret, timestamp, body)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def message_event_name(status: str) -> str:
    """The event a final message status raises: undeliverable, rejected and failed are all failures."""
    return {"delivered": "message.delivered", "expired": "message.expired"}.get(status, "message.failed")


class WebhookDirectory:
    """The accounts that have an active webhook, as far as this process knows.

    Unknown (before the first load) means "maybe": only a false "no" could lose an event, so additions
    take effect at once (CRUD in this process calls `add`) and removals only at the next `refresh`.
    Webhooks created by another process are seen at this process' next refresh (every sweep interval).
    """

    def __init__(self) -> None:
        self._accounts: set[int] | None = None
        self._added: set[int] = set()  # added while a refresh was reading: kept by that refresh

    def may_have(self, account_id: int) -> bool:
        return self._accounts is None or account_id in self._accounts

    def add(self, account_id: int) -> None:
        self._added.add(account_id)
        if self._accounts is not None:
            self._accounts.add(account_id)

    async def refresh(self, pool: asyncpg.Pool) -> None:
        self._added = set()
        rows = await pool.fetch("SELECT DISTINCT account_id FROM webhooks WHERE active")
        self._accounts = {r["account_id"] for r in rows} | self._added


_CLAIM = """
UPDATE webhook_deliveries d SET next_attempt = now() + make_interval(secs => $2)
FROM webhooks w
WHERE d.id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt <= now()
               ORDER BY next_attempt LIMIT $1 FOR UPDATE SKIP LOCKED)
  AND w.id = d.webhook_id
RETURNING d.id, d.uuid, d.webhook_id, d.account_id, d.event, d.data, d.attempts, d.created_at,
    w.url, w.secret, w.profile
"""
_ATTEMPT = """
INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms)
VALUES ($1, $2, $3, $4, $5)
"""
_DELIVERED = """
UPDATE webhook_deliveries SET status = 'delivered', attempts = $2, finished_at = now(), last_error = ''
WHERE id = $1
"""
_RETRY = """
UPDATE webhook_deliveries SET attempts = $2, last_error = $3, next_attempt = now() + make_interval(secs => $4)
WHERE id = $1
"""
_FAILED = """
UPDATE webhook_deliveries SET status = 'failed', attempts = $2, last_error = $3, finished_at = now()
WHERE id = $1
"""
_DEAD_LETTER = """
UPDATE webhook_deliveries SET status = 'failed', attempts = $2, last_error = $3, finished_at = now(),
    dead_lettered_at = now()
WHERE id = $1
"""
_DEACTIVATE = """
UPDATE webhooks SET active = false, inactive_reason = $2, updated_at = now() WHERE id = $1 AND active
"""
_FAIL_REST = """
UPDATE webhook_deliveries SET status = 'failed', finished_at = now(), last_error = 'webhook deactivated'
WHERE webhook_id = $1 AND status = 'pending' AND event <> 'webhook.test'
"""


class _Due(msgspec.Struct, frozen=True):
    id: int
    uuid: str
    webhook_id: int
    account_id: int
    event: str
    data: Any
    attempts: int
    created_at: datetime
    url: str
    secret: str
    profile: str = DEFAULT

    def decoded_data(self) -> Any:
        return msgspec.json.decode(self.data) if isinstance(self.data, str | bytes) else self.data

    def body(self) -> bytes:
        return PROFILES.get(self.profile, BULKSMSRATES).body(self)


class WebhookSender:
    """Delivers the outbox. `schedule` is the retry table (tests shorten it); start() / close()."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        http_client: httpx.AsyncClient | None = None,
        *,
        schedule: Sequence[float] = SCHEDULE,
        sweep_interval: float = 2.0,
        timeout: float = 10.0,
        max_in_flight: int = 200,
        targets: TargetPolicy | None = None,
    ) -> None:
        self._pool = pool
        self._owns_http = http_client is None  # a client passed in is its owner's to close
        # customer-chosen URLs: only through the SSRF guard (engine/outbox/url_guard.py)
        self._http = http_client or guarded_client(targets or TargetPolicy(), timeout=timeout)
        self.schedule = tuple(schedule)  # the default (BulkSMSRates) profile's retry table
        # other profiles' retry tables, when not their own (tests shorten them): profile name -> seconds
        self.schedules: dict[str, tuple[float, ...]] = {}
        self.directory = WebhookDirectory()
        self._sweep_interval = sweep_interval
        self._max_in_flight = max_in_flight
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempts: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._progress = asyncio.Condition()
        self.delivered = 0
        self.failed_attempts = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._sweeper())

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._attempts:  # attempts in flight finish and are recorded; a cut one is retried at restart
            await asyncio.wait(self._attempts, timeout=5.0)
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------------------------ writing side

    async def emit(self, conn: Any, events: Sequence[WebhookEvent]) -> int:
        """`emit_events` for the accounts that may have webhooks; no query when none may."""
        wanted = [e for e in events if self.directory.may_have(e.account_id)]
        return await emit_events(conn, wanted) if wanted else 0

    def wake(self) -> None:
        """Rows were committed: deliver them now rather than at the next sweep."""
        self._wake.set()

    def low_balance(self, low: LowBalance) -> None:
        """The acceptor's callback (after its commit): a balance.low event in its own short transaction."""
        if not self.directory.may_have(low.account_id):
            return
        data = {
            "currency": low.currency,
            "available": low.available,
            "threshold": low.threshold,
            "available_amount": format_amount(low.available, 2),
            "threshold_amount": format_amount(low.threshold, 2),
        }
        self._spawn(self._emit_alone([WebhookEvent(low.account_id, "balance.low", data)]))

    async def _emit_alone(self, events: list[WebhookEvent]) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                stored = await self.emit(conn, events)
        except (asyncpg.PostgresError, OSError) as exc:
            log.error("webhook event not stored", events=[e.event for e in events], error=repr(exc))
            return
        if stored:
            self.wake()

    # ---------------------------------------------------------------------------- delivering side

    def schedule_of(self, profile: WebhookProfile) -> tuple[float, ...]:
        if profile.name == DEFAULT:
            return self.schedule
        return self.schedules.get(profile.name, profile.schedule)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._attempts.add(task)
        task.add_done_callback(self._attempts.discard)

    async def _sweeper(self) -> None:
        while True:
            try:
                await self.directory.refresh(self._pool)
                await self.sweep()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("webhook sweep failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sweep_interval):
                    await self._wake.wait()
            self._wake.clear()

    async def sweep(self) -> int:
        """Claim and start every due delivery (up to the in-flight limit); how many were started."""
        room = self._max_in_flight - len(self._attempts)
        if room <= 0:
            return 0
        rows = await self._pool.fetch(_CLAIM, room, LEASE_SECONDS)
        for row in rows:
            self._spawn(self._attempt(_Due(**{k: row[k] for k in row.keys()} | {"uuid": str(row["uuid"])})))
        return len(rows)

    async def _attempt(self, due: _Due) -> None:
        profile = PROFILES.get(due.profile, BULKSMSRATES)
        body = profile.body(due)
        headers = profile.headers(due, body, datetime.now(UTC))
        code: int | None = None
        error = ""
        started = time.monotonic()
        try:
            response = await self._http.post(due.url, content=body, headers=headers)
            code = response.status_code
            if not 200 <= code < 300:
                error = f"answered HTTP {code}"
        except (httpx.HTTPError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        duration_ms = int((time.monotonic() - started) * 1000)
        try:
            await self._record(due, code, error, duration_ms)
        except (asyncpg.PostgresError, OSError) as exc:  # the lease runs out and the row is tried again
            log.error("webhook attempt not recorded", delivery=due.id, error=repr(exc))
        async with self._progress:
            if error:
                self.failed_attempts += 1
            else:
                self.delivered += 1
            self._progress.notify_all()

    async def _record(self, due: _Due, code: int | None, error: str, duration_ms: int) -> None:
        attempt = due.attempts + 1
        retry_in: float | None = None
        deactivated = False
        profile = PROFILES.get(due.profile, BULKSMSRATES)
        schedule = self.schedule_of(profile)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(_ATTEMPT, due.id, attempt, code, error, duration_ms)
            if not error:
                await conn.execute(_DELIVERED, due.id, attempt)
            elif due.event != TEST_EVENT and attempt <= len(schedule):
                retry_in = schedule[attempt - 1]
                await conn.execute(_RETRY, due.id, attempt, error, retry_in)
            elif profile.dead_letter and due.event != TEST_EVENT:  # kept for the customer to see and replay
                await conn.execute(_DEAD_LETTER, due.id, attempt, error)
            else:
                await conn.execute(_FAILED, due.id, attempt, error)
                if due.event != TEST_EVENT:  # a test delivery never disables a webhook
                    reason = f"deactivated after {attempt} failed attempts to deliver {due.uuid}: {error}"
                    await conn.execute(_DEACTIVATE, due.webhook_id, reason)
                    await conn.execute(_FAIL_REST, due.webhook_id)
                    deactivated = True
        if retry_in is not None:  # this process knows when: no need to wait for a sweep
            self._retry_timer(retry_in)
        if deactivated:
            log.warning("webhook deactivated", webhook=due.webhook_id, account=due.account_id, error=error)

    def _retry_timer(self, delay: float) -> None:
        def fire() -> None:
            self._timers.discard(handle)
            self.wake()

        handle = asyncio.get_running_loop().call_later(delay + 0.01, fire)
        self._timers.add(handle)

    async def wait_attempts(self, count: int, within: float = 30.0) -> None:
        """Until `count` attempts (successful or not) have been recorded in all: for tests and tools."""
        async with asyncio.timeout(within), self._progress:
            await self._progress.wait_for(lambda: self.delivered + self.failed_attempts >= count)
