"""The events log of Xquik's monitors: what GET /events and GET /events/{id} read.

Pages go newest first by id (`before_id`: the last id of the previous page), so a page never shifts
when new events arrive; the HTTP surface makes the id its opaque cursor. This module only reads.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from engine.xquik.monitors.service import iso

_SELECT = "SELECT id, type, monitor_id, username, occurred_at, data FROM xquik_events"


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    data = row["data"]
    return {
        "id": str(row["id"]), "type": row["type"], "monitorId": str(row["monitor_id"]),
        "username": row["username"], "occurredAt": iso(row["occurred_at"]),
        "data": msgspec.json.decode(data) if isinstance(data, str | bytes) else data,
    }  # fmt: skip


async def list_events(
    pool: asyncpg.Pool, account_id: int, *, monitor_id: int | None = None, event_type: str | None = None,
    limit: int = 50, before_id: int | None = None,
) -> list[asyncpg.Record]:  # fmt: skip
    """Up to `limit` events, newest first (fetch limit + 1 to learn whether there are more)."""
    args: list[Any] = [account_id]
    where = ["account_id = $1"]
    for column, value in (("monitor_id", monitor_id), ("type", event_type)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if before_id is not None:
        args.append(before_id)
        where.append(f"id < ${len(args)}")
    args.append(limit)
    sql = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ${len(args)}"
    return list(await pool.fetch(sql, *args))


async def get_event(pool: asyncpg.Pool, account_id: int, event_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow(f"{_SELECT} WHERE account_id = $1 AND id = $2", account_id, event_id)
    return event_json(row) if row is not None else None
