"""Xquik's webhooks: the one webhook store (engine/outbox/webhook_store.py) with profile "xquik", in the
document's shapes, delivered by the one outbox sender (engine/outbox/webhooks.py) with the xquik
profile's body and X-Xquik-Signature (engine/outbox/profiles.py).

    hook = await create(store, account_id, url, ["tweet.new"])      # its secret: returned here only
    await test(store, pool, account_id, hook_id)                      # one webhook.test attempt, awaited
    await deliveries(store, account_id, hook_id)          # pending | delivered | failed | exhausted

Delivery statuses over the outbox's: pending and never tried -> `pending`; pending after a failed
attempt (a retry is scheduled) -> `failed`; delivered -> `delivered`; failed for good (the profile's
retries spent: dead-lettered, the webhook stays active; or a failed test) -> `exhausted`.
The store's refusals (WebhookNotFound, WebhookLimitReached, InvalidWebhookUrl, UnsafeTarget) reach the
caller (http_api/xquik/routes_monitors.py), which words them. Up to LIMIT webhooks per account (the
document's "up to 200"), counted as the store counts: every profile of the account together.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from engine.outbox.webhook_store import StoredWebhook, WebhookNotFound, WebhookStore
from engine.outbox.webhooks import TEST_EVENT
from engine.xquik.monitors.service import iso

PROFILE = "xquik"
LIMIT = 200
TEST_MESSAGE = "Test delivery from Xquik"


def webhook_json(hook: StoredWebhook, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(hook.id), "url": hook.url, "eventTypes": list(hook.events), "isActive": hook.active,
        "createdAt": iso(hook.created_at), "updatedAt": iso(hook.updated_at),
    }  # fmt: skip
    if secret is not None:
        out["secret"] = secret
    return out


async def create(
    store: WebhookStore, account_id: int, url: str, event_types: Sequence[str]
) -> dict[str, Any]:
    hook = await store.create(account_id, PROFILE, url=url, events=event_types, limit=LIMIT)
    return webhook_json(hook, hook.secret)


async def list_all(store: WebhookStore, account_id: int) -> list[dict[str, Any]]:
    return [webhook_json(h) for h in (await store.all_of(account_id, PROFILE))[:LIMIT]]


async def get(store: WebhookStore, account_id: int, webhook_id: int) -> StoredWebhook | None:
    try:
        return await store.get(account_id, PROFILE, webhook_id)
    except WebhookNotFound:
        return None


async def update(
    store: WebhookStore, account_id: int, webhook_id: int, *, url: str | None,
    event_types: Sequence[str] | None, active: bool | None,
) -> dict[str, Any] | None:  # fmt: skip
    try:
        hook = await store.update(account_id, PROFILE, webhook_id, url=url, events=event_types, active=active)
    except WebhookNotFound:
        return None
    return webhook_json(hook)


async def delete(store: WebhookStore, account_id: int, webhook_id: int) -> bool:
    try:
        await store.delete(account_id, PROFILE, webhook_id)
    except WebhookNotFound:
        return False
    return True


async def test(
    store: WebhookStore, pool: asyncpg.Pool, account_id: int, webhook_id: int, *, within: float = 15.0
) -> dict[str, Any]:
    """Store a webhook.test delivery, have the sender attempt it once, and say how it went."""
    delivery = await store.test(account_id, PROFILE, webhook_id, TEST_EVENT, {"message": TEST_MESSAGE})
    deadline = time.monotonic() + within
    row = None
    while time.monotonic() < deadline:
        row = await pool.fetchrow(
            "SELECT d.uuid, d.status, a.status_code, a.error, a.duration_ms FROM webhook_deliveries d "
            "LEFT JOIN webhook_attempts a ON a.delivery_id = d.id WHERE d.id = $1 "
            "ORDER BY a.attempt DESC LIMIT 1",
            delivery.id,
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
    store: WebhookStore, account_id: int, webhook_id: int, limit: int = 100
) -> list[dict[str, Any]] | None:
    """Newest first; None when the webhook is not the account's."""
    try:
        found, _ = await store.deliveries(account_id, PROFILE, webhook_id, limit=limit)
    except WebhookNotFound:
        return None
    attempts = await store.attempts([d.id for d in found])
    out = []
    for d in found:
        tried = attempts.get(d.id) or []
        out.append({
            "id": d.uuid, "eventType": d.event, "status": delivery_status(d.status, d.attempts),
            "attempts": d.attempts, "lastStatusCode": tried[-1].status_code if tried else None,
            "lastError": d.last_error or None, "createdAt": iso(d.created_at),
            "deliveredAt": iso(d.finished_at) if d.status == "delivered" and d.finished_at else None,
            "nextAttemptAt": iso(d.next_attempt) if d.status == "pending" else None,
        })  # fmt: skip
    return out
