"""Webhook endpoints: an account's endpoints, a test delivery, and the delivery log.

    GET    /v1/settings/webhooks                      webhooks.manage
    POST   /v1/settings/webhooks                      webhooks.manage  201, the signing secret shown once
    GET    /v1/settings/webhooks/{id}                 webhooks.manage
    PATCH  /v1/settings/webhooks/{id}                 webhooks.manage  url, events, description, active
    DELETE /v1/settings/webhooks/{id}                 webhooks.manage  its pending deliveries go with it
    POST   /v1/settings/webhooks/{id}/test            webhooks.manage  202: one signed webhook.test delivery
    GET    /v1/settings/webhooks/{id}/deliveries      webhooks.manage  the log, newest first, cursor paginated

Events are produced and delivered by the engine (engine/outbox/webhooks.py): this module only manages the
endpoints and reads the log. Every query is scoped by the caller's account: another account's webhook
answers 404 exactly like a missing one. It must never show a secret after creation, nor send anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import asyncpg
import msgspec
from msgspec import Meta

from engine.outbox.url_guard import UnsafeTarget
from engine.outbox.webhooks import TEST_EVENT, WebhookSender, new_secret
from http_api.envelopes import Cursor, One, Page, PageQuery, offset_page, one, page_of
from http_api.errors import ApiError, not_found
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.schemas import Request

PERMISSION = "webhooks.manage"
MAX_WEBHOOKS = 25  # per account: each event fans out to all of them

# The document's event names, and the message.* names its DLR payload example uses ("dlr" subscribes to
# message.delivered, message.failed and message.expired: engine.outbox.webhooks.ALIASES).
EventName = Literal[
    "dlr", "opt_out", "campaign.completed", "campaign.failed", "balance.low", "whatsapp.message",
    "message.delivered", "message.failed", "message.expired", "message.received",
]  # fmt: skip
Url = Annotated[
    str,
    Meta(
        min_length=8, max_length=2048,
        pattern=r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]"
        r"|6553[0-5]))?(/[^\x00-\x20]*)?$",
        description="http(s) URL that receives POSTs",
    ),
]  # fmt: skip
Events = Annotated[list[EventName], Meta(min_length=1, max_length=16)]
Description = Annotated[str, Meta(max_length=500, pattern=r"^[^\x00]*$")]


class WebhookCreate(Request, frozen=True):
    url: Url
    events: Events
    description: Description = ""


class WebhookUpdate(Request, frozen=True):
    url: Url | None = None
    events: Events | None = None
    description: Description | None = None
    active: bool | None = None  # true re-activates a webhook disabled after failures


class Webhook(msgspec.Struct, frozen=True):
    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    inactive_reason: str  # why it was disabled, when it was
    created_at: datetime
    updated_at: datetime


class WebhookCreated(msgspec.Struct, frozen=True):
    """The new webhook, with its signing secret: shown this once, never again."""

    id: int
    url: str
    events: list[str]
    description: str
    active: bool
    secret: str
    created_at: datetime


class Deleted(msgspec.Struct, frozen=True):
    id: int
    deleted: bool


class TestQueued(msgspec.Struct, frozen=True):
    delivery_id: str  # X-Webhook-Id of the test request; its outcome appears in the delivery log
    status: str


class Attempt(msgspec.Struct, frozen=True):
    attempt: int
    at: datetime
    status_code: int | None
    error: str
    duration_ms: int


class DeliveryEntry(msgspec.Struct, frozen=True):
    id: str  # X-Webhook-Id
    event: str
    status: str  # pending, delivered, failed
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt: datetime | None  # when pending
    finished_at: datetime | None
    log: list[Attempt]


class DeliveryQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    status: Literal["pending", "delivered", "failed"] | None = None
    page_size: Annotated[int, Meta(ge=1, le=500)] = 50
    cursor: Cursor | None = None


_COLUMNS = "id, url, events, description, active, inactive_reason, created_at, updated_at"
# This document's webhooks only: the BulkAPIs surface's (profile 'bulkapis') are listed and managed there.
_MINE = "profile = 'bulksmsrates'"
_FAIL_PENDING = """
UPDATE webhook_deliveries SET status = 'failed', finished_at = now(), last_error = 'webhook disabled'
WHERE webhook_id = $1 AND status = 'pending'
"""


def _webhook(row: asyncpg.Record) -> Webhook:
    return Webhook(
        row["id"], row["url"], list(row["events"]), row["description"], row["active"],
        row["inactive_reason"], row["created_at"], row["updated_at"],
    )  # fmt: skip


def _check_url(call: Call, url: str) -> str:
    """The URL to store; 400 when it is not an http(s) URL, 422 UNSAFE_URL when it points inside
    (loopback, private, link-local, metadata: engine/outbox/url_guard.py)."""
    try:
        parts = urlsplit(url.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
    except ValueError:  # "http://[bad", a port that is not a number
        valid = False
    if not valid:  # it has the schema's shape (a bracketed host that is no IPv6 address): 422
        raise ApiError(422, "VALIDATION_ERROR", "url must be an absolute http or https URL", {"field": "url"})
    try:
        return call.ctx.engine.url_policy.check_url(url)
    except UnsafeTarget as exc:
        raise unsafe_url(exc) from None


def unsafe_url(exc: UnsafeTarget) -> ApiError:
    return ApiError(
        422, "UNSAFE_URL", f"url not allowed: {exc.reason}", {"field": "url", "reason": exc.reason}
    )


def _sender(call: Call) -> WebhookSender | None:
    return call.ctx.engine.webhooks


def _webhook_id(call: Call) -> int:
    raw = call.path("id")
    if not raw.isdigit() or len(raw) > 18:
        raise not_found("webhook")
    return int(raw)


async def _owned(conn: Any, call: Call, webhook_id: int, *, lock: bool = False) -> asyncpg.Record:
    suffix = " FOR UPDATE" if lock else ""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM webhooks WHERE id = $1 AND account_id = $2 AND {_MINE}{suffix}",
        webhook_id,
        call.account_id,
    )
    if row is None:
        raise not_found("webhook")
    return row


async def list_webhooks(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        f"SELECT {_COLUMNS} FROM webhooks WHERE account_id = $1 AND {_MINE} ORDER BY id", call.account_id
    )
    page, pagination = offset_page(rows, call.query_as(PageQuery))
    return page_of(call, [_webhook(r) for r in page], pagination)


async def create_webhook(call: Call) -> Reply:
    body = call.body_as(WebhookCreate)
    url = _check_url(call, body.url)
    secret = new_secret()
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        # the advisory lock serialises creations of one account, so the limit holds under concurrency
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1::bigint, 0))",
                           call.account_id)  # fmt: skip
        count = await conn.fetchval("SELECT count(*) FROM webhooks WHERE account_id = $1", call.account_id)
        if count >= MAX_WEBHOOKS:
            raise ApiError(409, "LIMIT_REACHED", f"at most {MAX_WEBHOOKS} webhooks per account")
        row = await conn.fetchrow(
            "INSERT INTO webhooks (account_id, url, events, description, secret) VALUES ($1, $2, $3, $4, $5)"
            " RETURNING id, created_at",
            call.account_id, url, sorted(set(body.events)), body.description, secret,
        )  # fmt: skip
        assert row is not None
    sender = _sender(call)
    if sender is not None:  # at once: events committed from now on must find this account
        sender.directory.add(call.account_id)
    created = WebhookCreated(row["id"], url, sorted(set(body.events)), body.description, True, secret,
                             row["created_at"])  # fmt: skip
    return one(call, created, 201)


async def get_webhook(call: Call) -> Reply:
    async with call.ctx.pool.acquire() as conn:
        return one(call, _webhook(await _owned(conn, call, _webhook_id(call))))


async def update_webhook(call: Call) -> Reply:
    body = call.body_as(WebhookUpdate)
    webhook_id = _webhook_id(call)
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        current = await _owned(conn, call, webhook_id, lock=True)
        url = _check_url(call, body.url) if body.url is not None else current["url"]
        events = sorted(set(body.events)) if body.events is not None else list(current["events"])
        description = body.description if body.description is not None else current["description"]
        active = current["active"] if body.active is None else body.active
        reason = current["inactive_reason"]
        if active and not current["active"]:
            reason = ""
        elif not active and current["active"]:
            reason = "disabled through the API"
            await conn.execute(_FAIL_PENDING, webhook_id)  # an inactive webhook receives nothing
        row = await conn.fetchrow(
            f"UPDATE webhooks SET url = $3, events = $4, description = $5, active = $6, inactive_reason = $7,"
            f" updated_at = now() WHERE id = $1 AND account_id = $2 AND {_MINE} RETURNING {_COLUMNS}",
            webhook_id, call.account_id, url, events, description, active, reason,
        )  # fmt: skip
        assert row is not None  # locked above: nothing deleted it meanwhile
    sender = _sender(call)
    if active and sender is not None:
        sender.directory.add(call.account_id)
    return one(call, _webhook(row))


async def delete_webhook(call: Call) -> Reply:
    webhook_id = _webhook_id(call)
    deleted = await call.ctx.pool.fetchval(
        f"DELETE FROM webhooks WHERE id = $1 AND account_id = $2 AND {_MINE} RETURNING id",
        webhook_id,
        call.account_id,
    )
    if deleted is None:
        raise not_found("webhook")
    return one(call, Deleted(deleted, True))


async def test_webhook(call: Call) -> Reply:
    webhook_id = _webhook_id(call)
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        current = await _owned(conn, call, webhook_id)
        try:  # stored before the guard existed, or allowed then: checked again before anything is sent
            call.ctx.engine.url_policy.check_url(current["url"])
        except UnsafeTarget as exc:
            raise unsafe_url(exc) from None
        data = {"webhook_id": webhook_id, "message": "a test delivery from smsengine", "url": current["url"]}
        uuid = await conn.fetchval(
            "INSERT INTO webhook_deliveries (webhook_id, account_id, event, data) VALUES ($1, $2, $3, $4)"
            " RETURNING uuid",
            webhook_id, call.account_id, TEST_EVENT, msgspec.json.encode(data).decode(),
        )  # fmt: skip
    sender = _sender(call)
    if sender is not None:
        sender.wake()
    return one(call, TestQueued(str(uuid), "pending"), 202)


_LOG = """
SELECT id, uuid, event, status, attempts, last_error, created_at, next_attempt, finished_at
FROM webhook_deliveries WHERE webhook_id = $1 AND account_id = $2 {filters}
ORDER BY id DESC LIMIT $3
"""
_ATTEMPTS = """
SELECT delivery_id, attempt, at, status_code, error, duration_ms FROM webhook_attempts
WHERE delivery_id = ANY($1::bigint[]) ORDER BY delivery_id, attempt
"""


async def list_deliveries(call: Call) -> Reply:
    q = call.query_as(DeliveryQuery)
    webhook_id = _webhook_id(call)
    before = decode_cursor(q.cursor)
    args: list[Any] = [webhook_id, call.account_id, q.page_size + 1]
    filters = ""
    if q.status is not None:
        args.append(q.status)
        filters += f" AND status = ${len(args)}"
    async with call.ctx.pool.acquire() as conn:
        await _owned(conn, call, webhook_id)
        total = await conn.fetchval(
            f"SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1 AND account_id = $2 "
            f"AND $3::int > 0 {filters}", *args,
        )  # fmt: skip
        if before is not None:
            args.append(before)
            filters += f" AND id < ${len(args)}"
        rows = await conn.fetch(_LOG.format(filters=filters), *args)
        page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
        attempts: dict[int, list[Attempt]] = {}
        for a in await conn.fetch(_ATTEMPTS, [r["id"] for r in page]):
            attempts.setdefault(a["delivery_id"], []).append(
                Attempt(a["attempt"], a["at"], a["status_code"], a["error"], a["duration_ms"])
            )
    data = [
        DeliveryEntry(
            id=str(r["uuid"]),
            event=r["event"],
            status=r["status"],
            attempts=r["attempts"],
            last_error=r["last_error"],
            created_at=r["created_at"],
            next_attempt=r["next_attempt"] if r["status"] == "pending" else None,
            finished_at=r["finished_at"],
            log=attempts.get(r["id"], []),
        )
        for r in page
    ]
    return page_of(call, data, pagination)


OPERATIONS = [
    Operation("GET", "/v1/settings/webhooks", list_webhooks, "List configured webhooks", PERMISSION,
              "Webhooks", query=PageQuery, responses={200: Page[Webhook]}),
    Operation("POST", "/v1/settings/webhooks", create_webhook, "Create a webhook endpoint (secret once)",
              PERMISSION, "Webhooks", body=WebhookCreate, responses={201: One[WebhookCreated]},
              description="Requests are signed: X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, "
                          "timestamp + '.' + body)>, with X-Webhook-Timestamp and X-Webhook-Id (stable "
                          "across retries). Retried after 5 s, 30 s and 300 s, then disabled."),
    Operation("GET", "/v1/settings/webhooks/{id}", get_webhook, "Get a webhook", PERMISSION, "Webhooks",
              responses={200: One[Webhook]}),
    Operation("PATCH", "/v1/settings/webhooks/{id}", update_webhook, "Update or re-activate a webhook",
              PERMISSION, "Webhooks", body=WebhookUpdate, responses={200: One[Webhook]}),
    Operation("DELETE", "/v1/settings/webhooks/{id}", delete_webhook, "Delete a webhook", PERMISSION,
              "Webhooks", responses={200: One[Deleted]}),
    Operation("POST", "/v1/settings/webhooks/{id}/test", test_webhook, "Send a signed test delivery",
              PERMISSION, "Webhooks", responses={202: One[TestQueued]}),
    Operation("GET", "/v1/settings/webhooks/{id}/deliveries", list_deliveries,
              "Delivery log with every attempt (cursor pagination)", PERMISSION, "Webhooks",
              query=DeliveryQuery, responses={200: Page[DeliveryEntry]}),
]  # fmt: skip
