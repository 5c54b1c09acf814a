"""POST /v1/sms/retry-failed: seed 003's retry-failed contract for SMS (beyond the documents).

    {"message_ids": [..], "batch_id": "...", "carrier": "...", "country": "GB",
     "failed_after": "...", "failed_before": "...", "max_attempts": 3}       at least one, else 400 NO_FILTER

Every failed message of the caller's account matching the filters (status failed, undeliverable or
expired — never `rejected`: that was a refusal, the same request would be refused again; `updated_at`
for the time filters, as PostEverywhere's) is submitted again, now, as a new message with the same
destination, sender, text, client_ref and batch: through the same intake, routing, pricing and group
commit as any send (its attempts start at 0). Each failure is retried once: `sms_retries` holds the
original's id before the new message is submitted. The answer, in this surface's envelope:

    {"data": {"retried_count", "messages": [{"message_id", "retry_message_id", "destination",
              "new_status"}], "errors": [{"message_id", "code", "message"}], "message"}, "meta"}

(bulk's partial-success semantics: 200 when every match was resubmitted, 207 when some were refused.)
This module must never write a message row itself.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from engine.core.intake import PreparedMessage
from engine.core.parts import decode_parts
from engine.core.rejections import Rejected
from http_api.envelopes import One, one
from http_api.errors import ApiError
from http_api.messages import now, parse_public_id, public_id, schedule_window, submit_request
from http_api.operations import Call, Operation, Reply
from http_api.routes_sms import admit
from http_api.schemas import Request, any_of_fields
from smpp.text.inbound import decode_short_message

MAX_IDS = 200
_UCS2 = 8
_VALIDITY_MINUTES = 24 * 60


Stamp = Annotated[datetime, Meta(tz=True, description="ISO 8601 with offset")]


class RetryFailedSms(Request, frozen=True):
    json_schema_extra: ClassVar[dict[str, object]] = any_of_fields(
        "message_ids", "batch_id", "carrier", "country", "failed_after", "failed_before", "max_attempts"
    )

    message_ids: (
        Annotated[list[Annotated[str, Meta(min_length=1, max_length=40)]], Meta(max_length=MAX_IDS)] | None
    ) = None
    batch_id: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")] | None = None
    carrier: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[^\x00]*$")] | None = None
    country: Annotated[str, Meta(pattern=r"^[A-Z]{2}$")] | None = None
    failed_after: Stamp | None = None
    failed_before: Stamp | None = None
    max_attempts: Annotated[int, Meta(ge=0, le=1000)] | None = None


class RetriedSms(msgspec.Struct, frozen=True):
    message_id: str
    retry_message_id: str
    destination: str
    new_status: str


class RetryRefused(msgspec.Struct, frozen=True):
    message_id: str
    code: str
    message: str


class SmsRetryResult(msgspec.Struct, frozen=True):
    retried_count: int
    messages: list[RetriedSms]
    errors: list[RetryRefused]
    message: str


_FAILED = """
SELECT m.id, m.source, m.destination, m.client_ref, m.batch_id, m.parts FROM messages m
WHERE m.account_id = $1 AND m.status IN ('failed', 'undeliverable', 'expired') AND m.channel = 'http'
  AND m.parts IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM sms_retries r WHERE r.original_id = m.id)
  AND ($2::bigint[] IS NULL OR m.id = ANY($2))
  AND ($3::text IS NULL OR m.batch_id = $3)
  AND ($4::text IS NULL OR m.carrier = $4)
  AND ($5::text IS NULL OR m.country = $5)
  AND ($6::timestamptz IS NULL OR m.updated_at >= $6)
  AND ($7::timestamptz IS NULL OR m.updated_at <= $7)
  AND ($8::int IS NULL OR m.attempts < $8)
ORDER BY m.id LIMIT 10000
"""


def text_of(parts_blob: bytes) -> tuple[str, int | None]:
    """The message's text from its stored parts, and the data_coding to send it with again."""
    parts = decode_parts(parts_blob)
    texts = []
    for part in parts:
        decoded = decode_short_message(part.short_message, part.data_coding, udhi=bool(part.esm_class & 0x40))
        texts.append(decoded.text or "")
    return "".join(texts), (_UCS2 if parts and parts[0].data_coding == _UCS2 else None)


