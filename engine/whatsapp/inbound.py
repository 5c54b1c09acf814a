"""Meta's webhook events in: the signature, the payload's parts, and what each changes, in one transaction.

Meta POSTs `{"object": "whatsapp_business_account", "entry": [{"id": <waba>, "changes": [...]}]}` signed

    X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app_secret, raw body)>

and `verify_signature` refuses anything else (compared in constant time, over the bytes as received).
A change is one of:

- field "messages", value.messages[]: a customer wrote to a business number (value.metadata names it):
  the conversation's 24-hour window (re)opens from the message's timestamp, and the owning account's
  webhooks get `whatsapp.message` (direction "inbound");
- field "messages", value.statuses[]: sent / delivered / read / failed of a message we sent
  (engine/whatsapp/statuses.py: the message's life, money, and `whatsapp.message` direction "outbound");
- field "message_template_status_update": a template APPROVED, REJECTED (with the reason), PAUSED ...

This module must never trust a body whose signature it has not checked (the HTTP route checks first).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from engine.outbox.webhooks import WebhookEvent, WebhookSender
from engine.whatsapp.statuses import EVENT, LOCK_WAMIDS, META_STATUSES, StatusUpdate, apply_statuses

TEMPLATE_STATES = ("PENDING", "APPROVED", "REJECTED", "PAUSED", "DISABLED")


def signature(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends for `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    if not app_secret or not header:
        return False
    return hmac.compare_digest(signature(app_secret, body), header.strip())


class InboundMessage(msgspec.Struct, frozen=True):
    phone_number_id: str
    wa_id: str  # the customer, E.164 digits
    wamid: str
    type: str
    at: datetime
    text: str  # the text of a text message, a caption or a button's text; "" otherwise
    profile_name: str
    raw: dict[str, Any]


class TemplateStatus(msgspec.Struct, frozen=True):
    waba_id: str  # the entry's id: the WhatsApp Business Account the template belongs to
    meta_id: str
    name: str
    language: str
    event: str
    reason: str


class InboundBatch(msgspec.Struct):
    messages: list[InboundMessage] = msgspec.field(default_factory=list)
    statuses: list[StatusUpdate] = msgspec.field(default_factory=list)
    templates: list[TemplateStatus] = msgspec.field(default_factory=list)


class InvalidPayload(ValueError):
    pass


def _stamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _text_of(message: dict[str, Any]) -> str:
    kind = message.get("type")
    part = message.get(kind) if isinstance(kind, str) else None
    if not isinstance(part, dict):
        return ""
    for key in ("body", "caption", "text", "title"):
        if isinstance(part.get(key), str):
            return str(part[key])
    return ""


def parse_payload(body: Any) -> InboundBatch:
    """The parts of one webhook POST (unknown fields and change kinds are ignored, as Meta adds them)."""
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        raise InvalidPayload("not a WhatsApp Business Account webhook: no entry list")
    out = InboundBatch()
    for entry in body["entry"]:
        for change in entry.get("changes", []) if isinstance(entry, dict) else []:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                continue
            value = change["value"]
            field = change.get("field")
            if field == "messages":
                _messages(value, out)
            elif field == "message_template_status_update":
                event = str(value.get("event", "")).upper()
                if event in TEMPLATE_STATES:
                    out.templates.append(TemplateStatus(
                        str(entry.get("id", "")),
                        str(value.get("message_template_id", "")),
                        str(value.get("message_template_name", "")),
                        str(value.get("message_template_language", "")), event,
                        "" if value.get("reason") in (None, "NONE") else str(value.get("reason")),
                    ))  # fmt: skip
    return out


def _messages(value: dict[str, Any], out: InboundBatch) -> None:
    number = str((value.get("metadata") or {}).get("phone_number_id", ""))
    names = {
        str(c.get("wa_id")): str((c.get("profile") or {}).get("name", ""))
        for c in value.get("contacts") or []
        if isinstance(c, dict)
    }
    for m in value.get("messages") or []:
        if isinstance(m, dict) and m.get("from") and m.get("id"):
            wa_id = str(m["from"]).lstrip("+")
            out.messages.append(InboundMessage(
                number, wa_id, str(m["id"]), str(m.get("type", "unknown")), _stamp(m.get("timestamp")),
                _text_of(m), names.get(wa_id, ""), m,
            ))  # fmt: skip
    for s in value.get("statuses") or []:
        if isinstance(s, dict) and s.get("id") and s.get("status") in META_STATUSES:
            errors = s.get("errors") or [{}]
            error = errors[0] if isinstance(errors[0], dict) else {}
            code = error.get("code")
            reason = (
                (error.get("error_data") or {}).get("details") or error.get("message") or error.get("title")
            )
            out.statuses.append(StatusUpdate(
                str(s["id"]), str(s["status"]), _stamp(s.get("timestamp")),
                code if isinstance(code, int) else None, str(reason or ""),
            ))  # fmt: skip


_OPEN_WINDOW = """
INSERT INTO whatsapp_conversations (phone_number_id, wa_id, account_id, profile_name, last_inbound_at,
                                    last_message, inbound_count)
