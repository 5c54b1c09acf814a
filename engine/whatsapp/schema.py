"""The WhatsApp kind's schema for the accept path: a prepared message's row, its hold, its dispatch job.

`WHATSAPP` is the `JobSchema` (engine/core/job_schema.py) of `PreparedWhatsApp`: one `whatsapp_messages`
row written by the same group commit as SMS (engine/core/accept.py), its price held in the same ledger call
(ledger group: the recipient's country and the pseudo-carrier "whatsapp"), then a `WhatsAppJob` for the
dispatch loop. A sandbox message is final (delivered) at once, never charged and never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from billing.items import ItemHold
from engine.core.status import MoneyState, Status
from engine.dispatch.whatsapp import KIND, TARGET, WhatsAppJob

LEDGER_CARRIER = "whatsapp"  # the carrier dimension of WhatsApp postings and usage

COLUMNS = (
    "id", "account_id", "phone_number_id", "destination", "type", "template_name", "template_language",
    "category", "payload", "status", "client_ref", "created_at", "updated_at", "final_at", "delivered_at",
    "currency", "country", "amount", "money", "reserve_batch",
)  # fmt: skip


class PreparedWhatsApp(msgspec.Struct, kw_only=True):
    """A WhatsApp message checked and priced, ready for the group commit."""

    id: int
    account_id: int
    phone_number_id: str
    destination: str  # E.164 digits, no '+'
    type: str  # template | text
    category: str  # MARKETING | UTILITY | AUTHENTICATION | SERVICE
    payload: bytes  # the Graph API request body
    amount: int  # micro-units
    currency: str
    country: str
    template_name: str | None = None
    template_language: str | None = None
    client_ref: str | None = None
    sandbox: bool = False


class WhatsAppSchema:
    kind: str = KIND
    table: str = "whatsapp_messages"
    columns: Sequence[str] = COLUMNS

    def item_id(self, item: PreparedWhatsApp) -> int:
        return item.id

    def row(self, item: PreparedWhatsApp, now: datetime, batch: int) -> tuple[object, ...]:
        m = item
        sandbox = m.sandbox
        return (
            m.id, m.account_id, m.phone_number_id, m.destination, m.type, m.template_name,
            m.template_language, m.category, m.payload.decode(),
            (Status.DELIVERED if sandbox else Status.QUEUED).value, m.client_ref, now, now,
            now if sandbox else None, now if sandbox else None, m.currency, m.country,
            0 if sandbox else m.amount, (MoneyState.NONE if sandbox else MoneyState.RESERVED).value,
            None if sandbox else batch,
        )  # fmt: skip

    def hold(self, item: PreparedWhatsApp) -> ItemHold | None:
        if item.sandbox:
            return None
        return ItemHold(item.account_id, item.amount, 1, item.country, LEDGER_CARRIER)

    def job(self, item: PreparedWhatsApp) -> WhatsAppJob | None:
        if item.sandbox:
            return None
        return WhatsAppJob(
            id=item.id,
            kind=KIND,
            account_id=item.account_id,
            lane=f"{item.phone_number_id}:{item.destination}",
            route=(TARGET,),
            phone_number_id=item.phone_number_id,
            destination=item.destination,
            payload=item.payload,
        )


WHATSAPP = WhatsAppSchema()
