"""Xquik's webhooks: rows of the one `webhooks` table with profile "xquik", delivered by the one outbox
sender (engine/outbox/webhooks.py) with the xquik profile's body and X-Xquik-Signature
(engine/outbox/profiles.py).

    hook = await create(pool, account_id, url, ["tweet.new"])      # its secret: returned here only
    await test(pool, sender, account_id, hook_id)                    # one webhook.test attempt, awaited
    await deliveries(pool, account_id, hook_id)            # pending | delivered | failed | exhausted

Delivery statuses over the outbox's: pending and never tried -> `pending`; pending after a failed
attempt (a retry is scheduled) -> `failed`; delivered -> `delivered`; failed for good (the profile's
retries spent: dead-lettered, the webhook stays active; or a failed test) -> `exhausted`.
URLs are checked by the caller with the engine's TargetPolicy before they reach this module.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

from engine.outbox.webhooks import TEST_EVENT, WebhookSender
from engine.xquik.monitors.service import iso

PROFILE = "xquik"
MAX_WEBHOOKS = 200
TEST_MESSAGE = "Test delivery from Xquik"
_COLUMNS = "id, url, events, active, created_at, updated_at"


def new_secret() -> str:
    return secrets.token_hex(32)


def webhook_json(row: asyncpg.Record, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(row["id"]), "url": row["url"], "eventTypes": list(row["events"]), "isActive": row["active"],
        "createdAt": iso(row["created_at"]), "updatedAt": iso(row["updated_at"]),
    }  # fmt: skip
    if secret is not None:
        out["secret"] = secret
    return out


async def create(
    pool: asyncpg.Pool, account_id: int, url: str, event_types: Sequence[str], sender: WebhookSender | None
) -> dict[str, Any]:
    secret = new_secret()
    row = await pool.fetchrow(
        f"INSERT INTO webhooks (account_id, url, events, secret, profile) "
        f"VALUES ($1, $2, $3, $4, '{PROFILE}') RETURNING {_COLUMNS}",
        account_id, url, list(dict.fromkeys(event_types)), secret,
    )  # fmt: skip
    assert row is not None
    if sender is not None:
        sender.directory.add(account_id)
    return webhook_json(row, secret)


async def list_all(pool: asyncpg.Pool, account_id: int) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM webhooks WHERE account_id = $1 AND profile = '{PROFILE}' "
        f"ORDER BY id LIMIT $2",
        account_id, MAX_WEBHOOKS,
    )  # fmt: skip
    return [webhook_json(r) for r in rows]


async def get(pool: asyncpg.Pool, account_id: int, webhook_id: int) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM webhooks WHERE account_id = $1 AND id = $2 AND profile = '{PROFILE}'",
        account_id, webhook_id,
    )  # fmt: skip


async def update(
    pool: asyncpg.Pool, account_id: int, webhook_id: int, *, url: str | None,
    event_types: Sequence[str] | None, active: bool | None, sender: WebhookSender | None,
) -> dict[str, Any] | None:  # fmt: skip
    row = await pool.fetchrow(
        f"UPDATE webhooks SET url = coalesce($3, url), events = coalesce($4, events), "
        f"active = coalesce($5, active), inactive_reason = CASE WHEN $5 THEN '' ELSE inactive_reason END, "
        f"updated_at = now() WHERE account_id = $1 AND id = $2 AND profile = '{PROFILE}' "
        f"RETURNING {_COLUMNS}",
        account_id, webhook_id, url, list(dict.fromkeys(event_types)) if event_types is not None else None,
        active,
    )  # fmt: skip
    if row is None:
        return None
    if row["active"] and sender is not None:
        sender.directory.add(account_id)
    return webhook_json(row)


async def delete(pool: asyncpg.Pool, account_id: int, webhook_id: int) -> bool:
    deleted = await pool.fetchval(
        f"DELETE FROM webhooks WHERE account_id = $1 AND id = $2 AND profile = '{PROFILE}' RETURNING id",
        account_id, webhook_id,
    )  # fmt: skip
    return deleted is not None


async def test(
    pool: asyncpg.Pool,
    sender: WebhookSender | None,
    account_id: int,
    webhook_id: int,
    *,
    within: float = 15.0,
) -> dict[str, Any]:
    """Store a webhook.test delivery, have the sender attempt it once, and say how it went."""
    delivery_id = await pool.fetchval(
        "INSERT INTO webhook_deliveries (webhook_id, account_id, event, data) VALUES ($1, $2, $3, $4) "
        "RETURNING id",
        webhook_id, account_id, TEST_EVENT, msgspec.json.encode({"message": TEST_MESSAGE}).decode(),
    )  # fmt: skip
    if sender is not None:
        sender.wake()
    deadline = time.monotonic() + within
    row = None
    while time.monotonic() < deadline:
        row = await pool.fetchrow(
            "SELECT d.uuid, d.status, a.status_code, a.error, a.duration_ms FROM webhook_deliveries d "
            "LEFT JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.id = $1 "
            "ORDER BY a.attempt DESC LIMIT 1",
            delivery_id,
        )
        if row is not None and row["status"] != "pending":
            break
        await asyncio.sleep(0.05)  # the attempt runs in the sender; its record is what we wait for
    if row is None or row["status"] == "pending":
        return {
            "success": False,
            "statusCode": None,
            "error": "the test delivery is still pending",
            "durationMs": None,
        }
    return {
        "success": row["status"] == "delivered", "deliveryId": str(row["uuid"]),
        "statusCode": row["status_code"], "error": row["error"] or None, "durationMs": row["duration_ms"],
    }  # fmt: skip


def delivery_status(status: str, attempts: int) -> str:
    if status == "pending":
        return "pending" if attempts == 0 else "failed"
    return "delivered" if status == "delivered" else "exhausted"


async def deliveries(
    pool: asyncpg.Pool, account_id: int, webhook_id: int, limit: int = 100
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """
        SELECT d.id, d.uuid, d.event, d.status, d.attempts, d.last_error, d.created_at, d.next_attempt,
               d.finished_at, (SELECT a.status_code FROM webhook_attempts a WHERE a.delivery_id = d.id
                               ORDER BY a.attempt DESC LIMIT 1) AS status_code
        FROM webhook_deliveries d WHERE d.webhook_id = $1 AND d.account_id = $2 ORDER BY d.id DESC LIMIT $3
        """,
        webhook_id, account_id, limit,
    )  # fmt: skip
    out = []
    for r in rows:
        status = delivery_status(r["status"], r["attempts"])
        out.append({
            "id": str(r["uuid"]), "eventType": r["event"], "status": status, "attempts": r["attempts"],
            "lastStatusCode": r["status_code"], "lastError": r["last_error"] or None,
            "createdAt": iso(r["created_at"]),
            "deliveredAt": iso(r["finished_at"]) if r["status"] == "delivered" and r["finished_at"] else None,
            "nextAttemptAt": iso(r["next_attempt"]) if r["status"] == "pending" else None,
        })  # fmt: skip
    return out
