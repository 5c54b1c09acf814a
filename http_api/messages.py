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

from billing.money import format_amount
from engine.core.ids import format_id
from engine.core.intake import PreparedMessage, SubmitRequest
from http_api.errors import ApiError
from http_api.schemas import Event, Money, Receipt, SmsDetail

MAX_SCHEDULE_AHEAD = timedelta(days=30)
UCS2_DATA_CODING = 0x08
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


def money(micro: int, currency: str) -> Money:
    return Money(micro, format_amount(micro, 2), currency)


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
    """(scheduled_at, expires_at); refuses a schedule more than 30 days ahead. A past time means now."""
    current = datetime.fromtimestamp(now, UTC)
    if scheduled_at is not None:
        if scheduled_at - current > MAX_SCHEDULE_AHEAD:
            raise ApiError(
                400, "VALIDATION_ERROR", "scheduled_at is more than 30 days ahead", {"field": "scheduled_at"}
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


def message_detail(row: Any, events: list[Event], receipts: list[Receipt]) -> SmsDetail:
    sandbox_free = row["money"] == "none"  # never charged
    return SmsDetail(
        id=format_id(row["id"]),
        status=row["status"],
        to="+" + row["destination"],
        from_=row["source"],
        segments=row["segments"],
        encoding=row["encoding"],
        cost=money(0 if sandbox_free else row["price"] * row["segments"], row["currency"].strip()),
        client_ref=row["client_ref"],
        batch_id=row["batch_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        scheduled_at=row["scheduled_at"],
        expires_at=row["expires_at"],
        final_at=row["final_at"],
        error_code=row["error_code"],
        reason=row["reason"],
        events=events,
        receipts=receipts,
    )
