"""Sender ID requests and their review, and the per-account switch that makes approval required.

Plain async functions on a pool, for the HTTP API (request, list) and the operator's CLI (approve,
reject, require). Every change sends a NOTIFY on directory.CHANNEL in its own transaction, so every
engine process's SenderDirectory reloads as soon as it commits. This module never decides whether a
message may be sent: the directory does, at accept time.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from engine.senders.directory import CHANNEL

_NOTIFY = f"SELECT pg_notify('{CHANNEL}', $1::text)"
COLUMNS = "id, account_id, sender, kind, status, use_case, countries, reason, created_at, reviewed_at"


class SenderExists(Exception):
    """The account already asked for this sender ID."""


class UnknownSender(LookupError):
    """No such sender ID (or not that account's)."""


def kind_of(sender: str) -> str:
    return "numeric" if sender.lstrip("+").isdigit() else "alphanumeric"


async def request_sender(
    pool: asyncpg.Pool,
    account_id: int,
    sender: str,
    *,
    use_case: str = "",
    countries: list[str] | None = None,
) -> asyncpg.Record:
    """A new pending request (SenderExists if the account has one for this sender already)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO sender_ids (account_id, sender, kind, use_case, countries)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, sender) DO NOTHING RETURNING {COLUMNS}""",
            account_id, sender, kind_of(sender), use_case, countries or [],
        )  # fmt: skip
        if row is None:
            raise SenderExists(sender)
        await conn.execute(_NOTIFY, str(account_id))
    return row


async def review_sender(
    pool: asyncpg.Pool, account_id: int, sender: str, *, approve: bool, reason: str = ""
) -> asyncpg.Record:
    """Approve or reject one of the account's sender IDs (asked for or not: the operator may add one)."""
    status = "approved" if approve else "rejected"
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO sender_ids (account_id, sender, kind, status, reason, reviewed_at)
            VALUES ($1, $2, $3, $4, $5, now())
            ON CONFLICT (account_id, sender) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason,
                reviewed_at = now()
            RETURNING {COLUMNS}""",
            account_id, sender, kind_of(sender), status, reason,
        )  # fmt: skip
        await conn.execute(_NOTIFY, str(account_id))
    assert row is not None
    return row


async def require_approved_senders(pool: asyncpg.Pool, account_id: int, required: bool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        status = await conn.execute(
            "UPDATE accounts SET sender_ids_required = $2 WHERE id = $1", account_id, required
        )
        if status.endswith(" 0"):
            raise LookupError(f"no account {account_id}")
        await conn.execute(_NOTIFY, str(account_id))


async def senders_of(conn: Any, account_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {COLUMNS} FROM sender_ids WHERE account_id = $1 ORDER BY id", account_id
    )
    return rows
