"""Operators (the engine's staff) and their passwords: created by `smsengine operators create NAME`,
checked by the dashboard's login. Passwords are hashed with scrypt, as SMPP credentials are.

This module must never know about cookies or HTTP: session.py and routes.py do.
"""

from __future__ import annotations

import asyncio
import functools
import secrets

import asyncpg
import msgspec

from engine.core.text_fields import text_problem
from engine.customers.credentials import hash_password, verify_password

MIN_PASSWORD = 10


class Operator(msgspec.Struct, frozen=True):
    id: int
    name: str


async def create_operator(pool: asyncpg.Pool, name: str, password: str | None = None) -> tuple[int, str]:
    """(id, password): a new operator; without a password, a random one is made (shown once)."""
    problem = text_problem(name, 64)
    if not name or problem:
        raise ValueError(f"operator name {problem or 'is empty'}")
    password = password or secrets.token_urlsafe(12)
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"an operator password has at least {MIN_PASSWORD} characters")
    digest = await asyncio.to_thread(hash_password, password)
    try:
        operator_id = await pool.fetchval(
            "INSERT INTO operators (name, password_hash) VALUES ($1, $2) RETURNING id", name, digest
        )
    except asyncpg.UniqueViolationError:
        raise ValueError(f"an operator named {name!r} exists already") from None
    return int(operator_id), password


async def check_login(pool: asyncpg.Pool, name: str, password: str) -> Operator | None:
    """The operator, when the name and password match an enabled one; None otherwise."""
    row = await pool.fetchrow("SELECT id, name, password_hash, enabled FROM operators WHERE name = $1", name)
    # scrypt runs whether or not the name exists: the answer's time does not tell which names do
    stored = row["password_hash"] if row is not None else _dummy_hash()
    ok = await asyncio.to_thread(verify_password, password, stored)
    if row is None or not ok or not row["enabled"]:
        return None
    await pool.execute("UPDATE operators SET last_login_at = now() WHERE id = $1", row["id"])
    return Operator(row["id"], row["name"])


async def is_enabled(pool: asyncpg.Pool, operator_id: int) -> bool:
    return bool(await pool.fetchval("SELECT enabled FROM operators WHERE id = $1", operator_id))


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(8))
