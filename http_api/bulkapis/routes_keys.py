"""BulkAPIs API keys: `bulk_ak_...` tokens in the one key store (api_keys), shown once at creation.

    GET    /api/v1/api-keys          the account's bulk_ak_ keys (never a token)
    POST   /api/v1/api-keys          201 {"id", "name", "key": "bulk_ak_...", "createdAt"}: shown once
    DELETE /api/v1/api-keys?id=      revokes at once (every process within the revocation poll)

Only the SHA-256 of a token is stored (engine/admin/provision.py `create_token_key`). This module must
never return a token after its creation answer, nor list another account's keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import asyncpg
import msgspec
from msgspec import Meta

from engine.admin.provision import create_token_key
from http_api.bulkapis.dialect import DIALECT, RATE_BURST, RATE_LIMIT, BulkApisOk, ok, stamp
from http_api.errors import not_found
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request

PERMISSION = "keys.manage"
_COLUMNS = "key, name, created_at, revoked_at"
# bulk_ak_ keys: single-token rows that are not the Xquik surface's xq_ keys (xquik_api_keys)
_BULK = (
    "secret_hash LIKE 'sha256:%' AND NOT EXISTS (SELECT 1 FROM xquik_api_keys x WHERE x.key = api_keys.key)"
)


class BulkApisCreateKey(Request, frozen=True):
    name: Annotated[str, Meta(max_length=100, pattern=r"^[^\x00]*$")] = ""


class BulkApisKeyQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Annotated[str, Meta(min_length=1, max_length=64)]


class BulkApisKeyInfo(msgspec.Struct, frozen=True):
    id: str
    name: str
    prefix: str
    isActive: bool
    createdAt: str
    revokedAt: str | None


class BulkApisCreatedKey(msgspec.Struct, frozen=True):
    id: str
    name: str
    key: str  # the bulk_ak_ token: store it now, it is never shown again
    createdAt: str


class BulkApisRevoked(msgspec.Struct, frozen=True):
    id: str
    revoked: bool


def _info(row: asyncpg.Record) -> BulkApisKeyInfo:
    created: datetime = row["created_at"]
    return BulkApisKeyInfo(
        row["key"],
        row["name"],
        "bulk_ak_",
        row["revoked_at"] is None,
        stamp(created) or "",
        stamp(row["revoked_at"]),
    )


async def bulkapis_list_keys(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        f"SELECT {_COLUMNS} FROM api_keys WHERE account_id = $1 AND {_BULK} ORDER BY created_at DESC, key",
        call.account_id,
    )
    return ok([_info(r) for r in rows])


async def bulkapis_create_key(call: Call) -> Reply:
    body = call.body if isinstance(call.body, BulkApisCreateKey) else BulkApisCreateKey()
    key, token = await create_token_key(
        call.ctx.pool, call.account_id, name=body.name, rate_limit=RATE_LIMIT, rate_burst=RATE_BURST
    )
    created = await call.ctx.pool.fetchval("SELECT created_at FROM api_keys WHERE key = $1", key)
    return ok(BulkApisCreatedKey(key, body.name, token, stamp(created) or ""), 201)


async def bulkapis_revoke_key(call: Call) -> Reply:
    key = call.query_as(BulkApisKeyQuery).id
    revoked = await call.ctx.pool.fetchval(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE key = $1 AND account_id = $2"
        f" AND {_BULK} RETURNING key",
        key,
        call.account_id,
    )
    if revoked is None:
        raise not_found("API key")
    call.ctx.auth.forget([key])
    return ok(BulkApisRevoked(key, True))


OPERATIONS = [
    Operation("GET", "/api/v1/api-keys", bulkapis_list_keys, "List API keys", PERMISSION, "BulkAPIs",
              responses={200: BulkApisOk[list[BulkApisKeyInfo]]}, dialect=DIALECT),
    Operation("POST", "/api/v1/api-keys", bulkapis_create_key, "Create an API key (shown once)", PERMISSION,
              "BulkAPIs", body=BulkApisCreateKey, body_required=False,
              responses={201: BulkApisOk[BulkApisCreatedKey]}, dialect=DIALECT),
    Operation("DELETE", "/api/v1/api-keys", bulkapis_revoke_key, "Revoke an API key", PERMISSION, "BulkAPIs",
              query=BulkApisKeyQuery, responses={200: BulkApisOk[BulkApisRevoked]}, dialect=DIALECT),
]  # fmt: skip