async def retry_failed_sms(call: Call) -> Reply:
    f = call.body_as(RetryFailedSms)
    given = [f.message_ids, f.batch_id, f.carrier, f.country, f.failed_after, f.failed_before, f.max_attempts]
    if all(v is None for v in given):
        raise ApiError(
            400, "NO_FILTER", "give at least one filter: retrying the whole failure history is refused"
        )
    admit(call.ctx)
    ids = None
    if f.message_ids is not None:
        ids = [i for i in (parse_public_id(m) for m in f.message_ids) if i is not None]
    engine, pool = call.ctx.engine, call.ctx.pool
    rows = await pool.fetch(
        _FAILED, call.account_id, ids, f.batch_id, f.carrier, f.country, f.failed_after, f.failed_before,
        f.max_attempts,
    )  # fmt: skip
    at = now()
    scheduled, expires = schedule_window(None, _VALIDITY_MINUTES, at)
    sandbox = call.principal.sandbox
    retried: list[RetriedSms] = []
    refused: list[RetryRefused] = []
    ready: list[tuple[int, PreparedMessage]] = []
    for row in rows:
        text, data_coding = text_of(row["parts"])
        request = submit_request(
            account_id=call.account_id, to="+" + row["destination"].lstrip("+"), source=row["source"],
            text=text, unicode=data_coding == _UCS2, client_ref=row["client_ref"], scheduled_at=scheduled,
            expires_at=expires, sandbox=sandbox, batch_id=row["batch_id"],
        )  # fmt: skip
        try:
            ready.append((row["id"], engine.intake.prepare(request, at)))
        except Rejected as exc:
            refused.append(RetryRefused(public_id(row["id"], False), exc.reject.api_code, exc.reason))
    # Claimed all at once: what a concurrent retry-failed took already is left to it.
    claimed = {
        r["original_id"]
        for r in await pool.fetch(
            "INSERT INTO sms_retries (original_id, account_id, retry_id)"
            " SELECT o, $1, n FROM unnest($2::bigint[], $3::bigint[]) AS t(o, n)"
            " ON CONFLICT DO NOTHING RETURNING original_id",
            call.account_id,
            [o for o, _ in ready],
            [p.id for _, p in ready],
        )
    }
    ready = [(o, p) for o, p in ready if o in claimed]
    # One wait for all, as bulk does: the group committer stores them in a few transactions.
    outcomes = await asyncio.gather(*(engine.acceptor.submit(p) for _, p in ready), return_exceptions=True)
    unclaim: list[int] = []
    for (original_id, prepared), outcome in zip(ready, outcomes, strict=True):
        original = public_id(original_id, False)
        if outcome is None:
            retried.append(
                RetriedSms(original, public_id(prepared.id, sandbox), "+" + prepared.destination, "queued")
            )
            continue
        unclaim.append(original_id)
        if isinstance(outcome, Rejected):
            refused.append(RetryRefused(original, outcome.reject.api_code, outcome.reason))
        else:
            refused.append(RetryRefused(original, "SERVICE_UNAVAILABLE", f"not stored: {outcome!r}"))
    if unclaim:
        await pool.execute("DELETE FROM sms_retries WHERE original_id = ANY($1::bigint[])", unclaim)
    n = len(retried)
    result = SmsRetryResult(n, retried, refused, f"{n} message{'s' if n != 1 else ''} queued for retry.")
    return one(call, result, 207 if refused and retried else 200)


OPERATIONS = [
    Operation("POST", "/v1/sms/retry-failed", retry_failed_sms,
              "Retry every failed message matching a filter", "sms.send", "SMS", body=RetryFailedSms,
              responses={200: One[SmsRetryResult], 207: One[SmsRetryResult]},
              description="Beyond the documents: PostEverywhere's retry-failed for SMS. At least one filter "
                          "(else 400 NO_FILTER); each failed message is resubmitted once, as a new message."),
]  # fmt: skip
