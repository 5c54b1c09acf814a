"""The events log of Xquik's monitors: GET /events (filters, cursor pages) and GET /events/{id}.

Pages go newest first; `nextCursor` is urlsafe base64 of the last event's id ("e1:<id>"), so a page
never shifts when new events arrive. This module only reads.
"""

from __future__ import annotations

import base64
from typing import Any

import asyncpg
import msgspec

from engine.xquik.monitors.service import iso

_SELECT = "SELECT id, type, monitor_id, username, occurred_at, data FROM xquik_events"


class BadCursor(ValueError):
    pass


def encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"e1:{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith("e1:"):
            raise ValueError(text)
        return int(text[3:])
    except ValueError as exc:
        raise BadCursor(cursor) from exc


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    data = row["data"]
    return {
        "id": str(row["id"]), "type": row["type"], "monitorId": str(row["monitor_id"]),
        "username": row["username"], "occurredAt": iso(row["occurred_at"]),
        "data": msgspec.json.decode(data) if isinstance(data, str | bytes) else data,
    }  # fmt: skip


async def list_events(
    pool: asyncpg.Pool,
    account_id: int,
    *,
    monitor_id: int | None = None,
    event_type: str | None = None,
    limit: int = 50,
    after: str | None = None,
) -> dict[str, Any]:
    args: list[Any] = [account_id]
    where = ["account_id = $1"]
    if monitor_id is not None:
        args.append(monitor_id)
        where.append(f"monitor_id = ${len(args)}")
    if event_type is not None:
        args.append(event_type)
        where.append(f"type = ${len(args)}")
    if after:
        args.append(decode_cursor(after))
        where.append(f"id < ${len(args)}")
    args.append(limit + 1)
    rows = await pool.fetch(
        f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ${len(args)}", *args
    )
    page = rows[:limit]
    more = len(rows) > limit
    out: dict[str, Any] = {"events": [event_json(r) for r in page], "hasMore": more}
    if more:
        out["nextCursor"] = encode_cursor(page[-1]["id"])
    return out


async def get_event(pool: asyncpg.Pool, account_id: int, event_id: int) -> dict[str, Any] | None:
    row = await pool.fetchrow(f"{_SELECT} WHERE account_id = $1 AND id = $2", account_id, event_id)
    return event_json(row) if row is not None else None
