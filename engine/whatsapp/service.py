"""WhatsApp Business for the HTTP surface: sends prepared for the accept path, templates, connected numbers.

`WhatsApp` is owned by `Engine.start` (engine.whatsapp is None when no access token is configured):

- `prepare(...)` turns a send request into a `PreparedWhatsApp` for `engine.acceptor` (the same group
  commit and ledger hold as SMS): the recipient checked (E.164), the business number chosen, a template
  send only for an APPROVED template, a free-form (session) message only inside the customer service
  window (24 h after the customer's last inbound message, engine/whatsapp/inbound.py), priced by category;
- `create_template` / `delete_template`: Meta first (the template is reviewed there), then our row; its
  state moves on Meta's `message_template_status_update` webhooks.

Refusals are `WhatsAppRefused` with the API's status and code. This module must never send a message itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import phonenumbers

from engine.core.destinations import normalise_cached
from engine.infra.settings import WhatsAppSettings
from engine.whatsapp.cloud_api import CloudApi, CloudApiError
from engine.whatsapp.schema import PreparedWhatsApp
from routing.numbers import InvalidDestination

WINDOW_CLOSED = "CONVERSATION_WINDOW_CLOSED"
TEMPLATE_NOT_APPROVED = "TEMPLATE_NOT_APPROVED"
NOT_CONNECTED = "WHATSAPP_NOT_CONNECTED"


class WhatsAppRefused(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class SendRequest(msgspec.Struct, frozen=True, kw_only=True):
    to: str
    type: str  # template | text
    template_name: str | None = None
    template_language: str | None = None
    components: list[dict[str, Any]] = msgspec.field(default_factory=list)
    text: str | None = None
    preview_url: bool = False
    sender: str | None = None  # a phone_number_id or display number of the account; None: its first
    client_ref: str | None = None
    sandbox: bool = False


_NUMBERS = """
SELECT phone_number_id, waba_id, display_phone_number FROM whatsapp_accounts
WHERE account_id = $1 AND status = 'CONNECTED' ORDER BY id
"""


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


class WhatsApp:
    def __init__(self, pool: asyncpg.Pool, settings: WhatsAppSettings, *, new_id: Callable[[], int]) -> None:
        self._pool = pool
        self.settings = settings
        self._new_id = new_id
        self.api = CloudApi(
            settings.api_base, settings.api_version, settings.access_token,
            timeout=settings.request_timeout_seconds,
        )  # fmt: skip

    async def close(self) -> None:
        await self.api.close()

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.settings.window_hours)

    def price(self, category: str) -> int:
        s = self.settings
        return {
            "MARKETING": s.price_marketing, "UTILITY": s.price_utility,
            "AUTHENTICATION": s.price_authentication,
        }.get(category, s.price_service)  # fmt: skip

    # ------------------------------------------------------------------------------ sending

    async def _number(self, conn: Any, account_id: int, sender: str | None) -> asyncpg.Record:
        rows: list[asyncpg.Record] = await conn.fetch(_NUMBERS, account_id)
        if not rows:
            raise WhatsAppRefused(
                422, NOT_CONNECTED, "no WhatsApp Business number is connected to this account"
            )
        if sender is None:
            return rows[0]
        for r in rows:
            if sender in (r["phone_number_id"], r["display_phone_number"]) or (
                _digits(sender) and _digits(sender) == _digits(r["display_phone_number"])
            ):
                return r
        raise WhatsAppRefused(
            422,
            NOT_CONNECTED,
            f"{sender!r} is not a WhatsApp number connected to this account",
            {"field": "from"},
        )

    async def prepare(self, account_id: int, r: SendRequest) -> PreparedWhatsApp:
        try:
            destination = normalise_cached(r.to.removeprefix("+"), 1, 1, None)
        except InvalidDestination as exc:
            raise WhatsAppRefused(400, "INVALID_PHONE_NUMBER", f"{r.to!r}: {exc}", {"field": "to"}) from None
        region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + destination)) or ""
        async with self._pool.acquire() as conn:
            number = await self._number(conn, account_id, r.sender)
            currency = await conn.fetchval(
                "SELECT currency FROM billing_customers WHERE account_id = $1", account_id
            )
            if r.type == "template":
                category, payload = await self._template_payload(conn, account_id, destination, r)
            else:
                category, payload = "SERVICE", await self._session_payload(conn, number, destination, r)
        return PreparedWhatsApp(
            id=self._new_id(), account_id=account_id, phone_number_id=number["phone_number_id"],
            destination=destination, type=r.type, category=category, payload=json.dumps(payload).encode(),
            amount=self.price(category), currency=currency or "EUR", country=region,
            template_name=r.template_name, template_language=r.template_language, client_ref=r.client_ref,
            sandbox=r.sandbox,
        )  # fmt: skip

    async def _template_payload(
        self, conn: Any, account_id: int, destination: str, r: SendRequest
    ) -> tuple[str, dict[str, Any]]:
        row = await conn.fetchrow(
            "SELECT status, category, reason FROM whatsapp_templates"
            " WHERE account_id = $1 AND name = $2 AND language = $3",
            account_id, r.template_name, r.template_language,
        )  # fmt: skip
        where = {"template": r.template_name, "language": r.template_language}
        if row is None:
            raise WhatsAppRefused(422, TEMPLATE_NOT_APPROVED,
                                  f"no template {r.template_name!r} in language {r.template_language!r}",
                                  {**where, "status": None})  # fmt: skip
        if row["status"] != "APPROVED":
            why = f" ({row['reason']})" if row["reason"] else ""
            raise WhatsAppRefused(422, TEMPLATE_NOT_APPROVED,
                                  f"template {r.template_name!r} is {row['status']}{why}: only APPROVED ones "
                                  "can be sent", {**where, "status": row["status"]})  # fmt: skip
        template: dict[str, Any] = {"name": r.template_name, "language": {"code": r.template_language}}
        if r.components:
            template["components"] = r.components
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": destination,
                   "type": "template", "template": template}  # fmt: skip
        return str(row["category"]), payload

    async def _session_payload(
        self, conn: Any, number: asyncpg.Record, destination: str, r: SendRequest
    ) -> dict[str, Any]:
        last = await conn.fetchval(
            "SELECT last_inbound_at FROM whatsapp_conversations WHERE phone_number_id = $1 AND wa_id = $2",
            number["phone_number_id"], destination,
        )  # fmt: skip
        now = datetime.now(UTC)
        if last is None or last <= now - self.window:
            since = "has never written to" if last is None else f"last wrote at {last.isoformat()} to"
            raise WhatsAppRefused(
                422, WINDOW_CLOSED,
                f"free-form messages are only allowed within {self.settings.window_hours:g} hours of the "
                f"customer's last message; +{destination} {since} this number: send an approved template "
                '(type "template") instead',
                {"last_inbound_at": last.isoformat() if last else None, "use": "template"},
            )  # fmt: skip
        return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": destination,
                "type": "text", "text": {"body": r.text or "", "preview_url": r.preview_url}}  # fmt: skip

    # ------------------------------------------------------------------------------ templates

    async def create_template(
        self, account_id: int, name: str, language: str, category: str, components: list[dict[str, Any]]
    ) -> asyncpg.Record:
        async with self._pool.acquire() as conn:
            number = await self._number(conn, account_id, None)
            waba = number["waba_id"]
            try:
                row = await conn.fetchrow(
                    "INSERT INTO whatsapp_templates (account_id, waba_id, name, language, category,"
                    " components) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    account_id, waba, name, language, category, json.dumps(components),
                )  # fmt: skip
            except asyncpg.UniqueViolationError:
                row = None
            if row is None:
                raise WhatsAppRefused(409, "CONFLICT", f"a template {name!r} in {language!r} exists already",
                                      {"field": "name"})  # fmt: skip
            try:
                submitted = await self.api.create_template(waba, name, language, category, components)
            except CloudApiError as exc:
                await conn.execute("DELETE FROM whatsapp_templates WHERE id = $1", row["id"])
                if exc.transient or exc.rate_limited or exc.auth:
                    raise WhatsAppRefused(503, "SERVICE_UNAVAILABLE", f"Meta: {exc.message}") from None
                raise WhatsAppRefused(400, "VALIDATION_ERROR", f"Meta refused the template: {exc.message}",
                                      {"meta_code": exc.code}) from None  # fmt: skip
            status = (
                submitted.status if submitted.status in ("PENDING", "APPROVED", "REJECTED") else "PENDING"
            )
            # A status webhook may have come before this answer (matched by name): keep the later word.
            updated = await conn.fetchrow(
                "UPDATE whatsapp_templates SET meta_id = $2, status = CASE WHEN status = 'PENDING' THEN $3"
                " ELSE status END, updated_at = now() WHERE id = $1 RETURNING *",
                row["id"], submitted.id, status,
            )  # fmt: skip
            assert updated is not None
            return updated

    async def edit_template(
        self, account_id: int, template_id: int, components: list[dict[str, Any]], category: str | None
    ) -> asyncpg.Record | None:
        """Edit one template (its components, its category) at Meta and here; it is PENDING again until
        Meta's review webhook says otherwise. None: no such template of the account."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM whatsapp_templates WHERE id = $1 AND account_id = $2", template_id, account_id
            )
            if row is None:
                return None
            if not row["meta_id"]:
                raise WhatsAppRefused(409, "CONFLICT", "the template is not at Meta yet")
            try:
                await self.api.edit_template(row["meta_id"], components, category)
            except CloudApiError as exc:
                if exc.transient or exc.rate_limited or exc.auth:
                    raise WhatsAppRefused(503, "SERVICE_UNAVAILABLE", f"Meta: {exc.message}") from None
                raise WhatsAppRefused(400, "VALIDATION_ERROR", f"Meta refused the edit: {exc.message}",
                                      {"meta_code": exc.code}) from None  # fmt: skip
            updated: asyncpg.Record | None = await conn.fetchrow(
                "UPDATE whatsapp_templates SET components = $2, category = coalesce($3, category),"
                " status = 'PENDING', reason = '', updated_at = now() WHERE id = $1 RETURNING *",
                template_id, json.dumps(components), category,
            )  # fmt: skip
            return updated

    async def request_code(self, account_id: int, number: str, code_method: str, language: str) -> bool:
        """Ask Meta for the verification code of a connected number (by phone_number_id or our row id);
        False: no such number of the account."""
        phone_number_id = await self._pool.fetchval(
            "SELECT phone_number_id FROM whatsapp_accounts WHERE account_id = $1"
            " AND (phone_number_id = $2 OR id::text = $2) ORDER BY phone_number_id = $2 DESC LIMIT 1",
            account_id, number,
        )  # fmt: skip
        if phone_number_id is None:
            return False
        try:
            await self.api.request_code(phone_number_id, code_method, language)
        except CloudApiError as exc:
            if exc.transient or exc.rate_limited or exc.auth:
                raise WhatsAppRefused(503, "SERVICE_UNAVAILABLE", f"Meta: {exc.message}") from None
            raise WhatsAppRefused(400, "VALIDATION_ERROR", f"Meta refused: {exc.message}",
                                  {"meta_code": exc.code}) from None  # fmt: skip
        return True

    async def delete_template(self, account_id: int, name: str) -> int:
        async with self._pool.acquire() as conn:
            waba = await conn.fetchval(
                "SELECT waba_id FROM whatsapp_templates WHERE account_id = $1 AND name = $2 LIMIT 1",
                account_id, name,
            )  # fmt: skip
            if waba is None:
                return 0
            try:
                await self.api.delete_template(waba, name)
            except CloudApiError as exc:
                if exc.status != 404:  # gone at Meta already: delete ours too
                    raise WhatsAppRefused(503, "SERVICE_UNAVAILABLE", f"Meta: {exc.message}") from None
            status: str = await conn.execute(
                "DELETE FROM whatsapp_templates WHERE account_id = $1 AND name = $2", account_id, name
            )
            return int(status.split()[-1])


async def connect_number(
    pool: Any,
    account_id: int,
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    verified_name: str = "",
) -> None:
    """Connect a business number to an account (the operator's provisioning; idempotent)."""
    await pool.execute(
        "INSERT INTO whatsapp_accounts (account_id, waba_id, phone_number_id, display_phone_number,"
        " verified_name) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (phone_number_id) DO UPDATE SET"
        " account_id = EXCLUDED.account_id, waba_id = EXCLUDED.waba_id,"
        " display_phone_number = EXCLUDED.display_phone_number, verified_name = EXCLUDED.verified_name",
        account_id, waba_id, phone_number_id, display_phone_number, verified_name,
    )  # fmt: skip
