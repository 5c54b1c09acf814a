"""Xquik API keys (session auth only): POST /api-keys, GET /api-keys, DELETE /api-keys/{id}.

`fullKey` is answered once, at creation; the list shows id, name, prefix, isActive, createdAt and
lastUsedAt, never a key. At most 100 active keys (403 api_key_limit_reached, with `limit`). A revoked
key stops at once on this process (the key cache is dropped) and on the others within the revocation
poll. Keys are engine/xquik/keys.py's. This module must never answer a key after its creation,
nor accept an API key as the caller.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from engine.xquik.keys import MAX_KEYS, KeyLimit, create_key, revoke_key
from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import PREFIX, SESSION_DIALECT, XquikIn, XquikOut, id_param, stamp, xquik_error

TAG = "Xquik API keys"


class CreateKey(XquikIn, frozen=True):
    name: Annotated[str, Meta(max_length=100, pattern=r"^[^\x00]*$")] = "Default"


class CreatedKey(XquikOut, frozen=True):
    id: str
    full_key: str
    prefix: str
    name: str
    created_at: str


class KeyOut(XquikOut, frozen=True, omit_defaults=True):
    id: str
    name: str
    prefix: str
    is_active: bool
    created_at: str
    last_used_at: str | None = None  # omitted when never used


class KeyList(XquikOut, frozen=True):
    keys: list[KeyOut]


class Revoked(XquikOut, frozen=True):
    success: bool


async def xquik_create_key(call: Call) -> Reply:
    body = call.body if isinstance(call.body, CreateKey) else CreateKey()
    try:
        key = await create_key(call.ctx.pool, call.account_id, body.name or "Default")
    except KeyLimit:
        raise xquik_error(
            403, "api_key_limit_reached", "API key limit reached. Delete an existing key first.",
            limit=MAX_KEYS,
        ) from None  # fmt: skip
    created = stamp(key.created_at) or ""
    return Reply(201, CreatedKey(str(key.id), key.full_key, key.prefix, key.name, created))


async def xquik_list_keys(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        "SELECT x.id, k.name, x.prefix, k.revoked_at IS NULL AS active, k.created_at, x.last_used_at"
        " FROM xquik_api_keys x JOIN api_keys k ON k.key = x.key WHERE x.account_id = $1 ORDER BY x.id",
        call.account_id,
    )
    keys = [
        KeyOut(str(r["id"]), r["name"], r["prefix"], r["active"], stamp(r["created_at"]) or "",
               stamp(r["last_used_at"]))
        for r in rows
    ]  # fmt: skip
    return Reply(200, KeyList(keys))


async def xquik_revoke_key(call: Call) -> Reply:
    key = await revoke_key(call.ctx.pool, call.account_id, id_param(call))
    if key is None:
        raise xquik_error(404, "not_found", "API key not found")
    call.ctx.auth.forget([key])
    return Reply(200, Revoked(True))


OPERATIONS = [
    Operation("POST", f"{PREFIX}/api-keys", xquik_create_key, "Create an API key (shown once)", None, TAG,
              body=CreateKey, body_required=False, responses={201: CreatedKey}, dialect=SESSION_DIALECT),
    Operation("GET", f"{PREFIX}/api-keys", xquik_list_keys, "List API keys", None, TAG,
              responses={200: KeyList}, dialect=SESSION_DIALECT),
    Operation("DELETE", f"{PREFIX}/api-keys/{{id}}", xquik_revoke_key, "Revoke an API key", None, TAG,
              responses={200: Revoked}, dialect=SESSION_DIALECT),
]  # fmt: skip
