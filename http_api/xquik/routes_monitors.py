"""Xquik monitors, events, webhooks and trends (seed 002) over engine/xquik/monitors/.

    POST /monitors  GET /monitors  GET|PATCH|DELETE /monitors/{id}
    GET /events (monitorId, eventType, limit 1-100, after)  GET /events/{id}
    POST /webhooks  GET /webhooks  PATCH|DELETE /webhooks/{id}  POST /webhooks/{id}/test
    GET /webhooks/{id}/deliveries
    GET /trends?woeid=&count=
    GET /radar?source=&category=&limit=&hours=&region=&after=   (free; engine/xquik/monitors/radar.py)

Where the document is silent: creations answer 201, deletions 200 {"success": true}; an unknown id is
404 not_found; a webhook URL the engine's SSRF policy refuses is 400 invalid_input; a monitor's event
types are the four tweet.* types (webhook.test is only a webhook's); trends cost 1 credit per trend
returned and need an active plan (402 no_subscription), and count is 1-50 (X's max_trends).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.outbox.url_guard import UnsafeTarget
from engine.outbox.webhooks import WebhookSender
from engine.social.errors import AuthExpired, Permanent
from engine.xquik.monitors import events as event_log
from engine.xquik.monitors import webhooks as hooks
from engine.xquik.monitors.radar import RadarItem
from engine.xquik.monitors.runtime import MonitorsLayer
from engine.xquik.monitors.service import MonitorExists, iso
from engine.xquik.monitors.trends import WOEIDS
from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import (
    DIALECT,
    PREFIX,
    PageQuery,
    XquikIn,
    XquikOut,
    decode_cursor,
    id_param,
    page_of,
    xquik_error,
)
from http_api.xquik.metering import metered

TAG = "Xquik monitors"
MonitorEvent = Literal["tweet.new", "tweet.reply", "tweet.quote", "tweet.retweet"]
HookEvent = Literal["tweet.new", "tweet.reply", "tweet.quote", "tweet.retweet", "webhook.test"]
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


class CreateMonitor(XquikIn, frozen=True):
    username: Annotated[str, Meta(max_length=64)]
    event_types: Annotated[list[MonitorEvent], Meta(min_length=1, max_length=4)]


class UpdateMonitor(XquikIn, frozen=True):
    event_types: Annotated[list[MonitorEvent], Meta(min_length=1, max_length=4)] | None = None
    is_active: bool | None = None


class EventsQuery(PageQuery, frozen=True, rename="camel"):
    monitor_id: Annotated[str, Meta(max_length=20)] | None = None
    event_type: Annotated[str, Meta(max_length=40)] | None = None


class CreateWebhook(XquikIn, frozen=True):
    url: Annotated[str, Meta(min_length=8, max_length=2048)]
    event_types: Annotated[list[HookEvent], Meta(min_length=1, max_length=5)]


class UpdateWebhook(XquikIn, frozen=True):
    url: Annotated[str, Meta(min_length=8, max_length=2048)] | None = None
    event_types: Annotated[list[HookEvent], Meta(min_length=1, max_length=5)] | None = None
    is_active: bool | None = None


class TrendsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    woeid: int = 1
    count: Annotated[int, Meta(ge=1, le=50)] = 30


RadarSource = Literal[
    "google_trends", "hacker_news", "polymarket", "trustmrr", "wikipedia", "github", "reddit"
]
RadarCategory = Literal[
    "general", "tech", "dev", "science", "culture", "politics", "business", "entertainment"
]
RadarRegion = Literal["US", "GB", "TR", "ES", "DE", "FR", "JP", "IN", "BR", "CA", "MX", "global"]


class RadarQuery(PageQuery, frozen=True):
    source: RadarSource | None = None
    category: RadarCategory | None = None
    hours: Annotated[int, Meta(ge=1, le=72)] = 6
    region: RadarRegion = "global"


# Answers, for the OpenAPI document (the handlers build the same shapes as dicts).
class MonitorOut(XquikOut, frozen=True):
    id: str
    username: str
    x_user_id: str
    event_types: list[str]
    is_active: bool
    created_at: str


class MonitorsOut(XquikOut, frozen=True):
    monitors: list[MonitorOut]
    total: int


class EventOut(XquikOut, frozen=True):
    id: str
    type: str
    monitor_id: str
    username: str
    occurred_at: str
    data: dict[str, Any]


class EventsOut(XquikOut, frozen=True):
    events: list[EventOut]
    has_more: bool
    next_cursor: str | None = None


class WebhookOut(XquikOut, frozen=True):
    id: str
    url: str
    event_types: list[str]
    is_active: bool
    created_at: str
    updated_at: str
    secret: str | None = None  # in the creation's answer only


class WebhooksOut(XquikOut, frozen=True):
    webhooks: list[WebhookOut]


class TestResultOut(XquikOut, frozen=True):
    success: bool
    status_code: int | None
    error: str | None
    duration_ms: int | None
    delivery_id: str | None = None


class DeliveryOut(XquikOut, frozen=True):
    id: str
    event_type: str
    status: Literal["pending", "delivered", "failed", "exhausted"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    next_attempt_at: str | None


class DeliveriesOut(XquikOut, frozen=True):
    deliveries: list[DeliveryOut]


class TrendOut(XquikOut, frozen=True):
    name: str
    description: str
    rank: int
    query: str


class TrendsOut(XquikOut, frozen=True):
    trends: list[TrendOut]
    total: int
    woeid: int


class RadarItemOut(XquikOut, frozen=True):
    id: str
    title: str
    source: str
    source_id: str
    category: str
    region: str
    language: str
    score: int
    metadata: dict[str, Any]
    published_at: str
    created_at: str
    description: str | None = None
    url: str | None = None
    image_url: str | None = None


class RadarOut(XquikOut, frozen=True):
    items: list[RadarItemOut]
    has_more: bool
    next_cursor: str | None = None


class SuccessOut(XquikOut, frozen=True):
    success: bool


def _layer(call: Call) -> MonitorsLayer:
    layer = call.ctx.engine.xquik_monitors
    if layer is None:
        raise xquik_error(500, "internal_error", "monitors are not running in this process")
    return layer


def _sender(call: Call) -> WebhookSender | None:
    return call.ctx.engine.webhooks


def _monitor(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "username": row["username"], "xUserId": row["x_user_id"],
        "eventTypes": list(row["event_types"]), "isActive": row["active"],
        "createdAt": iso(row["created_at"]),
    }  # fmt: skip


def _unauthorized() -> Exception:
    return xquik_error(502, "x_api_unauthorized", "X data source authentication failed. Retry")


def _not_found(what: str) -> Exception:
    return xquik_error(404, "not_found", f"{what} not found")


# ----------------------------------------------------------------------------------------- monitors


async def create_monitor(call: Call) -> Reply:
    body = call.body_as(CreateMonitor)
    username = body.username.strip().removeprefix("@")
    if not _USERNAME.match(username):
        raise xquik_error(400, "invalid_username", "username is 1-15 letters, digits or _ (without @)")
    try:
        row = await _layer(call).monitors.create(call.account_id, username, body.event_types)
    except MonitorExists:
        raise xquik_error(409, "monitor_already_exists", f"@{username} is already monitored") from None
    except Permanent as exc:
        if exc.code == "not_found":
            raise xquik_error(404, "user_not_found", f"X user @{username} not found") from None
        raise
    except AuthExpired:
        raise _unauthorized() from None
    return Reply(201, _monitor(row))


async def list_monitors(call: Call) -> Reply:
    monitors = _layer(call).monitors
    rows = await monitors.list_all(call.account_id)
    return Reply(
        200, {"monitors": [_monitor(r) for r in rows], "total": await monitors.count(call.account_id)}
    )


async def get_monitor(call: Call) -> Reply:
    row = await _layer(call).monitors.get(call.account_id, id_param(call))
    if row is None:
        raise _not_found("monitor")
    return Reply(200, _monitor(row))


async def update_monitor(call: Call) -> Reply:
    body = call.body_as(UpdateMonitor)
    row = await _layer(call).monitors.update(
        call.account_id, id_param(call), event_types=body.event_types, active=body.is_active
    )
    if row is None:
        raise _not_found("monitor")
    return Reply(200, _monitor(row))


async def delete_monitor(call: Call) -> Reply:
    if not await _layer(call).monitors.delete(call.account_id, id_param(call)):
        raise _not_found("monitor")
    return Reply(200, {"success": True})


# ------------------------------------------------------------------------------------------- events


async def list_events(call: Call) -> Reply:
    q = call.query_as(EventsQuery)
    monitor_id = None
    if q.monitor_id is not None:
        if not q.monitor_id.isdigit():
            raise xquik_error(400, "invalid_input", "monitorId must be a numeric id")
        monitor_id = int(q.monitor_id)
    before = int(decode_cursor(q.after, 1)[0]) if q.after else None
    rows = await event_log.list_events(
        call.ctx.pool, call.account_id, monitor_id=monitor_id, event_type=q.event_type, limit=q.limit + 1,
        before_id=before,
    )  # fmt: skip
    page = page_of(rows, q.limit, key=lambda r: (int(r["id"]),))
    answer: dict[str, Any] = {
        "events": [event_log.event_json(r) for r in page.items],
        "hasMore": page.has_more,
    }
    answer["nextCursor"] = page.next_cursor
    return Reply(200, answer)


async def get_event(call: Call) -> Reply:
    event = await event_log.get_event(call.ctx.pool, call.account_id, id_param(call))
    if event is None:
        raise _not_found("event")
    return Reply(200, event)


# ----------------------------------------------------------------------------------------- webhooks


def _checked_url(call: Call, url: str) -> str:
    try:
        return call.ctx.engine.url_policy.check_url(url)
    except UnsafeTarget as exc:
        raise xquik_error(400, "invalid_input", f"url not allowed: {exc.reason}") from None


async def create_webhook(call: Call) -> Reply:
    body = call.body_as(CreateWebhook)
    url = _checked_url(call, body.url)
    return Reply(
        201, await hooks.create(call.ctx.pool, call.account_id, url, body.event_types, _sender(call))
    )


async def list_webhooks(call: Call) -> Reply:
    return Reply(200, {"webhooks": await hooks.list_all(call.ctx.pool, call.account_id)})


async def update_webhook(call: Call) -> Reply:
    body = call.body_as(UpdateWebhook)
    url = _checked_url(call, body.url) if body.url is not None else None
    updated = await hooks.update(
        call.ctx.pool, call.account_id, id_param(call), url=url, event_types=body.event_types,
        active=body.is_active, sender=_sender(call),
    )  # fmt: skip
    if updated is None:
        raise _not_found("webhook")
    return Reply(200, updated)


async def delete_webhook(call: Call) -> Reply:
    if not await hooks.delete(call.ctx.pool, call.account_id, id_param(call)):
        raise _not_found("webhook")
    return Reply(200, {"success": True})


async def test_webhook(call: Call) -> Reply:
    webhook_id = id_param(call)
    row = await hooks.get(call.ctx.pool, call.account_id, webhook_id)
    if row is None:
        raise _not_found("webhook")
    if not row["active"]:
        raise xquik_error(400, "webhook_inactive", "the webhook is disabled: reactivate it with PATCH first")
    _checked_url(call, row["url"])  # stored before a policy change: checked again before anything is sent
    return Reply(200, await hooks.test(call.ctx.pool, _sender(call), call.account_id, webhook_id))


async def list_deliveries(call: Call) -> Reply:
    webhook_id = id_param(call)
    if await hooks.get(call.ctx.pool, call.account_id, webhook_id) is None:
        raise _not_found("webhook")
    return Reply(200, {"deliveries": await hooks.deliveries(call.ctx.pool, call.account_id, webhook_id)})


# ------------------------------------------------------------------------------------------- trends


async def list_trends(call: Call) -> Reply:
    q = call.query_as(TrendsQuery)
    if q.woeid not in WOEIDS:
        raise xquik_error(400, "invalid_input", f"woeid must be one of {', '.join(map(str, WOEIDS))}")
    plan = await call.ctx.pool.fetchval(
        "SELECT plan FROM xquik_accounts WHERE account_id = $1", call.account_id
    )
    if plan != "active":
        code = "no_subscription" if plan is None else "subscription_inactive"
        raise xquik_error(402, code, "trends need an active subscription")
    try:
        async with metered(call, q.count, "trends") as meter:
            answer = await _layer(call).trends.get(q.woeid, q.count)
            meter.use(len(answer["trends"]))
    except AuthExpired:
        raise _unauthorized() from None
    return Reply(200, answer)


async def list_radar(call: Call) -> Reply:
    q = call.query_as(RadarQuery)
    items = await _layer(call).radar.items(
        source=q.source, category=q.category, hours=q.hours, region=q.region
    )
    if q.after:
        score, source_id = decode_cursor(q.after, 2)
        if not isinstance(score, int) or not isinstance(source_id, str):
            raise xquik_error(400, "invalid_input", "after is not a cursor from this API")
        items = [i for i in items if (-i.score, i.source_id) > (-score, source_id)]
    page = page_of(items, q.limit, key=_radar_key)
    return Reply(200, {"items": [i.json() for i in page.items], "hasMore": page.has_more,
                       "nextCursor": page.next_cursor})  # fmt: skip


def _radar_key(item: RadarItem) -> tuple[int, str]:
    return (item.score, item.source_id)


OPERATIONS = [
    Operation("POST", f"{PREFIX}/monitors", create_monitor, "Create monitor", None, TAG, body=CreateMonitor,
              responses={201: MonitorOut}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/monitors", list_monitors, "List monitors", None, TAG,
              responses={200: MonitorsOut}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/monitors/{{id}}", get_monitor, "Get monitor", None, TAG,
              responses={200: MonitorOut}, dialect=DIALECT),
    Operation("PATCH", f"{PREFIX}/monitors/{{id}}", update_monitor, "Update monitor", None, TAG,
              body=UpdateMonitor, responses={200: MonitorOut}, dialect=DIALECT),
    Operation("DELETE", f"{PREFIX}/monitors/{{id}}", delete_monitor, "Delete monitor", None, TAG,
              responses={200: SuccessOut}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/events", list_events, "List events", None, TAG, query=EventsQuery,
              responses={200: EventsOut}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/events/{{id}}", get_event, "Get event", None, TAG,
              responses={200: EventOut}, dialect=DIALECT),
    Operation("POST", f"{PREFIX}/webhooks", create_webhook, "Create webhook", None, TAG, body=CreateWebhook,
              responses={201: WebhookOut}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/webhooks", list_webhooks, "List webhooks", None, TAG,
              responses={200: WebhooksOut}, dialect=DIALECT),
    Operation("PATCH", f"{PREFIX}/webhooks/{{id}}", update_webhook, "Update webhook", None, TAG,
              body=UpdateWebhook, responses={200: WebhookOut}, dialect=DIALECT),
    Operation("DELETE", f"{PREFIX}/webhooks/{{id}}", delete_webhook, "Delete webhook", None, TAG,
              responses={200: SuccessOut}, dialect=DIALECT),
    Operation("POST", f"{PREFIX}/webhooks/{{id}}/test", test_webhook, "Test webhook", None, TAG,
              responses={200: TestResultOut}, idempotent=False, body_required=False, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/webhooks/{{id}}/deliveries", list_deliveries, "List deliveries", None, TAG,
              responses={200: DeliveriesOut}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/trends", list_trends, "List trends", None, TAG, query=TrendsQuery,
              responses={200: TrendsOut}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/radar", list_radar, "List radar items", None, TAG, query=RadarQuery,
              responses={200: RadarOut}, dialect=DIALECT),
]  # fmt: skip
