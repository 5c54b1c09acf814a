"""Webhook endpoints: an account's endpoints, a test delivery, and the delivery log.

    GET    /v1/settings/webhooks                      webhooks.manage
    POST   /v1/settings/webhooks                      webhooks.manage  201, the signing secret shown once
    GET    /v1/settings/webhooks/{id}                 webhooks.manage
    PATCH  /v1/settings/webhooks/{id}                 webhooks.manage  url, events, description, active
    DELETE /v1/settings/webhooks/{id}                 webhooks.manage  its pending deliveries go with it
    POST   /v1/settings/webhooks/{id}/test            webhooks.manage  202: one signed webhook.test delivery
    GET    /v1/settings/webhooks/{id}/deliveries      webhooks.manage  the log, newest first, cursor paginated

Events are produced and delivered by the engine (engine/outbox/webhooks.py) and endpoints stored by its one
webhook store (engine/outbox/webhook_store.py): this module only parses requests and shapes answers.
Another account's webhook answers 404 exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from engine.outbox.profiles import BULKSMSRATES
from engine.outbox.webhook_store import (
    MAX_WEBHOOKS,
    InvalidWebhookUrl,
    StoredWebhook,
    UnsafeTarget,
    WebhookLimitReached,
    WebhookNotFound,
)
from engine.outbox.webhooks import TEST_EVENT
from http_api.envelopes import Cursor, One, Page, PageQuery, offset_page, one, page_of
from http_api.errors import ApiError, not_found
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.schemas import Request

PERMISSION = "webhooks.manage"

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


PROFILE = BULKSMSRATES.name  # this document's webhooks only: the BulkAPIs surface's are managed there


def _webhook(w: StoredWebhook) -> Webhook:
    return Webhook(w.id, w.url, w.events, w.description, w.active, w.inactive_reason, w.created_at,
                   w.updated_at)  # fmt: skip


def unsafe_url(exc: UnsafeTarget) -> ApiError:
    return ApiError(
        422, "UNSAFE_URL", f"url not allowed: {exc.reason}", {"field": "url", "reason": exc.reason}
    )


@contextmanager
def _worded() -> Iterator[None]:
    """The store's refusals in this document's words."""
    try:
        yield
    except WebhookNotFound:
        raise not_found("webhook") from None
    except InvalidWebhookUrl:  # it has the schema's shape (a bracketed host that is no IPv6 address): 422
        raise ApiError(422, "VALIDATION_ERROR", "url must be an absolute http or https URL",
                       {"field": "url"}) from None  # fmt: skip
    except UnsafeTarget as exc:  # loopback, private, link-local, metadata: engine/outbox/url_guard.py
        raise unsafe_url(exc) from None
    except WebhookLimitReached as exc:
        raise ApiError(409, "LIMIT_REACHED", str(exc)) from None


def _webhook_id(call: Call) -> int:
    raw = call.path("id")
    if not raw.isdigit() or len(raw) > 18:
        raise not_found("webhook")
    return int(raw)


async def list_webhooks(call: Call) -> Reply:
    hooks = await call.ctx.engine.webhook_store.all_of(call.account_id, PROFILE)
    page, pagination = offset_page(hooks, call.query_as(PageQuery))
    return page_of(call, [_webhook(w) for w in page], pagination)


async def create_webhook(call: Call) -> Reply:
    body = call.body_as(WebhookCreate)
    with _worded():
        w = await call.ctx.engine.webhook_store.create(
            call.account_id, PROFILE, url=body.url, events=body.events, description=body.description,
            limit=MAX_WEBHOOKS,
        )  # fmt: skip
    assert w.secret is not None
    created = WebhookCreated(w.id, w.url, w.events, w.description, True, w.secret, w.created_at)
    return one(call, created, 201)


async def get_webhook(call: Call) -> Reply:
    with _worded():
        return one(call, _webhook(await call.ctx.engine.webhook_store.get(call.account_id, PROFILE,
                                                                          _webhook_id(call))))  # fmt: skip


async def update_webhook(call: Call) -> Reply:
    body = call.body_as(WebhookUpdate)
    with _worded():
        w = await call.ctx.engine.webhook_store.update(
            call.account_id, PROFILE, _webhook_id(call), url=body.url, events=body.events,
            description=body.description, active=body.active,
        )  # fmt: skip
    return one(call, _webhook(w))


async def delete_webhook(call: Call) -> Reply:
    webhook_id = _webhook_id(call)
    with _worded():
        await call.ctx.engine.webhook_store.delete(call.account_id, PROFILE, webhook_id)
    return one(call, Deleted(webhook_id, True))


async def test_webhook(call: Call) -> Reply:
    webhook_id = _webhook_id(call)
    store = call.ctx.engine.webhook_store
    with _worded():
        current = await store.get(call.account_id, PROFILE, webhook_id)
        data = {"webhook_id": webhook_id, "message": "a test delivery from smsengine", "url": current.url}
        queued = await store.test(call.account_id, PROFILE, webhook_id, TEST_EVENT, data)
    return one(call, TestQueued(queued.uuid, "pending"), 202)


async def list_deliveries(call: Call) -> Reply:
    q = call.query_as(DeliveryQuery)
    store = call.ctx.engine.webhook_store
    with _worded():
        rows, total = await store.deliveries(
            call.account_id, PROFILE, _webhook_id(call), limit=q.page_size + 1,
            before=decode_cursor(q.cursor), status=q.status, total=True,
        )  # fmt: skip
    page, pagination = paginate(rows, q.page_size, key=lambda d: d.id, total=total or 0)
    attempts = await store.attempts([d.id for d in page])
    data = [
        DeliveryEntry(
            id=d.uuid,
            event=d.event,
            status=d.status,
            attempts=d.attempts,
            last_error=d.last_error,
            created_at=d.created_at,
            next_attempt=d.next_attempt if d.status == "pending" else None,
            finished_at=d.finished_at,
            log=[
                Attempt(a.attempt, a.at, a.status_code, a.error, a.duration_ms)
                for a in attempts.get(d.id, [])
            ],
        )
        for d in page
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
