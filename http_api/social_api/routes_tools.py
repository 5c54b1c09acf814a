"""Seed 004 API keys, Twitter BYOK, Webhooks, Events and Usage, over the engine's one implementation each:
the api_keys store (a key is handed out as one bearer token, `sapi_key_<key>.<secret>`), the sealed app
credentials of engine/social/accounts, the one webhook store and outbox (engine/outbox/webhook_store.py,
webhooks.py: same tables, same sender, same signature), and the social jobs and inbox as the events log.

    GET|POST /v1/keys, DELETE /v1/keys/{id}
    GET|PUT|DELETE /v1/platforms/twitter/credentials, PUT|DELETE .../brand/{brand_id}, POST .../test
    GET|POST /v1/webhooks, GET|PATCH|DELETE /v1/webhooks/{id}, POST /v1/webhooks/{id}/test,
    GET /v1/webhooks/{id}/deliveries, GET .../deliveries/{did}, POST .../deliveries/{did}/retry,
    GET /v1/webhooks/events
    GET /v1/events, GET /v1/events/summary, GET /v1/usage
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import httpx
import msgspec
from msgspec import Meta

from billing import usage as billing_usage
from engine import usage as engine_usage
from engine.admin.provision import create_api_key
from engine.outbox.profiles import BULKSMSRATES
from engine.outbox.webhook_store import (
    DeliveryNotFound,
    DeliveryPending,
    InvalidWebhookUrl,
    StoredDelivery,
    StoredWebhook,
    UnsafeTarget,
    WebhookLimitReached,
    WebhookNotFound,
)
from engine.outbox.webhooks import TEST_EVENT
from engine.social.jobs import SOCIAL_EVENTS
from engine.social.jobs.model import SOCIAL_PLATFORMS
from engine.social.jobs.outcomes import event_data
from http_api.auth import single_token
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request
from http_api.social_api.common import (
    Cursor,
    HttpUrl,
    Limit,
    Secret,
    decode_cursor,
    fail,
    operation,
    page,
    rfc3339,
    social,
)

EVENT_DESCRIPTIONS = {
    "post.published": "A post was published",
    "post.failed": "A post failed after its retries",
    "post.deleted": "A post was deleted from the platform",
    "dm.sent": "A DM was sent",
    "dm.failed": "A DM failed after its retries",
    "dm.received": "A DM was received",
    "comment.received": "A comment (reply) was received on a post",
    "mention.received": "An account was mentioned",
    "social.action.succeeded": "A like, hide or other action was done",
    "social.action.failed": "A like, hide or other action failed",
}


class SocialKeyCreate(Request, frozen=True):
    name: str = ""


class TwitterCredentials(Request, frozen=True):
    client_id: Secret
    client_secret: Secret


SocialEvent = Literal[
    "post.published",
    "post.failed",
    "post.deleted",
    "dm.sent",
    "dm.failed",
    "dm.received",
    "comment.received",
    "mention.received",
    "social.action.succeeded",
    "social.action.failed",
]
Events = Annotated[list[SocialEvent], Meta(min_length=1, max_length=16)]
Description = Annotated[str, Meta(max_length=500, pattern=r"^[^\x00]*$")]


class SocialWebhookCreate(Request, frozen=True):
    url: HttpUrl
    events: Events
    description: Description = ""


class SocialWebhookPatch(Request, frozen=True):
    url: HttpUrl | None = None
    events: Events | None = None
    description: Description | None = None
    active: bool | None = None


class EventListing(msgspec.Struct, frozen=True, kw_only=True):
    limit: Limit = 25
    cursor: Cursor | None = None
    type: str | None = None


# ------------------------------------------------------------------------------------------- keys


async def list_keys(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        "SELECT key, name, created_at FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL"
        " ORDER BY created_at",
        call.account_id,
    )
    return Reply(
        200,
        {
            "data": [
                {
                    "id": r["key"],
                    "name": r["name"],
                    "prefix": "sapi_key_" + r["key"][:14],
                    "created_at": rfc3339(r["created_at"]),
                }
                for r in rows
            ]
        },
    )


async def create_key(call: Call) -> Reply:
    body = call.body_as(SocialKeyCreate)
    if not call.principal.allows("*"):
        raise fail(403, "auth.forbidden", "only a full-access key may create keys")
    key, secret = await create_api_key(
        call.ctx.pool, call.account_id, live=call.principal.live, name=body.name
    )
    call.ctx.auth.forget([key])
    return Reply(
        201,
        {
            "id": key,
            "name": body.name,
            "key": single_token(key, secret),
            "created_at": rfc3339(datetime.now(UTC)),
        },
    )


async def delete_key(call: Call) -> Reply:
    key = call.path("id")
    done = await call.ctx.pool.fetchval(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key = $1 AND account_id = $2"
        " RETURNING key",
        key,
        call.account_id,
    )
    if done is None:
        raise fail(404, "key.not_found", "no such API key")
    call.ctx.auth.forget([key])
    return Reply(204, b"")


# ------------------------------------------------------------------------------------------- BYOK


def _app_view(app: Any) -> dict[str, Any]:
    secret = app.client_secret
    return {
        "platform": "twitter",
        "brand_id": app.brand or None,
        "client_id": app.client_id,
        "client_secret": ("…" + secret[-4:]) if len(secret) > 4 else "…",
        "updated_at": rfc3339(app.updated_at),
    }


async def get_credentials(call: Call) -> Reply:
    app = await social(call).store.find_app_credentials(call.account_id, "x")
    if app is None:
        raise fail(412, "byok.credentials_missing", "no Twitter app credentials are set")
    return Reply(200, _app_view(app))


async def _put(call: Call, brand: str) -> Reply:
    body = call.body_as(TwitterCredentials)
    app = await social(call).store.put_app_credentials(
        call.account_id, "x", body.client_id, body.client_secret, brand=brand
    )
    return Reply(200, _app_view(app))


async def put_credentials(call: Call) -> Reply:
    return await _put(call, "")


async def put_brand_credentials(call: Call) -> Reply:
    from http_api.social_api.routes_brands import owned_brand_ref  # a brand of routes_brands' table

    await owned_brand_ref(call, call.path("brand_id"))
    return await _put(call, call.path("brand_id"))


async def _delete(call: Call, brand: str) -> Reply:
    if not await social(call).store.delete_app_credentials(call.account_id, "x", brand=brand):
        raise fail(404, "byok.not_found", "no such credentials")
    return Reply(204, b"")


async def delete_credentials(call: Call) -> Reply:
    return await _delete(call, "")


async def delete_brand_credentials(call: Call) -> Reply:
    return await _delete(call, call.path("brand_id"))


async def test_credentials(call: Call) -> Reply:
    """The app's client id and secret, tried against X's token endpoint (client credentials grant)."""
    layer = social(call)
    app = await layer.store.find_app_credentials(call.account_id, "x")
    if app is None:
        raise fail(412, "byok.credentials_missing", "no Twitter app credentials are set")
    async with httpx.AsyncClient(timeout=10.0) as client:
        try:
            answer = await client.post(
                layer.x_oauth.token_url,
                data={"grant_type": "client_credentials"},
                auth=(app.client_id, app.client_secret),
            )
        except httpx.HTTPError as exc:
            raise fail(502, "platform.unreachable", str(exc)) from None
    # 200 (a bearer issued) or 400 unsupported_grant_type both mean X knows the client; 401 means it does not
    valid = answer.status_code != 401
    return Reply(200, {"valid": valid, "status": answer.status_code})


# --------------------------------------------------------------------------------------- webhooks


PROFILE = BULKSMSRATES.name  # signed as seed 001's webhooks are: X-Webhook-Signature over timestamp.body


def _hook_view(w: StoredWebhook) -> dict[str, Any]:
    out = {
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "description": w.description,
        "active": w.active,
        "inactive_reason": w.inactive_reason or None,
        "created_at": rfc3339(w.created_at),
        "updated_at": rfc3339(w.updated_at),
    }
    if w.secret is not None:  # the creation's answer only
        out["secret"] = w.secret
    return out


def _check_events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(SOCIAL_EVENTS))
    if unknown or not events:
        raise fail(
            400,
            "validation.invalid_events",
            "unknown or no events",
            unknown=unknown,
            allowed=list(SOCIAL_EVENTS),
        )
    return sorted(set(events))


@contextmanager
def _worded() -> Iterator[None]:
    """The one webhook store's refusals (engine/outbox/webhook_store.py) in this document's codes."""
    try:
        yield
    except WebhookNotFound:
        raise fail(404, "webhook.not_found", "no such webhook") from None
    except DeliveryNotFound:
        raise fail(404, "delivery.not_found", "no such delivery") from None
    except DeliveryPending:
        raise fail(409, "delivery.pending", "the delivery is still being attempted") from None
    except InvalidWebhookUrl:
        raise fail(400, "validation.invalid_url", "url must be an http(s) URL", field="url") from None
    except UnsafeTarget as exc:
        raise fail(422, "validation.unsafe_url", f"url not allowed: {exc.reason}", field="url") from None
    except WebhookLimitReached as exc:
        raise fail(409, "webhook.limit_reached", str(exc), limit=exc.limit) from None


def _id(call: Call) -> int:
    raw = call.path("id")
    return int(raw) if raw.isdigit() and len(raw) <= 18 else -1  # -1: not found


async def list_webhooks(call: Call) -> Reply:
    hooks = await call.ctx.engine.webhook_store.all_of(call.account_id, PROFILE)
    return Reply(200, {"data": [_hook_view(w) for w in hooks]})


async def create_webhook(call: Call) -> Reply:
    body = call.body_as(SocialWebhookCreate)
    store = call.ctx.engine.webhook_store
    with _worded():
        store.check_url(body.url)  # the URL's refusal before the events'
        w = await store.create(
            call.account_id, PROFILE, url=body.url, events=_check_events(body.events),
            description=body.description,
        )  # fmt: skip
    return Reply(201, _hook_view(w))


async def get_webhook(call: Call) -> Reply:
    with _worded():
        return Reply(
            200, _hook_view(await call.ctx.engine.webhook_store.get(call.account_id, PROFILE, _id(call)))
        )


async def patch_webhook(call: Call) -> Reply:
    store = call.ctx.engine.webhook_store
    with _worded():
        await store.get(call.account_id, PROFILE, _id(call))  # 404 before the body's refusals
        body = call.body_as(SocialWebhookPatch)
        if body.url is not None:
            store.check_url(body.url)
        w = await store.update(
            call.account_id, PROFILE, _id(call), url=body.url,
            events=_check_events(body.events) if body.events is not None else None,
            description=body.description, active=body.active,
            disabled_reason="",  # this document shows inactive_reason null for a webhook it disabled
        )  # fmt: skip
    return Reply(200, _hook_view(w))


async def delete_webhook(call: Call) -> Reply:
    with _worded():
        await call.ctx.engine.webhook_store.delete(call.account_id, PROFILE, _id(call))
    return Reply(204, b"")


def _delivery_view(d: StoredDelivery) -> dict[str, Any]:
    return {
        "id": d.uuid,
        "webhook_id": d.webhook_id,
        "event": d.event,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error or None,
        "created_at": rfc3339(d.created_at),
        "finished_at": rfc3339(d.finished_at),
    }


async def test_webhook(call: Call) -> Reply:
    webhook_id = _id(call)
    data = {"message": "a test event from social-api", "webhook_id": webhook_id}
    with _worded():
        queued = await call.ctx.engine.webhook_store.test(
            call.account_id, PROFILE, webhook_id, TEST_EVENT, data
        )
    return Reply(202, _delivery_view(queued))


async def list_deliveries(call: Call) -> Reply:
    q = call.query_as(EventListing)
    with _worded():
        rows, _ = await call.ctx.engine.webhook_store.deliveries(
            call.account_id, PROFILE, _id(call), limit=q.limit + 1, before=decode_cursor(q.cursor)
        )
    out = page(rows, q.limit, key=lambda d: d.id)
    out["data"] = [_delivery_view(d) for d in out["data"]]
    return Reply(200, out)


async def get_delivery(call: Call) -> Reply:
    store = call.ctx.engine.webhook_store
    with _worded():
        d = await store.delivery(call.account_id, PROFILE, _id(call), call.path("did"))
    attempts = (await store.attempts([d.id])).get(d.id, [])
    return Reply(
        200,
        {
            **_delivery_view(d),
            "payload": d.data,
            "attempt_log": [
                {
                    "attempt": a.attempt,
                    "status_code": a.status_code,
                    "error": a.error or None,
                    "duration_ms": a.duration_ms,
                }
                for a in attempts
            ],
        },
    )


async def retry_delivery(call: Call) -> Reply:
    with _worded():
        again = await call.ctx.engine.webhook_store.retry(
            call.account_id, PROFILE, _id(call), call.path("did")
        )
    return Reply(202, _delivery_view(again))


async def event_catalog(call: Call) -> Reply:
    return Reply(200, {"data": [{"type": e, "description": EVENT_DESCRIPTIONS[e]} for e in SOCIAL_EVENTS]})


# ------------------------------------------------------------------------------------ events, usage


async def _event_rows(call: Call) -> list[dict[str, Any]]:
    from engine.social.actions import Action
    from engine.social.jobs.model import event_of
    from engine.social.jobs.service import _COLUMNS

    jobs = await call.ctx.pool.fetch(
        f"SELECT {_COLUMNS} FROM social_jobs WHERE account_id = $1 AND final_at IS NOT NULL"
        " AND status <> 'canceled'"
        " ORDER BY final_at DESC LIMIT 1000",
        call.account_id,
    )
    inbox = await call.ctx.pool.fetch(
        "SELECT * FROM social_inbox WHERE account_id = $1 AND direction = 'in' ORDER BY id DESC LIMIT 1000",
        call.account_id,
    )
    out = [
        {
            "type": event_of(Action(r["action"]), r["status"] == "succeeded"),
            "at": r["final_at"],
            "data": event_data(r),
        }
        for r in jobs
    ] + [
        {
            "type": f"{r['kind']}.received",
            "at": r["received_at"],
            "data": {
                "id": r["item_id"],
                "account_id": r["social_account_id"],
                "text": r["text"],
                "author_id": r["author_id"],
            },
        }
        for r in inbox
    ]
    out.sort(key=lambda e: e["at"], reverse=True)
    for n, e in enumerate(out):
        e["seq"] = len(out) - n
    return out


async def list_events(call: Call) -> Reply:
    q = call.query_as(EventListing)
    rows = await _event_rows(call)
    if q.type is not None:
        rows = [e for e in rows if e["type"] == q.type]
    after = decode_cursor(q.cursor)
    if after is not None:
        rows = [e for e in rows if e["seq"] < after]
    out = page(rows[: q.limit + 1], q.limit, key=lambda e: e["seq"])
    out["data"] = [
        {"id": f"evt_{e['seq']}", "type": e["type"], "created_at": rfc3339(e["at"]), "data": e["data"]}
        for e in out["data"]
    ]
    return Reply(200, out)


async def events_summary(call: Call) -> Reply:
    counts: dict[str, int] = {}
    for e in await _event_rows(call):
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    return Reply(200, {"total": sum(counts.values()), "by_type": counts})


async def usage(call: Call) -> Reply:
    """This month (UTC) read off the engine's one usage record (engine/usage/) and, for the money, the
    ledger's captures of social jobs (their postings carry no country and the platform as carrier)."""
    now = datetime.now(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    social_counts = await engine_usage.totals(call.ctx.pool, call.account_id, start.date(), "social:")
    inbox = await engine_usage.totals(call.ctx.pool, call.account_id, start.date(), "inbox:")
    posts = sum(social_counts.get(engine_usage.social_metric(a), 0) for a in ("post.create", "post.reply"))
    dms = sum(n for metric, n in social_counts.items() if metric.startswith("social:dm."))
    async with call.ctx.pool.acquire() as conn:
        charged = await billing_usage(
            conn,
            call.account_id,
            period="month",
            since=start,
            until=(start + timedelta(days=32)).replace(day=1),
            by_country=True,
            by_carrier=True,
        )
        accounts = await conn.fetchval(
            "SELECT count(*) FROM social_accounts WHERE account_id = $1 AND state <> 'disconnected'",
            call.account_id,
        )
    spent = sum(r.charged for r in charged if not r.country and r.carrier in SOCIAL_PLATFORMS)
    return Reply(
        200,
        {
            "period": {"start": rfc3339(start), "end": rfc3339(now)},
            "usage": {
                "posts_published": posts,
                "dms_sent": dms,
                "actions": sum(social_counts.values()),
                "inbox_items": sum(inbox.values()),
                "connected_accounts": accounts,
            },
            "spent_micro": spent,
        },
    )


def _op(
    method: str, path: str, handler: Any, summary: str, permission: str, tag: str, **more: Any
) -> Operation:
    return operation(method, path, handler, summary, permission, tag, **more)


_B = "/v1/platforms/twitter/credentials"
_W = "/v1/webhooks/{id}"
OPERATIONS = [
    _op("GET", "/v1/keys", list_keys, "List API keys", "keys.manage", "API Keys"),
    _op(
        "POST",
        "/v1/keys",
        create_key,
        "Create an API key (token shown once)",
        "keys.manage",
        "API Keys",
        body=SocialKeyCreate,
        ok=201,
    ),
    _op("DELETE", "/v1/keys/{id}", delete_key, "Delete an API key", "keys.manage", "API Keys", ok=204),
    _op("GET", _B, get_credentials, "Get the Twitter app credentials", "settings.manage", "Twitter BYOK"),
    _op(
        "PUT",
        _B,
        put_credentials,
        "Set the Twitter app credentials",
        "settings.manage",
        "Twitter BYOK",
        body=TwitterCredentials,
    ),
    _op(
        "PUT",
        _B + "/brand/{brand_id}",
        put_brand_credentials,
        "Set a brand's Twitter app credentials",
        "settings.manage",
        "Twitter BYOK",
        body=TwitterCredentials,
    ),
    _op(
        "DELETE",
        _B,
        delete_credentials,
        "Remove the Twitter app credentials",
        "settings.manage",
        "Twitter BYOK",
        ok=204,
    ),
    _op(
        "DELETE",
        _B + "/brand/{brand_id}",
        delete_brand_credentials,
        "Remove a brand's Twitter app credentials",
        "settings.manage",
        "Twitter BYOK",
        ok=204,
    ),
    _op(
        "POST",
        _B + "/test",
        test_credentials,
        "Test the Twitter app credentials",
        "settings.manage",
        "Twitter BYOK",
    ),
    _op("GET", "/v1/webhooks", list_webhooks, "List webhooks", "webhooks.manage", "Webhooks"),
    _op(
        "POST",
        "/v1/webhooks",
        create_webhook,
        "Create a webhook (secret shown once)",
        "webhooks.manage",
        "Webhooks",
        body=SocialWebhookCreate,
        ok=201,
    ),
    _op("GET", "/v1/webhooks/events", event_catalog, "The event catalog", "webhooks.manage", "Webhooks"),
    _op("GET", _W, get_webhook, "Get a webhook", "webhooks.manage", "Webhooks"),
    _op(
        "PATCH", _W, patch_webhook, "Update a webhook", "webhooks.manage", "Webhooks", body=SocialWebhookPatch
    ),
    _op("DELETE", _W, delete_webhook, "Delete a webhook", "webhooks.manage", "Webhooks", ok=204),
    _op("POST", _W + "/test", test_webhook, "Send a test event", "webhooks.manage", "Webhooks", ok=202),
    _op(
        "GET",
        _W + "/deliveries",
        list_deliveries,
        "A webhook's deliveries",
        "webhooks.manage",
        "Webhooks",
        query=EventListing,
    ),
    _op(
        "GET",
        _W + "/deliveries/{did}",
        get_delivery,
        "A delivery and its attempts",
        "webhooks.manage",
        "Webhooks",
    ),
    _op(
        "POST",
        _W + "/deliveries/{did}/retry",
        retry_delivery,
        "Deliver a finished delivery again",
        "webhooks.manage",
        "Webhooks",
        ok=202,
    ),
    _op("GET", "/v1/events", list_events, "The events log", "social.read", "Events", query=EventListing),
    _op("GET", "/v1/events/summary", events_summary, "Events by type", "social.read", "Events"),
    _op("GET", "/v1/usage", usage, "This month's usage", "social.read", "Usage"),
]
