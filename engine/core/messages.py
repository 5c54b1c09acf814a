"""The SMS kind's schema for the accept path: a prepared message's row, its hold, its dispatch job.

`SMS` is the `JobSchema` (engine/core/job_schema.py) of `PreparedMessage`: one row of `messages` with its
parts inline (engine/core/parts.py) and its money held in the batch, then an `SmsJob` for dispatch. A
sandbox message is final (delivered) at once, never charged and never sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from billing.items import ItemHold
from engine.core.intake import PreparedMessage
from engine.core.parts import encode_parts
from engine.core.status import MoneyState, Status
from engine.dispatch.sms import KIND, SmsJob

MESSAGE_COLUMNS = (
    "id", "account_id", "channel", "system_id", "source", "source_ton", "source_npi", "destination",
    "data_coding", "encoding", "segments", "registered_delivery", "status", "route", "route_costs",
    "price", "cost", "currency", "country", "client_ref", "batch_id", "campaign_id", "scheduled_at",
    "expires_at", "created_at", "updated_at", "final_at", "parts", "amount", "money", "reserve_batch",
)  # fmt: skip


_NONE, _RESERVED = MoneyState.NONE.value, MoneyState.RESERVED.value  # plain str: no Enum lookups per row
_DELIVERED, _SCHEDULED, _QUEUED = Status.DELIVERED.value, Status.SCHEDULED.value, Status.QUEUED.value


def initial_status(m: PreparedMessage, now: datetime) -> str:
    r = m.request
    if r.sandbox:  # final at once: delivered, so recovery and dispatch never look at it again
        return _DELIVERED
    if r.scheduled_at is not None and r.scheduled_at > now:
        return _SCHEDULED
    return _QUEUED


class SmsSchema:
    kind: str = KIND
    table: str = "messages"
    columns: Sequence[str] = MESSAGE_COLUMNS

    def item_id(self, item: PreparedMessage) -> int:
        return item.id

    def row(self, item: PreparedMessage, now: datetime, batch: int) -> tuple[object, ...]:
        m, r = item, item.request
        status = initial_status(m, now)
        sandbox = r.sandbox
        return (
            m.id, r.account_id, r.channel, r.system_id, r.source, r.source_ton, r.source_npi, m.destination,
            m.data_coding, m.encoding, m.segments, r.registered_delivery, status, m.route, m.route_costs,
            m.price, 0, m.currency, m.country, r.client_ref, r.batch_id, r.campaign_id, r.scheduled_at,
            r.expires_at, now, now, now if sandbox else None, encode_parts(m.parts),
            0 if sandbox else m.amount, _NONE if sandbox else _RESERVED, None if sandbox else batch,
        )  # fmt: skip

    def hold(self, item: PreparedMessage) -> ItemHold | None:
        if item.request.sandbox:
            return None
        return ItemHold(item.request.account_id, item.amount, item.segments, item.country, item.route[0])

    def job(self, item: PreparedMessage) -> SmsJob | None:
        if item.request.sandbox:
            return None
        m, r = item, item.request
        return SmsJob(
            id=m.id,
            kind=KIND,
            account_id=r.account_id,
            lane=m.destination,
            route=m.route,
            not_before=r.scheduled_at.timestamp() if r.scheduled_at is not None else None,
            expires_at=r.expires_at.timestamp() if r.expires_at is not None else None,
            # a scheduled message goes out of id order: it is marked on its own row, not by the watermark
            needs_mark=r.scheduled_at is not None,
            source=r.source,
            source_ton=r.source_ton,
            source_npi=r.source_npi,
            destination=m.destination,
            segments=m.segments,
            route_costs=m.route_costs,
            parts=m.parts,
        )


SMS = SmsSchema()
