"""Meta's message statuses (sent, delivered, read, failed) applied to `whatsapp_messages`, in the caller's
transaction, with the money and the webhook events that follow from them.

    sent       the message left Meta for the handset: stays submitted (it already is)
    delivered  final: delivered (delivered_at)
    read       final: delivered, and read_at (a read without a delivered implies it)
    failed     final: undeliverable; a captured charge is refunded (Meta does not charge failed messages)

A status names its message by wamid, which is ours only once the send's outcome has committed; Meta's
webhook may overtake that commit. So both sides take the wamid's transaction advisory lock: a status that
finds no row is kept in `whatsapp_early_statuses`, and the outcome sink applies (and deletes) what is kept
there when it writes the wamid. Every applied status becomes one `whatsapp.message` webhook event
(direction "outbound"). This module must never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from billing.items import ItemSettle, settle_items
from billing.model import PostingKind
from engine.core.ids import format_id
from engine.outbox.webhooks import WebhookEvent
from engine.whatsapp.schema import LEDGER_CARRIER

EVENT = "whatsapp.message"
META_STATUSES = ("sent", "delivered", "read", "failed")
_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


class StatusUpdate(msgspec.Struct, frozen=True):
    wamid: str
    status: str  # one of META_STATUSES
    at: datetime
    error_code: int | None = None
    reason: str = ""


_JSON = msgspec.json.Encoder()

LOCK_WAMIDS = """
SELECT count(pg_advisory_xact_lock(hashtextextended(w, 81)))
FROM (SELECT unnest($1::text[]) AS w ORDER BY 1) s
"""

_APPLY = """
WITH u AS MATERIALIZED (
    SELECT * FROM json_to_recordset($1::json) AS t(wamid text, status text, at timestamptz, code integer,
                                                  reason text)
), m0 AS (
    SELECT m.id, m.final_at IS NULL AS open, m.money FROM whatsapp_messages m JOIN u ON u.wamid = m.wamid
    FOR UPDATE OF m
)
UPDATE whatsapp_messages m SET
    status = CASE WHEN NOT m0.open THEN m.status
                  WHEN u.status IN ('delivered', 'read') THEN 'delivered'
                  WHEN u.status = 'failed' THEN 'undeliverable' ELSE m.status END,
    final_at = CASE WHEN m0.open AND u.status <> 'sent' THEN now() ELSE m.final_at END,
    delivered_at = CASE WHEN u.status IN ('delivered', 'read') THEN coalesce(m.delivered_at, u.at)
                        ELSE m.delivered_at END,
    read_at = CASE WHEN u.status = 'read' THEN coalesce(m.read_at, u.at) ELSE m.read_at END,
    error_code = CASE WHEN m0.open AND u.status = 'failed' THEN u.code ELSE m.error_code END,
    reason = CASE WHEN m0.open AND u.status = 'failed' THEN u.reason ELSE m.reason END,
    money = CASE WHEN m0.open AND u.status = 'failed' AND m.money = 'captured' THEN 'refunded'
                 ELSE m.money END,
    refund_batch = CASE WHEN m0.open AND u.status = 'failed' AND m.money = 'captured' THEN $2
                        ELSE m.refund_batch END,
    updated_at = now()
FROM u, m0
WHERE m.wamid = u.wamid AND m0.id = m.id
RETURNING m.id, m.account_id, m.wamid, u.status AS meta_status, m.status, m.destination, m.phone_number_id,
          m.client_ref, m.amount, m.country, m.refund_batch IS NOT DISTINCT FROM $2 AS refunded,
          m.delivered_at, m.read_at, m.error_code, m.reason, m.type, m.template_name
"""

_KEEP_EARLY = """
INSERT INTO whatsapp_early_statuses (wamid, status, at, error_code, reason)
SELECT wamid, status, at, code, reason
FROM json_to_recordset($1::json) AS t(wamid text, status text, at timestamptz, code integer, reason text)
ON CONFLICT (wamid) DO UPDATE SET status = EXCLUDED.status, at = EXCLUDED.at,
    error_code = EXCLUDED.error_code, reason = EXCLUDED.reason
"""

_TAKE_EARLY = """
DELETE FROM whatsapp_early_statuses WHERE wamid = ANY($1::text[])
RETURNING wamid, status, at, error_code, reason
"""


def latest(updates: Sequence[StatusUpdate]) -> list[StatusUpdate]:
    """One update per wamid: the furthest along (failed > read > delivered > sent)."""
    best: dict[str, StatusUpdate] = {}
    for u in updates:
        seen = best.get(u.wamid)
        if seen is None or _RANK[u.status] >= _RANK[seen.status]:
            best[u.wamid] = u
    return list(best.values())


def _json(updates: Sequence[StatusUpdate]) -> str:
    return _JSON.encode(
        [
            {"wamid": u.wamid, "status": u.status, "at": u.at, "code": u.error_code, "reason": u.reason}
            for u in updates
        ]
    ).decode()


async def apply_statuses(
    conn: Any, batch: int, updates: Sequence[StatusUpdate], *, keep_unmatched: bool
) -> list[WebhookEvent]:
    """Apply `updates` (the caller holds the wamids' advisory locks); refunds posted in `batch`.
    Unmatched ones are kept for the sink when `keep_unmatched`. Returns the webhook events to emit."""
    updates = latest(updates)
    if not updates:
        return []
    rows = await conn.fetch(_APPLY, _json(updates), batch)
    matched = {r["wamid"] for r in rows}
    unmatched = [u for u in updates if u.wamid not in matched]
    if unmatched and keep_unmatched:
        await conn.execute(_KEEP_EARLY, _json(unmatched))
    refunds = [
        ItemSettle(PostingKind.REFUND, r["account_id"], r["amount"], 1, r["country"] or "", LEDGER_CARRIER)
        for r in rows
        if r["refunded"]
    ]
    await settle_items(conn, batch, refunds)
    return [WebhookEvent(r["account_id"], EVENT, status_event(r)) for r in rows]


async def take_early(conn: Any, wamids: Sequence[str]) -> list[StatusUpdate]:
    rows = await conn.fetch(_TAKE_EARLY, list(wamids))
    return [StatusUpdate(r["wamid"], r["status"], r["at"], r["error_code"], r["reason"]) for r in rows]


def status_event(r: Any) -> dict[str, Any]:
    return {
        "direction": "outbound",
        "message_id": format_id(r["id"]),
        "wamid": r["wamid"],
        "status": r["meta_status"],
        "message_status": r["status"],
        "to": "+" + r["destination"],
        "phone_number_id": r["phone_number_id"],
        "type": r["type"],
        "template": r["template_name"],
        "client_ref": r["client_ref"],
        "delivered_at": r["delivered_at"].isoformat() if r["delivered_at"] else None,
        "read_at": r["read_at"].isoformat() if r["read_at"] else None,
        "error_code": r["error_code"],
        "reason": r["reason"] or None,
    }
