"""The JSON shapes of the SMS endpoints (send, bulk, preview, message status), as msgspec Structs.

Requests are decoded with `forbid_unknown_fields`, so a misspelt field is a 400, never silently ignored.
The same Structs generate the OpenAPI components (openapi.py), so every format a request must have is
stated there (E.164 numbers, sender IDs, lengths). Money follows the BulkSMSRates document: integer minor
units (pence, cents) wherever it shows money, micro-units only where it names them (`cost_micros`), and
the curl example's `cost` as a number of units. This module must never do I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from http_api.envelopes import Cursor, PageSize
from http_api.errors import Meta as RequestMeta
from http_api.phone_pattern import E164_POSSIBLE

MAX_BULK = 10_000
MAX_VALIDITY_MINUTES = 10_080  # 7 days
DEFAULT_VALIDITY_MINUTES = 2_880  # 48 h, as the reference API
# 255 segments of UCS-2 hold 17,085 UTF-16 units: 8,000 characters fit whatever they are (an emoji is 2).
MAX_BODY_CHARACTERS = 8_000
# E.164: '+', a country code that exists, and a national number of a length its plan allows.
Phone = Annotated[str, Meta(pattern=E164_POSSIBLE, description="E.164, e.g. +447700900123")]
Sender = Annotated[
    str,
    Meta(
        pattern=r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$|^\+?[0-9]{1,15}$",
        description="up to 11 letters, digits and spaces (one letter at least), or up to 15 digits",
    ),
]
Body = Annotated[
    str, Meta(min_length=1, max_length=MAX_BODY_CHARACTERS, description="text; {{name}} placeholders")
]
ClientRef = Annotated[str, Meta(max_length=64)]
VariableName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
Variables = dict[VariableName, str | int | float]
Validity = Annotated[int, Meta(ge=1, le=MAX_VALIDITY_MINUTES)]
Schedule = Annotated[datetime, Meta(tz=True, description="ISO 8601 with offset; at most 30 days ahead (422)")]
CampaignSchedule = Annotated[
    datetime, Meta(tz=True, description="ISO 8601 with offset; in the past: at once")
]
TemplateId = Annotated[int, Meta(ge=1, le=2**63 - 1)]
# The document's statuses; the engine's finer ones are in `status_detail` (see messages.doc_status).
DocStatus = Literal["queued", "sent", "delivered", "failed", "expired"]
EngineStatus = Literal[
    "queued",
    "scheduled",
    "sending",
    "submitted",
    "delivered",
    "undeliverable",
    "expired",
    "rejected",
    "failed",
]
StatusFilter = Literal[
    "queued",
    "sent",
    "delivered",
    "failed",
    "expired",
    "scheduled",
    "sending",
    "submitted",
    "undeliverable",
    "rejected",
]


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies."""


class Money(msgspec.Struct, frozen=True):
    """An amount in integer minor units (350 = 3.50) of `currency`."""

    amount: int
    currency: str


def one_of_fields(*spec: tuple[str, dict[str, object]]) -> dict[str, object]:
    """A JSON schema saying exactly one of these fields is given, with a value (not null)."""
    return {"oneOf": [{"required": [name], "properties": {name: schema}} for name, schema in spec]}


def any_of_fields(*names: str) -> dict[str, object]:
    """A JSON schema saying at least one of these fields is given, with a value (not null)."""
    return {"anyOf": [{"required": [n], "properties": {n: {"not": {"type": "null"}}}} for n in names]}


class SendSms(Request, frozen=True):
    json_schema_extra: ClassVar[dict[str, object]] = one_of_fields(
        ("body", {"type": "string"}), ("template_id", {"type": "integer"})
    )

    to: Phone
    from_: Sender = msgspec.field(name="from")
    body: Body | None = None  # the text, or:
    template_id: TemplateId | None = None  # a saved template's body
    variables: Variables = msgspec.field(default_factory=dict)
    client_ref: ClientRef = ""
    scheduled_at: Schedule | None = None
    validity_minutes: Validity = DEFAULT_VALIDITY_MINUTES
    unicode: bool = False  # force UCS-2


