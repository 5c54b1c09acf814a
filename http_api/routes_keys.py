"""API keys of the caller's account: list, create (secret shown once), revoke.

    GET    /v1/settings/api-keys        keys.manage
    POST   /v1/settings/api-keys        keys.manage   201 with the secret, the only time it is shown
    DELETE /v1/settings/api-keys/{id}   keys.manage   sets revoked_at; effective at once on this process

A key cannot hand out more than it holds: the new key's permissions must be ones the caller has (or the
caller holds "*"), never billing.write (the operator grants it, not the API), and a sandbox caller (test
key or X-Sandbox) can only create test keys, so a sandbox credential never becomes one that spends money.
This module must never return a secret or its hash, except the new secret in the creation answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import asyncpg
import msgspec
from msgspec import Meta

from engine.admin.provision import create_api_key
from http_api.auth import OPERATOR_PERMISSIONS
from http_api.envelopes import One, Page, PageQuery, offset_page, one, page_of
from http_api.errors import ApiError, not_found
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request

Permission = Literal[
    "sms.send",
    "sms.read",
    "billing.read",
    "billing.write",
    "reports.read",
    "keys.manage",
    "webhooks.manage",
    "templates.manage",
    "contacts.read",
    "contacts.write",
    "campaigns.read",
    "campaigns.write",
    "campaigns.approve",
    "settings.manage",
    "billing.topup",
    "whatsapp.send",
    "social.read",
    "social.write",
    "*",
]  # fmt: skip (auth.PERMISSIONS lists the same names)

_COLUMNS = "key, name, live, permissions, created_at, revoked_at"


class ApiKeyInfo(msgspec.Struct, frozen=True):
    id: str  # the public key (bsms_live_... / bsms_test_...)
    name: str
    live: bool
    permissions: list[str]
    created_at: datetime
    revoked_at: datetime | None


class CreateApiKey(Request, frozen=True):
    name: Annotated[str, Meta(max_length=100)] = ""
    permissions: Annotated[list[Permission], Meta(min_length=1, max_length=16)] = msgspec.field(
        default_factory=lambda: ["*"]
    )
    live: bool | None = None  # default: the same mode as the calling key


class CreatedApiKey(msgspec.Struct, frozen=True):
    id: str
    key: str
    secret: str  # shown once: store it now
    name: str
    live: bool
    permissions: list[str]
    created_at: datetime


def _info(r: asyncpg.Record) -> ApiKeyInfo:
    return ApiKeyInfo(
        r["key"], r["name"], r["live"], list(r["permissions"]), r["created_at"], r["revoked_at"]
    )


async def list_keys(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        f"SELECT {_COLUMNS} FROM api_keys WHERE account_id = $1 ORDER BY created_at DESC, key",
        call.account_id,
    )
    page, pagination = offset_page(rows, call.query_as(PageQuery))
    return page_of(call, [_info(r) for r in page], pagination)


async def create_key(call: Call) -> Reply:
    body = call.body_as(CreateApiKey)
    principal = call.principal
    wanted: list[str] = sorted(set(body.permissions))
    operator_only = sorted(OPERATOR_PERMISSIONS.intersection(wanted))
    if operator_only:
        message = "operator permissions are granted by the operator, not through the API"
        raise ApiError(403, "FORBIDDEN", message, {"permissions": operator_only})
    if not principal.allows("*"):
        beyond = [p for p in wanted if not principal.allows(p)]
        if beyond:
            message = "a key cannot grant permissions it does not hold"
            raise ApiError(403, "FORBIDDEN", message, {"permissions": beyond})
    live = principal.live if body.live is None else body.live
    if live and principal.sandbox:
        raise ApiError(403, "FORBIDDEN", "a sandbox request can only create test keys")
    key, secret = await create_api_key(
        call.ctx.pool, call.account_id, live=live, permissions=wanted, name=body.name
    )
    call.ctx.auth.forget([key])
    row = await call.ctx.pool.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE key = $1", key)
    assert row is not None
    return one(call, CreatedApiKey(key, key, secret, body.name, live, wanted, row["created_at"]), 201)


async def revoke_key(call: Call) -> Reply:
    key = call.path("id")
    row = await call.ctx.pool.fetchrow(
        f"""UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
            WHERE key = $1 AND account_id = $2 RETURNING {_COLUMNS}""",
        key,
        call.account_id,
    )
    if row is None:
        raise not_found("API key")
    call.ctx.auth.forget([key])
    return one(call, _info(row))


OPERATIONS = [
    Operation("GET", "/v1/settings/api-keys", list_keys, "List the account's API keys", "keys.manage",
              "Settings", query=PageQuery, responses={200: Page[ApiKeyInfo]}),
    Operation("POST", "/v1/settings/api-keys", create_key, "Create an API key (secret shown once)",
              "keys.manage", "Settings", body=CreateApiKey, responses={201: One[CreatedApiKey]}),
    Operation("DELETE", "/v1/settings/api-keys/{id}", revoke_key, "Revoke an API key", "keys.manage",
              "Settings", responses={200: One[ApiKeyInfo]}),
]  # fmt: skip
