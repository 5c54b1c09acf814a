"""Seed 004 Accounts and Mentions: the customer's connected platform accounts.

GET    /v1/accounts                      200 {data: [account]}
POST   /v1/accounts/connect              {platform, redirect_uri}: 200 {auth_url, state} (OAuth 2.0
                                         with PKCE); {platform, state, code}: 201 account (finish)
DELETE /v1/accounts/{id}                 204: disconnected (its jobs and inbox rows stay)
GET    /v1/accounts/{id}/limits          200 the platform's windows for it, what is left of each
GET    /v1/accounts/{id}/mentions        200 {data, next_cursor}: mentions from the inbox
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

from engine.social.errors import Permanent
from engine.social.jobs.model import WRITES
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request
from http_api.social_api.common import (
    Cursor,
    Id,
    Limit,
    decode_cursor,
    engine_platform,
    fail,
    operation,
    owned_social_account,
    page,
    platform_name,
    rfc3339,
    social,
)
from http_api.social_api.routes_brands import (
    account_brands,
    connect_app,
    finish_connect,
    remember_brand,
)


class AccountConnect(Request, frozen=True):
    # what `connect` requires: a redirect_uri to start, or the callback's state and code to finish
    json_schema_extra: ClassVar[dict[str, object]] = {
        "anyOf": [
            {
                "required": ["redirect_uri"],
                "properties": {"redirect_uri": {"type": "string", "minLength": 1}},
            },
            {
                "required": ["state", "code"],
                "properties": {"state": {"type": "string"}, "code": {"type": "string"}},
            },
        ]
    }

    platform: Literal["twitter", "x"]
    redirect_uri: str | None = None
    state: str | None = None
    code: str | None = None
    brand_id: Id | None = None  # connect for this brand (its own BYOK app when it has one)


class AccountListing(msgspec.Struct, frozen=True, kw_only=True):
    limit: Limit = 20
    cursor: Cursor | None = None


class AccountFilter(msgspec.Struct, frozen=True, kw_only=True):
    brand_id: Id | None = None


def account_view(record: Any) -> dict[str, Any]:
    a = record.account
    return {
        "id": a.id,
        "platform": platform_name(a.platform),
        "platform_user_id": a.platform_user_id,
        "username": a.username,
        "display_name": a.display_name,
        "status": record.state,
        "status_reason": record.state_reason or None,
        "scopes": list(a.scopes),
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
    }


def _id(call: Call) -> int:
    raw = call.path("id")
    if not raw.isdigit():
        raise fail(404, "account.not_found", "no such connected account")
    return int(raw)


async def list_accounts(call: Call) -> Reply:
    records = await social(call).store.list(call.account_id)
    brand = call.query_as(AccountFilter).brand_id
    brands = await account_brands(call.ctx.pool, call.account_id)
    return Reply(
        200,
        {
            "data": [
                account_view(r) | {"brand_id": brands.get(r.account.id)}
                for r in records
                if r.state != "disconnected" and (brand is None or brands.get(r.account.id) == brand)
            ]
        },
    )


async def connect(call: Call) -> Reply:
    body = call.body_as(AccountConnect)
    layer = social(call)
    if engine_platform(body.platform) != "x":
        raise fail(
            501, "platform.unsupported", f"connecting {body.platform} through the API is not supported"
        )
    try:
        if body.code is not None and body.state is not None:
            try:
                return Reply(201, await finish_connect(call, body.state, body.code))
            except Permanent as exc:  # an unknown, used or expired state: refused by state, not shape
                raise fail(422, "oauth.invalid_request", exc.message) from None
        if not body.redirect_uri:
            raise fail(
                422,
                "validation.invalid_request",
                "redirect_uri (or state and code) is required",
                field="redirect_uri",
            )
        app = await connect_app(call, body.brand_id, body.redirect_uri)
        start = await layer.x_oauth.begin(
            layer.store, account_id=call.account_id, redirect_uri=body.redirect_uri, app=app
        )
        await remember_brand(call, start.state, body.brand_id)
    except Permanent as exc:
        if "no X app configured" in exc.message:
            raise fail(412, "byok.credentials_missing", exc.message) from None
        raise fail(400, "oauth.invalid_request", exc.message) from None
    return Reply(200, {"auth_url": start.url, "state": start.state})


async def disconnect(call: Call) -> Reply:
    record = await owned_social_account(call, _id(call))
    await social(call).store.set_state(record.account.id, "disconnected", "disconnected by the customer")
    return Reply(204, b"")


async def limits(call: Call) -> Reply:
    record = await owned_social_account(call, _id(call))
    layer = social(call)
    connector = layer.jobs.connectors.get(record.account.platform)
    if connector is None:
        raise fail(501, "platform.unsupported", "no connector for this platform")
    scope = (str(record.account.id), record.account.platform)
    out = []
    for rule in connector.rate_rules:
        used = await layer.jobs.used(rule, scope)
        out.append(
            {
                "name": rule.name,
                "actions": sorted(a.value for a in rule.actions),
                "limit": rule.limit,
                "window_seconds": rule.window_seconds,
                "scope": rule.scope,
                "used": used,
                "remaining": max(0, rule.limit - used),
                "source": rule.source,
            }
        )
    writes = {a.value for a in WRITES}
    return Reply(
        200,
        {
            "account_id": record.account.id,
            "limits": out,
            "job_actions": sorted(writes),
            "read_actions": sorted({a.value for r in connector.rate_rules for a in r.actions} - writes),
        },
    )


async def mentions(call: Call) -> Reply:
    record = await owned_social_account(call, _id(call))
    q = call.query_as(AccountListing)
    rows = await call.ctx.pool.fetch(
        """SELECT * FROM social_inbox WHERE social_account_id = $1 AND kind = 'mention'
           AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3""",
        record.account.id,
        decode_cursor(q.cursor),
        q.limit + 1,
    )
    out = page([dict(r) for r in rows], q.limit, key=lambda r: r["id"])
    out["data"] = [mention_view(r) for r in out["data"]]
    return Reply(200, out)


def mention_view(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["item_id"],
        "account_id": r["social_account_id"],
        "platform": platform_name(r["platform"]),
        "text": r["text"],
        "author": {"id": r["author_id"], "username": r["author_username"]},
        "conversation_id": r["conversation_id"],
        "created_at": rfc3339(r["created_at"]),
        "received_at": rfc3339(r["received_at"]),
    }


def _op(
    method: str, path: str, handler: Any, summary: str, permission: str, tag: str = "Accounts", **more: Any
) -> Operation:
    return operation(method, path, handler, summary, permission, tag, **more)


OPERATIONS = [
    _op("GET", "/v1/accounts", list_accounts, "List connected accounts", "social.read", query=AccountFilter),
    _op(
        "POST",
        "/v1/accounts/connect",
        connect,
        "AccountConnect an account (start or finish OAuth)",
        "social.write",
        body=AccountConnect,
        ok=(200, 201),
    ),
    _op("DELETE", "/v1/accounts/{id}", disconnect, "Disconnect an account", "social.write", ok=204),
    _op("GET", "/v1/accounts/{id}/limits", limits, "An account's platform rate limits", "social.read"),
    _op(
        "GET",
        "/v1/accounts/{id}/mentions",
        mentions,
        "Mentions of an account",
        "social.read",
        tag="Mentions",
        query=AccountListing,
    ),
]