class SandboxSendSms(Request, frozen=True):
    """The field names of the document's sandbox example: destination, message, sender_id."""

    destination: Phone
    message: Body
    sender_id: Sender
    client_ref: ClientRef = ""


class MessageOut(msgspec.Struct, frozen=True):
    """A message as the API shows it (`data` of a send, an item of GET /v1/sms and of the reports)."""

    message_id: str
    id: str
    status: DocStatus
    status_detail: EngineStatus
    to: str
    from_: str = msgspec.field(name="from")
    segments: int
    encoding: str
    cost_micros: int  # what it is charged, in micro-units (1,000,000 per unit of currency)
    cost: float  # the same in units of currency (0.035), as the document's curl example
    currency: str
    client_ref: str
    batch_id: str
    campaign_id: str | None
    sandbox: bool
    created_at: datetime
    scheduled_at: datetime | None
    final_at: datetime | None
    error_code: int | None
    reason: str


class SentSms(msgspec.Struct, frozen=True):
    """202 once durably stored: the curl example's fields at the top, the SDKs' `data.message_id` inside."""

    id: str
    messageId: str
    status: DocStatus
    segments: int
    cost_micros: int
    cost: float
    sandbox: bool
    data: MessageOut
    meta: RequestMeta


class Event(msgspec.Struct, frozen=True):
    at: datetime
    status: str
    reason: str
    error_code: int | None


class Receipt(msgspec.Struct, frozen=True):
    """A carrier's delivery receipt (DLR) for one part of the message."""

    part: int
    carrier_message_id: str | None
    status: str
    carrier_status: str  # the receipt's stat: DELIVRD, UNDELIV, EXPIRED ...
    err: str
    received_at: datetime | None


class SmsDetail(MessageOut, frozen=True):
    """GET /v1/sms/{message_id}: the message, its events and its DLRs."""

    updated_at: datetime
    expires_at: datetime | None
    events: list[Event]
    receipts: list[Receipt]


class SmsListQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    status: StatusFilter | None = None
    to: Phone | None = None
    client_ref: ClientRef | None = None
    created_after: Annotated[datetime, Meta(tz=True)] | None = None
    created_before: Annotated[datetime, Meta(tz=True)] | None = None
    page_size: PageSize = 50
    cursor: Cursor | None = None


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
    price_per_segment_micros: int
    cost_micros: int
    cost: float
    currency: str


class BulkRecipient(Request, frozen=True):
    to: Phone
    variables: Variables = msgspec.field(default_factory=dict)
    client_ref: ClientRef = ""  # this recipient's own reference (echoed in its DLR)


class BulkSend(Request, frozen=True):
    recipients: Annotated[list[BulkRecipient], Meta(min_length=1, max_length=MAX_BULK)]
    from_: Sender = msgspec.field(name="from")
    body: Body
    client_ref: ClientRef = ""  # the batch's reference; a recipient without its own gets this one
    scheduled_at: Schedule | None = None
    validity_minutes: Validity = DEFAULT_VALIDITY_MINUTES
    unicode: bool = False


class BulkAccepted(msgspec.Struct, frozen=True):
    index: int
    message_id: str
    to: str
    segments: int


class BulkRejected(msgspec.Struct, frozen=True):
    index: int
    to: str
    code: str
    reason: str


class BulkSummary(msgspec.Struct, frozen=True):
    """The batch: counts as the document shows them, then each recipient under names of its own."""

    batch_id: str
    accepted: int
    rejected: int
    cost_estimate: int  # minor units (pence, cents), rounded up
    currency: str
    client_ref: str
    sandbox: bool
    messages: list[BulkAccepted]  # one per accepted recipient, by its index in `recipients`
    errors: list[BulkRejected]  # one per refused recipient


class BulkResult(msgspec.Struct, frozen=True):
    """202 all accepted, 207 some refused, 422 none accepted: the same shape each time."""

    data: BulkSummary
    meta: RequestMeta
