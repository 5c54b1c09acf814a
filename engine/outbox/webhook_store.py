"""The one store of webhook endpoints and their delivery log: every surface's webhooks CRUD goes here.

    store = engine.webhook_store                  # WebhookStore(pool, url_policy, sender)
    await store.create(account, profile, url=, events=, description=, name=, secret=, active=, limit=)
        -> StoredWebhook (with .secret: show it this once)
    await store.all_of(account, profile) -> [StoredWebhook]      await store.get(account, profile, id)
    await store.update(account, profile, id, url=, events=, description=, name=, secret=, active=,
                       disabled_reason=) -> StoredWebhook    (None: unchanged; disabling fails its pending)
    await store.delete(account, profile, id) -> None           (its deliveries go with it)
    await store.check_url(url) -> str                          (what create/update store; no DNS)
    await store.test(account, profile, id, event, data) -> StoredDelivery   (one delivery, woken now)
    await store.deliveries(account, profile, id, status=, before=, limit=, total=) -> ([..], total)
    await store.delivery(account, profile, id, uuid) -> StoredDelivery
    await store.attempts([delivery ids]) -> {delivery id: [StoredAttempt]}
    await store.retry(account, profile, id, uuid) -> StoredDelivery   (a new delivery, same event + data)
    await store.dead_letters(account, profile, id, limit=) -> [StoredDelivery]

Refusals are exceptions each surface words in its own document: `WebhookNotFound`, `WebhookLimitReached`,
`InvalidWebhookUrl` (not an absolute http(s) URL), `url_guard.UnsafeTarget` (the engine's one SSRF policy
refuses it), `DeliveryNotFound`, `DeliveryPending` (a retry of a delivery still being attempted).
Every query is scoped by (account, profile): another account's or another profile's (engine/outbox/
profiles.py) webhook is not found, exactly like a missing one. Profiles through this store: "bulksmsrates"
(seed 001, and seed 004 whose deliveries are signed the same way) and "bulkapis" (seed 000); "xquik"
(seed 002, engine/xquik/monitors/webhooks.py) has its profile and still its own SQL, to move here.
A surface with its own signing adds a WebhookProfile to profiles.py and its name to the CHECK on
webhooks.profile (a migration of its own, as 0110 does), then calls this store with that name; it keeps
only its request parsing, its ids and its envelope (http_api/social_api/routes_tools.py `_worded` is
the smallest example of wording the store's refusals).

The emitting and delivering side is engine/outbox/webhooks.py; this module never sends anything itself
(test and retry only store a delivery and wake the sender), and never returns a secret after creation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import msgspec

from engine.outbox.url_guard import TargetPolicy, UnsafeTarget
from engine.outbox.webhooks import WebhookSender, new_secret

__all__ = [
    "MAX_WEBHOOKS", "DeliveryNotFound", "DeliveryPending", "InvalidWebhookUrl", "StoredAttempt",
    "StoredDelivery", "StoredWebhook", "UnsafeTarget", "WebhookLimitReached", "WebhookNotFound",
    "WebhookStore",
]  # fmt: skip

MAX_WEBHOOKS = 25  # per account, every profile together: each event fans out to all of them
DISABLED = "disabled through the API"


class WebhookNotFound(LookupError):
    """No such webhook of this account and profile."""


class WebhookLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} webhooks per account")
        self.limit = limit


class InvalidWebhookUrl(ValueError):
    """Not an absolute http(s) URL."""


class DeliveryNotFound(LookupError):
    """No such delivery of this webhook."""


class DeliveryPending(Exception):
    """The delivery is still being attempted: it cannot be retried yet."""


class StoredWebhook(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    account_id: int
    profile: str
    name: str
    url: str
    events: list[str]
    description: str
    active: bool
    inactive_reason: str
    created_at: datetime
    updated_at: datetime
    secret: str | None = None  # only in create's answer


class StoredDelivery(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    uuid: str
    webhook_id: int
    event: str
    status: str  # pending, delivered, failed
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt: datetime
    finished_at: datetime | None
    dead_lettered_at: datetime | None
    data: Any  # decoded JSON


class StoredAttempt(msgspec.Struct, frozen=True, kw_only=True):
    attempt: int
    at: datetime
    status_code: int | None
    error: str
    duration_ms: int


_WEBHOOK = (
    "id, account_id, profile, name, url, events, description, active, inactive_reason, created_at, updated_at"
)
_DELIVERY = (
    "id, uuid, webhook_id, event, status, attempts, last_error, created_at, next_attempt, finished_at,"
    " dead_lettered_at, data"
)
_OWNED = f"SELECT {_WEBHOOK} FROM webhooks WHERE id = $1 AND account_id = $2 AND profile = $3"
_LOCK_ACCOUNT = "SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1::bigint, 0))"
_FAIL_PENDING = """
UPDATE webhook_deliveries SET status = 'failed', finished_at = now(), last_error = 'webhook disabled'
WHERE webhook_id = $1 AND status = 'pending'
"""
_INSERT_DELIVERY = f"""
INSERT INTO webhook_deliveries (webhook_id, account_id, event, data) VALUES ($1, $2, $3, $4)
RETURNING {_DELIVERY}
"""


def _webhook(row: asyncpg.Record, secret: str | None = None) -> StoredWebhook:
    return StoredWebhook(
        id=row["id"], account_id=row["account_id"], profile=row["profile"], name=row["name"], url=row["url"],
        events=list(row["events"]), description=row["description"], active=row["active"],
        inactive_reason=row["inactive_reason"], created_at=row["created_at"], updated_at=row["updated_at"],
        secret=secret,
    )  # fmt: skip


def _delivery(row: asyncpg.Record) -> StoredDelivery:
    data = row["data"]
    return StoredDelivery(
        id=row["id"], uuid=str(row["uuid"]), webhook_id=row["webhook_id"], event=row["event"],
        status=row["status"], attempts=row["attempts"], last_error=row["last_error"],
        created_at=row["created_at"], next_attempt=row["next_attempt"], finished_at=row["finished_at"],
        dead_lettered_at=row["dead_lettered_at"],
        data=msgspec.json.decode(data) if isinstance(data, str | bytes) else data,
    )  # fmt: skip


class WebhookStore:
    """Webhook endpoints and their delivery log over one pool; cheap to make (Engine.webhook_store)."""

    def __init__(self, pool: asyncpg.Pool, policy: TargetPolicy, sender: WebhookSender | None) -> None:
        self._pool = pool
        self._policy = policy
        self._sender = sender

    # ------------------------------------------------------------------------------ endpoints

    def check_url(self, url: str) -> str:
        """The URL as stored: an absolute http(s) URL the SSRF policy allows (engine/outbox/url_guard.py;
        a name is resolved and checked again at each delivery)."""
        try:
            parts = urlsplit(url.strip())
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
        except ValueError:  # "http://[bad", a port that is not a number
            valid = False
        if not valid:
            raise InvalidWebhookUrl("url must be an absolute http or https URL")
        return self._policy.check_url(url)

    async def create(
        self,
        account_id: int,
        profile: str,
        *,
        url: str,
        events: Sequence[str],
        description: str = "",
        name: str = "",
        secret: str | None = None,
        active: bool = True,
        limit: int = MAX_WEBHOOKS,
    ) -> StoredWebhook:
        checked = self.check_url(url)
        secret = secret or new_secret()
        async with self._pool.acquire() as conn, conn.transaction():
            # serialises one account's creations, so the limit holds under concurrency
            await conn.execute(_LOCK_ACCOUNT, account_id)
            count = await conn.fetchval("SELECT count(*) FROM webhooks WHERE account_id = $1", account_id)
            if count >= limit:
                raise WebhookLimitReached(limit)
            row = await conn.fetchrow(
                "INSERT INTO webhooks (account_id, url, events, description, secret, active, profile, name,"
                f" inactive_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_WEBHOOK}",
                account_id, checked, sorted(set(events)), description, secret, active, profile, name,
                "" if active else "created inactive",
            )  # fmt: skip
            assert row is not None
        if active:
            self._may_have(account_id)
        return _webhook(row, secret)

    async def all_of(self, account_id: int, profile: str) -> list[StoredWebhook]:
        rows = await self._pool.fetch(
            f"SELECT {_WEBHOOK} FROM webhooks WHERE account_id = $1 AND profile = $2 ORDER BY id",
            account_id,
            profile,
        )
        return [_webhook(r) for r in rows]

    async def get(self, account_id: int, profile: str, webhook_id: int) -> StoredWebhook:
        return _webhook(await self._owned(self._pool, account_id, profile, webhook_id))

    async def update(
        self,
        account_id: int,
        profile: str,
        webhook_id: int,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        name: str | None = None,
        secret: str | None = None,
        active: bool | None = None,
        disabled_reason: str = DISABLED,
    ) -> StoredWebhook:
        """What is given changes; re-activating clears the reason, disabling fails its pending deliveries
        (an inactive webhook receives nothing) and records `disabled_reason`."""
        async with self._pool.acquire() as conn, conn.transaction():
            current = await self._owned(conn, account_id, profile, webhook_id, lock=True)
            new_url = self.check_url(url) if url is not None else current["url"]
            now_active = current["active"] if active is None else active
            reason = current["inactive_reason"]
            if now_active and not current["active"]:
                reason = ""
            elif not now_active and current["active"]:
                reason = disabled_reason
                await conn.execute(_FAIL_PENDING, webhook_id)
            row = await conn.fetchrow(
                "UPDATE webhooks SET url = $2, events = $3, description = $4, name = $5,"
                " secret = coalesce($6, secret), active = $7, inactive_reason = $8, updated_at = now()"
                f" WHERE id = $1 RETURNING {_WEBHOOK}",
                webhook_id, new_url,
                sorted(set(events)) if events is not None else list(current["events"]),
                description if description is not None else current["description"],
                name if name is not None else current["name"], secret, now_active, reason,
            )  # fmt: skip
            assert row is not None  # locked above: nothing deleted it meanwhile
        if now_active:
            self._may_have(account_id)
        return _webhook(row)

    async def delete(self, account_id: int, profile: str, webhook_id: int) -> None:
        deleted = await self._pool.fetchval(
            "DELETE FROM webhooks WHERE id = $1 AND account_id = $2 AND profile = $3 RETURNING id",
            webhook_id,
            account_id,
            profile,
        )
        if deleted is None:
            raise WebhookNotFound(webhook_id)

    # ------------------------------------------------------------------------------ deliveries

    async def test(
        self, account_id: int, profile: str, webhook_id: int, event: str, data: dict[str, Any]
    ) -> StoredDelivery:
        """One delivery of `event` to this webhook alone; its URL checked again first (stored before the
        guard existed, or allowed then)."""
        async with self._pool.acquire() as conn, conn.transaction():
            current = await self._owned(conn, account_id, profile, webhook_id)
            self._policy.check_url(current["url"])
            row = await self._insert(conn, account_id, webhook_id, event, data)
        self._wake()
        return row

    async def deliveries(
        self,
        account_id: int,
        profile: str,
        webhook_id: int,
        *,
        limit: int,
        before: int | None = None,
        status: str | None = None,
        total: bool = False,
    ) -> tuple[list[StoredDelivery], int | None]:
        """Newest first, `limit` of them below the id `before`; with `total`, how many match in all."""
        args: list[Any] = [webhook_id, account_id]
        filters = ""
        if status is not None:
            args.append(status)
            filters += f" AND status = ${len(args)}"
        async with self._pool.acquire() as conn:
            await self._owned(conn, account_id, profile, webhook_id)
            count: int | None = None
            if total:
                count = await conn.fetchval(
                    "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1 AND account_id = $2"
                    + filters,
                    *args,
                )
            if before is not None:
                args.append(before)
                filters += f" AND id < ${len(args)}"
            args.append(limit)
            rows = await conn.fetch(
                f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE webhook_id = $1 AND account_id = $2"
                f"{filters} ORDER BY id DESC LIMIT ${len(args)}",
                *args,
            )
        return [_delivery(r) for r in rows], count

    async def delivery(self, account_id: int, profile: str, webhook_id: int, uuid: str) -> StoredDelivery:
        async with self._pool.acquire() as conn:
            await self._owned(conn, account_id, profile, webhook_id)
            return await self._find_delivery(conn, webhook_id, uuid)

    async def attempts(self, delivery_ids: Sequence[int]) -> dict[int, list[StoredAttempt]]:
        out: dict[int, list[StoredAttempt]] = {}
        if not delivery_ids:
            return out
        rows = await self._pool.fetch(
            "SELECT delivery_id, attempt, at, status_code, error, duration_ms FROM webhook_attempts"
            " WHERE delivery_id = ANY($1::bigint[]) ORDER BY delivery_id, attempt",
            list(delivery_ids),
        )
        for a in rows:
            out.setdefault(a["delivery_id"], []).append(
                StoredAttempt(
                    attempt=a["attempt"], at=a["at"], status_code=a["status_code"], error=a["error"],
                    duration_ms=a["duration_ms"],
                )
            )  # fmt: skip
        return out

    async def retry(self, account_id: int, profile: str, webhook_id: int, uuid: str) -> StoredDelivery:
        """A finished delivery again, as a new delivery of the same event and data (a new id)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._owned(conn, account_id, profile, webhook_id)
            old = await self._find_delivery(conn, webhook_id, uuid)
            if old.status == "pending":
                raise DeliveryPending(uuid)
            row = await self._insert(conn, account_id, webhook_id, old.event, old.data)
        self._wake()
        return row

    async def dead_letters(
        self, account_id: int, profile: str, webhook_id: int, *, limit: int = 500
    ) -> list[StoredDelivery]:
        async with self._pool.acquire() as conn:
            await self._owned(conn, account_id, profile, webhook_id)
            rows = await conn.fetch(
                f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE webhook_id = $1"
                " AND dead_lettered_at IS NOT NULL ORDER BY id DESC LIMIT $2",
                webhook_id,
                limit,
            )
        return [_delivery(r) for r in rows]

    # ------------------------------------------------------------------------------ plumbing

    async def _owned(
        self, conn: Any, account_id: int, profile: str, webhook_id: int, *, lock: bool = False
    ) -> asyncpg.Record:
        if not 0 < webhook_id < 2**63:
            raise WebhookNotFound(webhook_id)
        row: asyncpg.Record | None = await conn.fetchrow(
            _OWNED + (" FOR UPDATE" if lock else ""), webhook_id, account_id, profile
        )
        if row is None:
            raise WebhookNotFound(webhook_id)
        return row

    async def _find_delivery(self, conn: Any, webhook_id: int, uuid: str) -> StoredDelivery:
        try:
            row = await conn.fetchrow(
                f"SELECT {_DELIVERY} FROM webhook_deliveries WHERE webhook_id = $1 AND uuid = $2::uuid",
                webhook_id,
                uuid,
            )
        except asyncpg.DataError:  # not a uuid
            row = None
        if row is None:
            raise DeliveryNotFound(uuid)
        return _delivery(row)

    async def _insert(
        self, conn: Any, account_id: int, webhook_id: int, event: str, data: Any
    ) -> StoredDelivery:
        row = await conn.fetchrow(
            _INSERT_DELIVERY, webhook_id, account_id, event, msgspec.json.encode(data).decode()
        )
        return _delivery(row)

    def _may_have(self, account_id: int) -> None:
        if self._sender is not None:  # at once: events committed from now on must find this account
            self._sender.directory.add(account_id)

    def _wake(self) -> None:
        if self._sender is not None:
            self._sender.wake()
