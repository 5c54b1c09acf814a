"""From a JSON body to the engine's `SubmitRequest`, and from a stored message back to JSON.

Send, bulk and preview all build their requests here and all go through `engine.core.intake.prepare` (the
one accept path shared with SMPP): validation, encoding, segmentation, routing and price are never
re-implemented in the HTTP layer. Templates: `{{name}}` placeholders (spaces allowed inside the braces)
are replaced by the request's `variables`; a placeholder without a value refuses the message.

This module must never commit anything: sending is the acceptor's (engine.core.accept).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from billing.money import MICRO_PER_UNIT, to_minor
from engine.core.ids import format_id, parse_id
from engine.core.intake import PreparedMessage, SubmitRequest
from http_api.errors import ApiError
from http_api.schemas import DocStatus, Event, MessageOut, Money, Receipt, SmsDetail

MAX_SCHEDULE_AHEAD = timedelta(days=30)
UCS2_DATA_CODING = 0x08
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
SANDBOX_PREFIX = "sandbox-msg-"  # the document's sandbox ids: "sandbox-msg-a1b2c3d4"

# The document's five statuses for the engine's nine; filters take either vocabulary.
DOC_STATUS: dict[str, DocStatus] = {
    "queued": "queued", "scheduled": "queued", "sending": "queued", "submitted": "sent",
    "delivered": "delivered", "undeliverable": "failed", "rejected": "failed", "failed": "failed",
    "expired": "expired",
}  # fmt: skip
ENGINE_STATUSES = {
    "queued": ("queued", "scheduled", "sending"),
    "sent": ("submitted",),
    "failed": ("failed", "undeliverable", "rejected"),
}


def engine_statuses(status: str) -> list[str]:
    """The engine statuses a status filter (either vocabulary) matches."""
    return list(ENGINE_STATUSES.get(status, (status,)))


def money(micro: int, currency: str, *, round_up: bool = True) -> Money:
    """Micro-units as the document shows money: integer minor units (charges round up, balances down)."""
    return Money(to_minor(micro, currency, round_up=round_up), currency)


def units(micro: int) -> float:
    """Micro-units as a number of units (the curl example's `cost`: 0.035)."""
    return micro / MICRO_PER_UNIT


def public_id(message_id: int, sandbox: bool) -> str:
    return (SANDBOX_PREFIX if sandbox else "") + format_id(message_id)


def parse_public_id(text: str) -> int | None:
    return parse_id(text.removeprefix(SANDBOX_PREFIX))


class Template:
    """A body cut once at its placeholders, rendered per recipient without re-scanning the text."""

    __slots__ = ("_literals", "_names")

    def __init__(self, body: str) -> None:
        pieces = _PLACEHOLDER.split(body)
        self._literals = pieces[0::2]
        self._names = pieces[1::2]

    def render(self, variables: Mapping[str, Any]) -> str:
        if not self._names:
            return self._literals[0]
        out = [self._literals[0]]
        for name, literal in zip(self._names, self._literals[1:], strict=True):
            value = variables.get(name)
            if value is None:
                message = f"no value for the placeholder {{{{{name}}}}}"
                raise ApiError(400, "VALIDATION_ERROR", message, {"variable": name})
            out.append(str(value))
            out.append(literal)
        return "".join(out)


def schedule_window(
    scheduled_at: datetime | None, validity_minutes: int, now: float
) -> tuple[datetime | None, datetime]:
    """(scheduled_at, expires_at); refuses a schedule more than 30 days ahead. A past time means now.

    The refusal is a 422, not a 400: the request is well formed (any date-time is one, and the schema can
    say no more), it asks for what the service does not do (hold a message longer than 30 days)."""
    current = datetime.fromtimestamp(now, UTC)
    if scheduled_at is not None:
        if scheduled_at - current > MAX_SCHEDULE_AHEAD:
            raise ApiError(
                422,
                "VALIDATION_ERROR",
                "scheduled_at is more than 30 days ahead",
                {"field": "scheduled_at", "max_days_ahead": 30},
            )
        if scheduled_at <= current:
            scheduled_at = None
    start = scheduled_at or current
    return scheduled_at, start + timedelta(minutes=validity_minutes)


def submit_request(
    *,
    account_id: int,
    to: str,
    source: str,
    text: str,
    unicode: bool,
    client_ref: str,
    scheduled_at: datetime | None,
    expires_at: datetime,
    sandbox: bool,
    batch_id: str = "",
) -> SubmitRequest:
    return SubmitRequest(
        account_id=account_id,
        channel="http",
        source=source,
        destination=to,
        text=text,
        data_coding=UCS2_DATA_CODING if unicode else None,
        client_ref=client_ref,
        batch_id=batch_id,
        scheduled_at=scheduled_at,
        expires_at=expires_at,
        sandbox=sandbox,
    )


def now() -> float:
    return time.time()


def charged(m: PreparedMessage) -> int:
    """What the customer pays for this message: nothing in the sandbox."""
    return 0 if m.request.sandbox else m.amount


def message_out(row: Any, sandbox: bool) -> MessageOut:
    """A `messages` row (with its columns of routes_sms._COLUMNS) as the API shows it."""
    cost = 0 if sandbox else row["price"] * row["segments"]
    mid = public_id(row["id"], sandbox)
    campaign = row["campaign_id"]
    return MessageOut(
        message_id=mid, id=mid, status=DOC_STATUS.get(row["status"], "queued"), status_detail=row["status"],
        to="+" + row["destination"], from_=row["source"], segments=row["segments"], encoding=row["encoding"],
        cost_micros=cost, cost=units(cost), currency=row["currency"].strip(), client_ref=row["client_ref"],
        batch_id=row["batch_id"], campaign_id=None if campaign is None else str(campaign), sandbox=sandbox,
        created_at=row["created_at"], scheduled_at=row["scheduled_at"], final_at=row["final_at"],
        error_code=row["error_code"], reason=row["reason"],
    )  # fmt: skip


def message_detail(row: Any, events: list[Event], receipts: list[Receipt]) -> SmsDetail:
    sandbox = row["money"] == "none"  # never charged
    out = message_out(row, sandbox)
    return SmsDetail(
        **{f: getattr(out, f) for f in out.__struct_fields__},
        updated_at=row["updated_at"], expires_at=row["expires_at"], events=events, receipts=receipts,
    )  # fmt: skip
