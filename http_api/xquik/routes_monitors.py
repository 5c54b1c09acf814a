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

import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.outbox.url_guard import UnsafeTarget
from engine.outbox.webhook_store import InvalidWebhookUrl, WebhookLimitReached, WebhookStore
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
    IdCursor,
    PageQuery,
    XquikIn,
    XquikOut,
    id_after,
    id_page,
    id_param,
    shown,
    stamp,
    xquik_error,
)
from http_api.xquik.metering import metered

TAG = "Xquik monitors"
MonitorEvent = Literal["tweet.new", "tweet.reply", "tweet.quote", "tweet.retweet"]
HookEvent = Literal["tweet.new", "tweet.reply", "tweet.quote", "tweet.retweet", "webhook.test"]
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


def _nocase(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# What url_policy.check_url stores without resolving anything: http(s), a host name (never an address,
# which it checks and refuses when private: the last label starts with a letter) that is not one of the
# names meaning this machine (localhost, *.localhost, metadata ...), no user:password@, a port 1-65535.
_END = r"\.?(?:[:/?#]|$)"
_LOCAL = "|".join(
    [rf"(?:[^/:?#@]*\.)?{_nocase('localhost')}{_END}"]
    + [_nocase(name) + _END for name in ("localhost.localdomain", "metadata", "metadata.google.internal")]
)
_PORT = r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
PUBLIC_URL = (
    rf"^https?://(?!{_LOCAL})(?:[A-Za-z0-9-]{{1,63}}\.)*[A-Za-z][A-Za-z0-9-]{{0,62}}\.?{_PORT}"
    r"(?:[/?#][^\x00-\x20]*)?$"
)
WebhookUrl = Annotated[str, Meta(min_length=8, max_length=2048), shown(pattern=PUBLIC_URL)]


class CreateMonitor(XquikIn, frozen=True):
    username: Annotated[str, Meta(max_length=64), shown(pattern=r"^[A-Za-z0-9_]{1,15}$")]
    event_types: Annotated[list[MonitorEvent], Meta(min_length=1, max_length=4)]


class UpdateMonitor(XquikIn, frozen=True):
    event_types: Annotated[list[MonitorEvent], Meta(min_length=1, max_length=4)] | None = None
    is_active: bool | None = None


class EventsQuery(PageQuery, frozen=True, rename="camel"):
    after: IdCursor | None = None
    monitor_id: Annotated[str, Meta(max_length=20), shown(pattern=r"^[0-9]{1,18}$")] | None = None
    event_type: Annotated[str, Meta(max_length=40)] | None = None


class CreateWebhook(XquikIn, frozen=True):
    url: WebhookUrl
    event_types: Annotated[list[HookEvent], Meta(min_length=1, max_length=5)]


class UpdateWebhook(XquikIn, frozen=True):
    url: WebhookUrl | None = None
    event_types: Annotated[list[HookEvent], Meta(min_length=1, max_length=5)] | None = None
    is_active: bool | None = None


class TrendsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    woeid: Annotated[int, shown(enum=sorted(WOEIDS))] = 1
    count: Annotated[int, Meta(ge=1, le=50)] = 30


RadarSource = Literal[
    "google_trends", "hacker_news", "polymarket", "trustmrr", "wikipedia", "github", "reddit"
]
RadarCategory = Literal[
    "general", "tech", "dev", "science", "culture", "politics", "business", "entertainment"
]
RadarRegion = Literal["US", "GB", "TR", "ES", "DE", "FR", "JP", "IN", "BR", "CA", "MX", "global"]


class RadarQuery(PageQuery, frozen=True):
    # the last item's score and sourceId: "<score>.<sourceId>"
    after: Annotated[str, Meta(max_length=512, pattern=r"^-?[0-9]{1,18}\.[^\x00]+$")] | None = None
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


class RadarItemOut(XquikOut, frozen=True, omit_defaults=True):  # description?, url?, imageUrl?
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
    before = id_after(q.after)
    rows = await event_log.list_events(
        call.ctx.pool, call.account_id, monitor_id=monitor_id, event_type=q.event_type, limit=q.limit + 1,
        before_id=before,
    )  # fmt: skip
    page = id_page(rows, q.limit, key=lambda r: int(r["id"]))
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


def _store(call: Call) -> WebhookStore:
    return call.ctx.engine.webhook_store


@contextmanager
def _worded() -> Iterator[None]:
    """The webhook store's refusals in the document's codes."""
    try:
        yield
    except UnsafeTarget as exc:
        raise xquik_error(400, "invalid_input", f"url not allowed: {exc.reason}") from None
    except InvalidWebhookUrl as exc:
        raise xquik_error(400, "invalid_input", f"url not allowed: {exc}") from None
    except WebhookLimitReached as exc:
        raise xquik_error(
            403, "webhook_limit_reached", f"at most {exc.limit} webhooks per account", limit=exc.limit
        ) from None


async def create_webhook(call: Call) -> Reply:
    body = call.body_as(CreateWebhook)
    with _worded():
        return Reply(201, await hooks.create(_store(call), call.account_id, body.url, body.event_types))


async def list_webhooks(call: Call) -> Reply:
    return Reply(200, {"webhooks": await hooks.list_all(_store(call), call.account_id)})


async def update_webhook(call: Call) -> Reply:
    body = call.body_as(UpdateWebhook)
    with _worded():
        updated = await hooks.update(
            _store(call), call.account_id, id_param(call), url=body.url, event_types=body.event_types,
            active=body.is_active,
        )  # fmt: skip
    if updated is None:
        raise _not_found("webhook")
    return Reply(200, updated)


async def delete_webhook(call: Call) -> Reply:
    if not await hooks.delete(_store(call), call.account_id, id_param(call)):
        raise _not_found("webhook")
    return Reply(200, {"success": True})


async def test_webhook(call: Call) -> Reply:
    webhook_id = id_param(call)
    hook = await hooks.get(_store(call), call.account_id, webhook_id)
    if hook is None:
        raise _not_found("webhook")
    if not hook.active:
        raise xquik_error(400, "webhook_inactive", "the webhook is disabled: reactivate it with PATCH first")
    with _worded():  # its URL checked again before anything is sent (stored before a policy change)
        return Reply(200, await hooks.test(_store(call), call.ctx.pool, call.account_id, webhook_id))


async def list_deliveries(call: Call) -> Reply:
    found = await hooks.deliveries(_store(call), call.account_id, id_param(call))
    if found is None:
        raise _not_found("webhook")
    return Reply(200, {"deliveries": found})


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
    if q.after:  # the pattern checked by the query's decoding: every such string is a position
        score, _, source_id = q.after.partition(".")
        items = [i for i in items if (-i.score, i.source_id) > (-int(score), source_id)]
    chosen = items[: q.limit]
    more = len(items) > q.limit
    last = chosen[-1] if more and chosen else None
    return Reply(200, {"items": [_radar_out(i) for i in chosen], "hasMore": more,
                       "nextCursor": f"{last.score}.{last.source_id}" if last else None})  # fmt: skip


def _radar_out(item: RadarItem) -> RadarItemOut:
    fields = dataclasses.asdict(item)
    fields["published_at"], fields["created_at"] = stamp(item.published_at), stamp(item.created_at)
    return RadarItemOut(**fields)


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
