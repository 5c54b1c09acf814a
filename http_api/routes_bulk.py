"""POST /v1/sms/bulk: up to 10,000 recipients in one request, each judged on its own.

Every recipient goes through the same intake as a single send; the prepared messages are all handed to
the acceptor at once and awaited together, so the group committer stores them in a few large
transactions instead of one round trip each. The answer is the document's
`{"data": {"batch_id", "accepted", "rejected", "cost_estimate", "currency"}}` (counts, cost in minor
units), with each recipient under names of its own (`messages`, `errors`, by index in `recipients`):
202 when all were accepted, 207 when some were refused, 422 when none was. The batch is stored in
`sms_batches` and tracked at GET /v1/campaigns/{batch_id} (routes_campaigns).

This module must never write messages to the database itself, nor await per recipient.
"""

from __future__ import annotations

import asyncio
import uuid

from billing.money import to_minor
from engine.core.intake import PreparedMessage
from engine.core.rejections import Reject, Rejected
from http_api.errors import ApiError, Meta
from http_api.messages import Template, charged, now, public_id, schedule_window, submit_request
from http_api.operations import Call, Operation, Reply
from http_api.routes_sms import admit
from http_api.schemas import BulkAccepted, BulkRejected, BulkResult, BulkSend, BulkSummary

_STORE = """
INSERT INTO sms_batches (id, account_id, client_ref, source, body, accepted, rejected, cost_estimate,
                         currency, sandbox, scheduled_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""


def _failed_commit(exc: BaseException) -> Rejected:
    return Rejected(Reject.SYSTEM_ERROR, f"commit failed: {exc!r}")


async def _account_currency(call: Call) -> str:
    currency = await call.ctx.pool.fetchval("SELECT currency FROM accounts WHERE id = $1", call.account_id)
    return str(currency or "").strip()


async def send_bulk(call: Call) -> Reply:
    body = call.body_as(BulkSend)
    at = now()
    admit(call.ctx)
    engine = call.ctx.engine
    scheduled, expires = schedule_window(body.scheduled_at, body.validity_minutes, at)
    template = Template(body.body)
    batch_id = str(uuid.uuid4())
    account_id, sandbox, source = call.account_id, call.principal.sandbox, body.from_
    prepare, submit = engine.intake.prepare, engine.acceptor.submit

    rejected: list[BulkRejected] = []
    waiting: list[tuple[int, PreparedMessage, asyncio.Future[Rejected | None]]] = []
    for index, recipient in enumerate(body.recipients):
        try:
            text = template.render(recipient.variables)
            request = submit_request(
                account_id=account_id, to=recipient.to, source=source, text=text, unicode=body.unicode,
                client_ref=recipient.client_ref or body.client_ref, scheduled_at=scheduled,
                expires_at=expires, sandbox=sandbox, batch_id=batch_id,
            )  # fmt: skip
            prepared = prepare(request, at)
            waiting.append((index, prepared, submit(prepared)))
        except Rejected as exc:
            rejected.append(BulkRejected(index, recipient.to, exc.reject.api_code, exc.reason))
        except ApiError as exc:
            rejected.append(BulkRejected(index, recipient.to, exc.code, exc.message))

    # One wait for all: the futures resolve batch by batch as the group committer stores them.
    outcomes = await asyncio.gather(*(f for _, _, f in waiting), return_exceptions=True)
    accepted: list[BulkAccepted] = []
    total = 0
    currency = waiting[0][1].currency if waiting else await _account_currency(call)
    for (index, prepared, _), outcome in zip(waiting, outcomes, strict=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, Rejected):
            outcome = _failed_commit(outcome)
        if outcome is None:
            accepted.append(BulkAccepted(index, public_id(prepared.id, sandbox), "+" + prepared.destination,
                                         prepared.segments))  # fmt: skip
            total += charged(prepared)
        else:
            rejected.append(BulkRejected(index, body.recipients[index].to, outcome.reject.api_code,
                                         outcome.reason))  # fmt: skip
    rejected.sort(key=lambda r: r.index)
    await call.ctx.pool.execute(
        _STORE, uuid.UUID(batch_id), account_id, body.client_ref, source, body.body, len(accepted),
        len(rejected), total, currency, sandbox, scheduled,
    )  # fmt: skip
    status = 202 if not rejected else 207 if accepted else 422
    summary = BulkSummary(
        batch_id=batch_id, accepted=len(accepted), rejected=len(rejected),
        cost_estimate=to_minor(total, currency, round_up=True), currency=currency,
        client_ref=body.client_ref, sandbox=sandbox, messages=accepted, errors=rejected,
    )  # fmt: skip
    return Reply(status, BulkResult(summary, Meta(call.request_id)))


OPERATIONS = [
    Operation("POST", "/v1/sms/bulk", send_bulk, "Submit a bulk SMS batch", "sms.send", "SMS",
              body=BulkSend, responses={202: BulkResult, 207: BulkResult, 422: BulkResult},
              description="Up to 10,000 recipients, each validated on its own: 202 all accepted, 207 some, "
              "422 none. Track the batch at GET /v1/campaigns/{batch_id}. Counts as one request for rate "
              "limiting."),
]  # fmt: skip
