"""The JSON shapes of the SMS endpoints (send, bulk, preview, message status), as msgspec Structs.

Requests are decoded with `forbid_unknown_fields`, so a misspelt field is a 400, never silently ignored.
The same Structs generate the OpenAPI components (openapi.py). Money is always integer micro-units plus
the same amount as a decimal string, never a float. This module must never do I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

MAX_BULK = 10_000
MAX_VALIDITY_MINUTES = 10_080  # 7 days
DEFAULT_VALIDITY_MINUTES = 2_880  # 48 h, as the reference API

Phone = Annotated[str, Meta(min_length=1, max_length=32, description="E.164 number, e.g. +447700900123")]
Sender = Annotated[str, Meta(min_length=1, max_length=16, description="up to 11 alphanumerics, or a number")]
Body = Annotated[str, Meta(min_length=1, max_length=50_000, description="text; {{name}} placeholders")]
ClientRef = Annotated[str, Meta(max_length=64)]
Variables = dict[Annotated[str, Meta(min_length=1, max_length=64)], str | int | float]
Validity = Annotated[int, Meta(ge=1, le=MAX_VALIDITY_MINUTES)]
Schedule = Annotated[datetime, Meta(tz=True, description="ISO 8601 with offset; at most 30 days ahead")]
MessageStatus = Literal[
    "queued", "sending", "submitted", "delivered", "undeliverable", "expired", "rejected", "failed"
]


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies."""


class Money(msgspec.Struct, frozen=True):
    micro: int  # integer micro-units (1 unit = 1,000,000)
    amount: str  # the same, as a decimal string ("0.005")
    currency: str


class SendSms(Request, frozen=True):
    to: Phone
    from_: Sender = msgspec.field(name="from")
    body: Body | None = None  # the text, or:
    template_id: Annotated[int, Meta(ge=1, le=2**63 - 1)] | None = None  # a saved template's body
    variables: Variables = msgspec.field(default_factory=dict)
    client_ref: ClientRef = ""
    scheduled_at: Schedule | None = None
    validity_minutes: Validity = DEFAULT_VALIDITY_MINUTES
    unicode: bool = False  # force UCS-2


class SentSms(msgspec.Struct, frozen=True):
    """A message accepted (durably stored): 202."""

    id: str
    status: MessageStatus
    to: str
    from_: str = msgspec.field(name="from")
    segments: int
    encoding: str
    cost: Money
    client_ref: str
    created_at: datetime
    scheduled_at: datetime | None
    sandbox: bool


class Event(msgspec.Struct, frozen=True):
    at: datetime
    status: str
    reason: str
    error_code: int | None


class Receipt(msgspec.Struct, frozen=True):
    """A carrier's delivery receipt for one part of the message."""

    part: int
    carrier_message_id: str | None
    status: str
    stat: str
    err: str
    received_at: datetime | None


class SmsDetail(msgspec.Struct, frozen=True):
    id: str
    status: MessageStatus
    to: str
    from_: str = msgspec.field(name="from")
    segments: int
    encoding: str
    cost: Money
    client_ref: str
    batch_id: str
    created_at: datetime
    updated_at: datetime
    scheduled_at: datetime | None
    expires_at: datetime | None
    final_at: datetime | None
    error_code: int | None
    reason: str
    events: list[Event] = msgspec.field(default_factory=list)
    receipts: list[Receipt] = msgspec.field(default_factory=list)


class Pagination(msgspec.Struct, frozen=True):
    page_size: int
    has_more: bool
    next_cursor: str | None  # pass back as `cursor` for the next page


class SmsList(msgspec.Struct, frozen=True):
    data: list[SmsDetail]
    pagination: Pagination


class SmsListQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    status: MessageStatus | None = None
    to: Annotated[str, Meta(max_length=32)] | None = None
    client_ref: ClientRef | None = None
    created_after: Annotated[datetime, Meta(tz=True)] | None = None
    created_before: Annotated[datetime, Meta(tz=True)] | None = None
    page_size: Annotated[int, Meta(ge=1, le=500)] = 50
    cursor: Annotated[str, Meta(max_length=200)] | None = None


class ForcedChar(msgspec.Struct, frozen=True):
    position: int  # index of the code point in the text as sent to us
    character: str
    code_point: str


class PreviewSegment(msgspec.Struct, frozen=True):
    text: str
    length: int  # septets (GSM-7, escapes count 2) or UTF-16 code units (UCS-2)
    octets: int  # user data octets on the air, UDH included


class Preview(msgspec.Struct, frozen=True):
    """What a send would do, without sending or storing anything."""

    to: str
    text: str
    encoding: str
    data_coding: int
    characters: int
    septets: int | None
    ucs2_units: int | None
    segments: int
    single_segment_limit: int
    multi_segment_limit: int
    parts: list[PreviewSegment]
    characters_forcing_ucs2: list[ForcedChar]
    price_per_segment: Money
    cost: Money


class BulkRecipient(Request, frozen=True):
    to: Phone
    variables: Variables = msgspec.field(default_factory=dict)
    client_ref: ClientRef = ""


class BulkSend(Request, frozen=True):
    from_: Sender = msgspec.field(name="from")
    body: Body
    messages: Annotated[list[BulkRecipient], Meta(min_length=1, max_length=MAX_BULK)]
    scheduled_at: Schedule | None = None
    validity_minutes: Validity = DEFAULT_VALIDITY_MINUTES
    unicode: bool = False


class BulkAccepted(msgspec.Struct, frozen=True, array_like=False):
    index: int
    id: str
    to: str
    segments: int


class BulkRejected(msgspec.Struct, frozen=True):
    index: int
    to: str
    code: str
    reason: str


class BulkResult(msgspec.Struct, frozen=True):
    """202 all accepted, 207 some rejected, 422 none accepted."""

    batch_id: str
    accepted: list[BulkAccepted]
    rejected: list[BulkRejected]
    cost: Money
    sandbox: bool
