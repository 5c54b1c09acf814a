"""Xquik API keys: `xq_` + 64 hex digits, single-token rows of the one key store (api_keys).

The token is shown once (`fullKey`); api_keys keeps its SHA-256 (engine/admin/provision.py
`token_hash`), xquik_api_keys the document's numeric id, the visible prefix and lastUsedAt. At most
MAX_KEYS active keys per account (KeyLimit). Used by the HTTP surface, the demo and provisioning alike.
This module must never store or log a token: only its SHA-256 and its first characters.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import asyncpg
import msgspec

from engine.admin.provision import token_hash, token_key_id

MAX_KEYS = 100
PREFIX_SHOWN = 8  # the document's prefix: the key's first 8 characters, 'xq_' included


class KeyLimit(Exception):
    """The account has MAX_KEYS active keys already."""


class XquikKey(msgspec.Struct, frozen=True):
    id: int
    name: str
    prefix: str
    full_key: str
    created_at: datetime


async def create_key(pool: asyncpg.Pool, account_id: int, name: str = "") -> XquikKey:
    token = "xq_" + secrets.token_hex(32)
    key = token_key_id(token)
    async with pool.acquire() as conn, conn.transaction():
        # the account row serialises key creation: the count below cannot race another creation
        await conn.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", account_id)
        active = await conn.fetchval(
            "SELECT count(*) FROM xquik_api_keys x JOIN api_keys k ON k.key = x.key"
            " WHERE x.account_id = $1 AND k.revoked_at IS NULL",
            account_id,
        )
        if int(active) >= MAX_KEYS:
            raise KeyLimit(f"at most {MAX_KEYS} API keys per account")
        created: datetime = await conn.fetchval(
            "INSERT INTO api_keys (key, account_id, secret_hash, live, permissions, name)"
            " VALUES ($1, $2, $3, true, '{*}', $4) RETURNING created_at",
            key, account_id, token_hash(token), name,
        )  # fmt: skip
        key_id = await conn.fetchval(
            "INSERT INTO xquik_api_keys (key, account_id, prefix) VALUES ($1, $2, $3) RETURNING id",
            key, account_id, token[:PREFIX_SHOWN],
        )  # fmt: skip
    return XquikKey(int(key_id), name, token[:PREFIX_SHOWN], token, created)


async def revoke_key(pool: asyncpg.Pool, account_id: int, key_id: int) -> str | None:
    """Revoke the account's key `key_id`; its api_keys.key (to forget), or None when there is none."""
    key: str | None = await pool.fetchval(
        "UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now()) FROM xquik_api_keys x"
        " WHERE x.key = k.key AND x.id = $1 AND x.account_id = $2 RETURNING k.key",
        key_id,
        account_id,
    )
    return key