VALUES ($1, $2, $3, $4, $5, $6, 1)
ON CONFLICT (phone_number_id, wa_id) DO UPDATE SET
    last_inbound_at = greatest(whatsapp_conversations.last_inbound_at, EXCLUDED.last_inbound_at),
    profile_name = CASE WHEN EXCLUDED.profile_name <> '' THEN EXCLUDED.profile_name
                        ELSE whatsapp_conversations.profile_name END,
    last_message = EXCLUDED.last_message,
    inbound_count = whatsapp_conversations.inbound_count + 1
"""

_TEMPLATE = """
UPDATE whatsapp_templates SET status = $4, reason = $5, updated_at = now()
WHERE waba_id = $6 AND ((meta_id = $1 AND $1 <> '') OR (meta_id = '' AND name = $2 AND language = $3))
"""


class WhatsAppInbound:
    def __init__(
        self, pool: asyncpg.Pool, *, new_id: Callable[[], int], webhooks: WebhookSender | None
    ) -> None:
        self._pool = pool
        self._new_id = new_id
        self._webhooks = webhooks
        self._handled = 0

    async def handle(self, batch: InboundBatch) -> dict[str, int]:
        """Apply one webhook POST's parts in one transaction; counts of what was applied."""
        events: list[WebhookEvent] = []
        unknown = 0
        async with self._pool.acquire() as conn, conn.transaction():
            owners: dict[str, int] = {}
            numbers = sorted({m.phone_number_id for m in batch.messages})
            if numbers:
                rows = await conn.fetch(
                    "SELECT phone_number_id, account_id FROM whatsapp_accounts"
                    " WHERE phone_number_id = ANY($1)",
                    numbers,
                )
                owners = {r["phone_number_id"]: r["account_id"] for r in rows}
            for m in batch.messages:
                account = owners.get(m.phone_number_id)
                if account is None:
                    unknown += 1  # a number no account connected: nothing to open, nobody to tell
                    continue
                await conn.execute(_OPEN_WINDOW, m.phone_number_id, m.wa_id, account, m.profile_name, m.at,
                                   m.text[:1000])  # fmt: skip
                events.append(WebhookEvent(account, EVENT, _inbound_event(m), at=m.at))
            if batch.statuses:
                await conn.fetchval(LOCK_WAMIDS, sorted({s.wamid for s in batch.statuses}))
                events += await apply_statuses(conn, self._new_id(), batch.statuses, keep_unmatched=True)
            self._handled += 1
            if self._handled % 1000 == 0:  # statuses of wamids never ours (another tool on the number)
                await conn.execute(
                    "DELETE FROM whatsapp_early_statuses WHERE created_at < now() - interval '1 day'"
                )
            for t in batch.templates:
                await conn.execute(_TEMPLATE, t.meta_id, t.name, t.language, t.event, t.reason, t.waba_id)
            emitted = await self._webhooks.emit(conn, events) if self._webhooks is not None and events else 0
        if emitted and self._webhooks is not None:
            self._webhooks.wake()
        return {
            "messages": len(batch.messages) - unknown,
            "statuses": len(batch.statuses),
            "templates": len(batch.templates),
        }


def _inbound_event(m: InboundMessage) -> dict[str, Any]:
    return {
        "direction": "inbound",
        "wamid": m.wamid,
        "from": "+" + m.wa_id,
        "profile_name": m.profile_name,
        "phone_number_id": m.phone_number_id,
        "type": m.type,
        "text": m.text,
        "timestamp": m.at.isoformat(),
        "message": m.raw,
    }
