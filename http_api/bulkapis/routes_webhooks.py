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
Endpoints are stored by the engine's one webhook store (engine/outbox/webhook_store.py): this module only
parses requests and shapes answers; it must never send anything or show a secret after creation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.outbox.profiles import BULKAPIS
from engine.outbox.webhook_store import (
    MAX_WEBHOOKS,
    InvalidWebhookUrl,
    StoredWebhook,
    UnsafeTarget,
    WebhookLimitReached,
    WebhookNotFound,
)
from http_api.bulkapis.dialect import DIALECT, BulkApisOk, ok, stamp
from http_api.errors import ApiError, not_found, validation_error
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request

PERMISSION = "webhooks.manage"
PROFILE = BULKAPIS.name

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


def _public_id(webhook_id: int) -> str:
    return f"wh_{webhook_id}"


def _webhook_id(call: Call) -> int:
    raw = call.path("webhookId").removeprefix("wh_")
    if not raw.isdigit() or len(raw) > 18:
        raise not_found("webhook")
    return int(raw)


def _webhook(w: StoredWebhook) -> BulkApisWebhook:
    return BulkApisWebhook(
        _public_id(w.id), w.name, w.url, w.events, w.active, stamp(w.created_at) or "",
        stamp(w.updated_at) or "",
    )  # fmt: skip


@contextmanager
def _worded() -> Iterator[None]:
    """The store's refusals in this document's words."""
    try:
        yield
    except WebhookNotFound:
        raise not_found("webhook") from None
    except InvalidWebhookUrl:
        raise validation_error("url must be an absolute https URL", field="url") from None
    except UnsafeTarget as exc:
        raise ApiError(400, "VALIDATION_ERROR", f"url not allowed: {exc.reason}") from None
    except WebhookLimitReached as exc:
        raise ApiError(403, "PLAN_LIMIT", str(exc)) from None


async def bulkapis_list_webhooks(call: Call) -> Reply:
    return ok([_webhook(w) for w in await call.ctx.engine.webhook_store.all_of(call.account_id, PROFILE)])


async def bulkapis_create_webhook(call: Call) -> Reply:
    body = call.body_as(BulkApisCreateWebhook)
    with _worded():
        w = await call.ctx.engine.webhook_store.create(
            call.account_id, PROFILE, url=body.url, events=body.events, name=body.name, secret=body.secret,
            active=body.isActive, limit=MAX_WEBHOOKS,
        )  # fmt: skip
    created = BulkApisCreatedWebhook(
        _public_id(w.id), w.name, w.url, w.events, w.active, stamp(w.created_at) or "",
        None if body.secret else w.secret,
    )  # fmt: skip
    return ok(created, 201)


async def bulkapis_get_webhook(call: Call) -> Reply:
    with _worded():
        return ok(
            _webhook(await call.ctx.engine.webhook_store.get(call.account_id, PROFILE, _webhook_id(call)))
        )


async def bulkapis_update_webhook(call: Call) -> Reply:
    body = call.body_as(BulkApisUpdateWebhook)
    with _worded():
        w = await call.ctx.engine.webhook_store.update(
            call.account_id, PROFILE, _webhook_id(call), name=body.name, url=body.url, events=body.events,
            secret=body.secret, active=body.isActive,
        )  # fmt: skip
    return ok(_webhook(w))


async def bulkapis_delete_webhook(call: Call) -> Reply:
    webhook_id = _webhook_id(call)
    with _worded():
        await call.ctx.engine.webhook_store.delete(call.account_id, PROFILE, webhook_id)
    return ok(BulkApisDeleted(_public_id(webhook_id), True))


async def bulkapis_dead_letters(call: Call) -> Reply:
    with _worded():
        rows = await call.ctx.engine.webhook_store.dead_letters(call.account_id, PROFILE, _webhook_id(call))
    return ok([
        BulkApisDeadLetter(
            d.uuid, d.event, d.attempts, d.last_error, stamp(d.created_at) or "",
            stamp(d.dead_lettered_at) or "", d.data,
        )
        for d in rows
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
