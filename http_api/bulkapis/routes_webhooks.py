"""BulkAPIs webhooks: rows of the one outbox (engine/outbox/webhooks.py) with the "bulkapis" profile.

    GET    /api/v1/webhooks                          the account's BulkAPIs webhooks
    POST   /api/v1/webhooks                          201 {"id": "wh_...", "name", "url", "events", "isActive",
                                                     "createdAt"}
    GET    /api/v1/webhooks/{webhookId}
    PUT    /api/v1/webhooks/{webhookId}              name, url, secret, events, isActive
    DELETE /api/v1/webhooks/{webhookId}
    GET    /api/v1/webhooks/{webhookId}/dead-letters  beyond the document: deliveries that exhausted their
                                                     5 attempts (the document's "dead letter queue")

Deliveries are signed `X-BulkAPIs-Signature: <hex HMAC-SHA256(secret, raw body)>` with X-BulkAPIs-Event,
-Delivery-Id and -Timestamp (engine/outbox/profiles.py). `secret` is optional in the document: without
one, a secret is made and returned in the creation answer, the only time it is shown.
This module must never send anything, show a secret after creation, or touch another profile's rows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import asyncpg
import msgspec
from msgspec import Meta

from engine.outbox.url_guard import UnsafeTarget
from engine.outbox.webhooks import new_secret
from http_api.bulkapis.dialect import DIALECT, BulkApisOk, ok, stamp
from http_api.errors import ApiError, not_found, validation_error
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request

PERMISSION = "webhooks.manage"
MAX_WEBHOOKS = 25  # per account, every profile together (as the seed 001 surface counts them)
PROFILE = "bulkapis"

Event = Literal["dm.received", "dm.sent", "dm.failed", "post.published", "post.deleted", "comment.received"]
Events = Annotated[list[Event], Meta(min_length=1, max_length=6)]
Name = Annotated[str, Meta(max_length=200, pattern=r"^[^\x00]*$")]
Url = Annotated[str, Meta(min_length=8, max_length=2048, pattern=r"^https?://[^\x00-\x20]+$")]
Secret = Annotated[str, Meta(min_length=8, max_length=256, pattern=r"^[^\x00]*$")]


class BulkApisCreateWebhook(Request, frozen=True):
    name: Name
    url: Url
    events: Events
    secret: Secret | None = None
    isActive: bool = True


class BulkApisUpdateWebhook(Request, frozen=True):
    name: Name | None = None
    url: Url | None = None
    events: Events | None = None
    secret: Secret | None = None
    isActive: bool | None = None


class BulkApisWebhook(msgspec.Struct, frozen=True):
    id: str
    name: str
    url: str
    events: list[str]
    isActive: bool
    createdAt: str
    updatedAt: str


class BulkApisCreatedWebhook(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    name: str
    url: str
    events: list[str]
    isActive: bool
    createdAt: str
    secret: str | None = None  # only when the request gave none: the one we made, shown this once


class BulkApisDeleted(msgspec.Struct, frozen=True):
    id: str
    deleted: bool


class BulkApisDeadLetter(msgspec.Struct, frozen=True):
    deliveryId: str
    event: str
    attempts: int
    lastError: str
    createdAt: str
    deadLetteredAt: str
    data: Any


_COLUMNS = "id, name, url, events, active, created_at, updated_at"


def _public_id(webhook_id: int) -> str:
    return f"wh_{webhook_id}"


def _webhook_id(call: Call) -> int:
    raw = call.path("webhookId").removeprefix("wh_")
    if not raw.isdigit() or len(raw) > 18:
        raise not_found("webhook")
    return int(raw)


def _webhook(r: asyncpg.Record) -> BulkApisWebhook:
    return BulkApisWebhook(
        _public_id(r["id"]), r["name"], r["url"], list(r["events"]), r["active"],
        stamp(r["created_at"]) or "", stamp(r["updated_at"]) or "",
    )  # fmt: skip


def _check_url(call: Call, url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise validation_error("url must be an absolute https URL", field="url")
    try:
        return call.ctx.engine.url_policy.check_url(url)
    except UnsafeTarget as exc:
        raise ApiError(400, "VALIDATION_ERROR", f"url not allowed: {exc.reason}") from None


async def _owned(conn: Any, call: Call, webhook_id: int, *, lock: bool = False) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM webhooks WHERE id = $1 AND account_id = $2 AND profile = '{PROFILE}'"
        + (" FOR UPDATE" if lock else ""),
        webhook_id,
        call.account_id,
    )
    if row is None:
        raise not_found("webhook")
    return row


def _directory_add(call: Call) -> None:
    sender = call.ctx.engine.webhooks
    if sender is not None:  # events committed from now on must find this account
        sender.directory.add(call.account_id)


async def bulkapis_list_webhooks(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        f"SELECT {_COLUMNS} FROM webhooks WHERE account_id = $1 AND profile = '{PROFILE}' ORDER BY id",
        call.account_id,
    )
    return ok([_webhook(r) for r in rows])


async def bulkapis_create_webhook(call: Call) -> Reply:
    body = call.body_as(BulkApisCreateWebhook)
    url = _check_url(call, body.url)
    secret = body.secret or new_secret()
    events: list[str] = sorted(set(body.events))
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('webhooks:' || $1::bigint, 0))", call.account_id
        )
        count = await conn.fetchval("SELECT count(*) FROM webhooks WHERE account_id = $1", call.account_id)
        if count >= MAX_WEBHOOKS:
            raise ApiError(403, "PLAN_LIMIT", f"at most {MAX_WEBHOOKS} webhooks per account")
        row = await conn.fetchrow(
            "INSERT INTO webhooks (account_id, url, events, secret, active, profile, name,"
            " inactive_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id, created_at",
            call.account_id, url, events, secret, body.isActive, PROFILE, body.name,
            "" if body.isActive else "created inactive",
        )  # fmt: skip
        assert row is not None
    if body.isActive:
        _directory_add(call)
    created = BulkApisCreatedWebhook(
        _public_id(row["id"]), body.name, url, events, body.isActive, stamp(row["created_at"]) or "",
        None if body.secret else secret,
    )  # fmt: skip
    return ok(created, 201)


async def bulkapis_get_webhook(call: Call) -> Reply:
    async with call.ctx.pool.acquire() as conn:
        return ok(_webhook(await _owned(conn, call, _webhook_id(call))))


async def bulkapis_update_webhook(call: Call) -> Reply:
    body = call.body_as(BulkApisUpdateWebhook)
    webhook_id = _webhook_id(call)
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        current = await _owned(conn, call, webhook_id, lock=True)
        url = _check_url(call, body.url) if body.url is not None else current["url"]
        events = sorted(set(body.events)) if body.events is not None else list(current["events"])
        active = current["active"] if body.isActive is None else body.isActive
        if not active and current["active"]:  # an inactive webhook receives nothing
            await conn.execute(
                "UPDATE webhook_deliveries SET status = 'failed', finished_at = now(),"
                " last_error = 'webhook disabled' WHERE webhook_id = $1 AND status = 'pending'",
                webhook_id,
            )
        row = await conn.fetchrow(
            f"UPDATE webhooks SET name = $2, url = $3, events = $4, active = $5,"
            f" secret = coalesce($6, secret),"
            f" inactive_reason = CASE WHEN $5 THEN '' ELSE 'disabled through the API' END, updated_at = now()"
            f" WHERE id = $1 RETURNING {_COLUMNS}",
            webhook_id, body.name if body.name is not None else current["name"], url, events, active,
            body.secret,
        )  # fmt: skip
        assert row is not None
    if active:
        _directory_add(call)
    return ok(_webhook(row))


async def bulkapis_delete_webhook(call: Call) -> Reply:
    webhook_id = _webhook_id(call)
    deleted = await call.ctx.pool.fetchval(
        f"DELETE FROM webhooks WHERE id = $1 AND account_id = $2 AND profile = '{PROFILE}' RETURNING id",
        webhook_id,
        call.account_id,
    )
    if deleted is None:
        raise not_found("webhook")
    return ok(BulkApisDeleted(_public_id(deleted), True))


async def bulkapis_dead_letters(call: Call) -> Reply:
    webhook_id = _webhook_id(call)
    async with call.ctx.pool.acquire() as conn:
        await _owned(conn, call, webhook_id)
        rows = await conn.fetch(
            "SELECT uuid, event, attempts, last_error, created_at, dead_lettered_at, data"
            " FROM webhook_deliveries WHERE webhook_id = $1 AND dead_lettered_at IS NOT NULL"
            " ORDER BY id DESC LIMIT 500",
            webhook_id,
        )
    return ok([
        BulkApisDeadLetter(
            str(r["uuid"]), r["event"], r["attempts"], r["last_error"], stamp(r["created_at"]) or "",
            stamp(r["dead_lettered_at"]) or "", msgspec.json.decode(r["data"]),
        )
        for r in rows
    ])  # fmt: skip


_PATH = "/api/v1/webhooks/{webhookId}"
OPERATIONS = [
    Operation("GET", "/api/v1/webhooks", bulkapis_list_webhooks, "List webhooks", PERMISSION, "BulkAPIs",
              responses={200: BulkApisOk[list[BulkApisWebhook]]}, dialect=DIALECT),
    Operation("POST", "/api/v1/webhooks", bulkapis_create_webhook, "Create a webhook", PERMISSION, "BulkAPIs",
              body=BulkApisCreateWebhook, responses={201: BulkApisOk[BulkApisCreatedWebhook]},
              dialect=DIALECT,
              description="Deliveries carry X-BulkAPIs-Signature: hex HMAC-SHA256(secret, raw body), "
                          "X-BulkAPIs-Event, X-BulkAPIs-Delivery-Id, X-BulkAPIs-Timestamp; up to 5 attempts "
                          "with exponential backoff, then the dead-letter list."),
    Operation("GET", _PATH, bulkapis_get_webhook, "Get a webhook", PERMISSION, "BulkAPIs",
              responses={200: BulkApisOk[BulkApisWebhook]}, dialect=DIALECT),
    Operation("PUT", _PATH, bulkapis_update_webhook, "Update a webhook", PERMISSION, "BulkAPIs",
              body=BulkApisUpdateWebhook, responses={200: BulkApisOk[BulkApisWebhook]}, dialect=DIALECT),
    Operation("DELETE", _PATH, bulkapis_delete_webhook, "Delete a webhook", PERMISSION, "BulkAPIs",
              responses={200: BulkApisOk[BulkApisDeleted]}, dialect=DIALECT),
    Operation("GET", _PATH + "/dead-letters", bulkapis_dead_letters,
              "Deliveries that exhausted their attempts", PERMISSION, "BulkAPIs",
              responses={200: BulkApisOk[list[BulkApisDeadLetter]]}, dialect=DIALECT),
]  # fmt: skip
