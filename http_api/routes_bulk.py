"""POST /v1/sms/bulk: up to 10,000 recipients in one request, each judged on its own.

Every recipient goes through the same intake as a single send; the prepared messages are all handed to
the acceptor at once and awaited together, so the group committer stores them in a few large
transactions instead of one round trip each. The answer lists what was accepted (durably stored) and
what was refused, with the refusal's API code, by the recipient's index in the request:
202 when all were accepted, 207 when some were refused, 422 when none was accepted.

This module must never write to the database itself, nor await per recipient.
"""

from __future__ import annotations

import asyncio
import secrets

from engine.core.ids import format_id
from engine.core.intake import PreparedMessage
from engine.core.rejections import Reject, Rejected
from http_api.errors import ApiError
from http_api.messages import Template, charged, money, now, schedule_window, submit_request
from http_api.operations import Call, Operation, Reply
from http_api.routes_sms import admit
from http_api.schemas import BulkAccepted, BulkRejected, BulkResult, BulkSend


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
    batch_id = "b_" + secrets.token_hex(10)
    account_id, sandbox, source = call.account_id, call.principal.sandbox, body.from_
    prepare, submit = engine.intake.prepare, engine.acceptor.submit

    rejected: list[BulkRejected] = []
    waiting: list[tuple[int, PreparedMessage, asyncio.Future[Rejected | None]]] = []
    for index, recipient in enumerate(body.messages):
        try:
            text = template.render(recipient.variables) if recipient.variables else template.render({})
            request = submit_request(
                account_id=account_id, to=recipient.to, source=source, text=text, unicode=body.unicode,
                client_ref=recipient.client_ref, scheduled_at=scheduled, expires_at=expires,
                sandbox=sandbox, batch_id=batch_id,
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
            accepted.append(BulkAccepted(index, format_id(prepared.id), "+" + prepared.destination,
                                         prepared.segments))  # fmt: skip
            total += charged(prepared)
        else:
            rejected.append(BulkRejected(index, body.messages[index].to, outcome.reject.api_code,
                                         outcome.reason))  # fmt: skip
    rejected.sort(key=lambda r: r.index)
    status = 202 if not rejected else 207 if accepted else 422
    return Reply(status, BulkResult(batch_id, accepted, rejected, money(total, currency), sandbox))


OPERATIONS = [
    Operation("POST", "/v1/sms/bulk", send_bulk, "Send to up to 10,000 recipients", "sms.send", "SMS",
              body=BulkSend, responses={202: BulkResult, 207: BulkResult, 422: BulkResult}, idempotent=True,
              description="Each recipient is validated on its own: 202 all accepted, 207 some, 422 none. "
              "Counts as one request for rate limiting."),
]  # fmt: skip
