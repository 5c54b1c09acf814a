"""The sandbox's own endpoint: GET /v1/sandbox/reset (the document shows it as /api/v1/sandbox/reset).

A sandbox request (a test key, or `X-Sandbox: true`) sends nothing and charges nothing: its messages are
stored as delivered with a 'sandbox' event (engine.core.accept). Reset deletes the caller's sandbox
messages, bulk batches and campaigns, so a test suite starts from nothing; live data is never touched,
and a request that is not a sandbox one is refused (403). GET because the document says so.
"""

from __future__ import annotations

import msgspec

from http_api.envelopes import One, one
from http_api.errors import ApiError
from http_api.operations import Call, Operation, Reply

_SANDBOX_MESSAGES = """SELECT m.id FROM messages m WHERE m.account_id = $1 AND m.channel = 'http'
AND EXISTS (SELECT 1 FROM message_events e WHERE e.message_id = m.id AND e.reason = 'sandbox')"""


class SandboxReset(msgspec.Struct, frozen=True):
    reset: bool
    sandbox: bool
    messages_deleted: int
    batches_deleted: int
    campaigns_deleted: int


async def reset_sandbox(call: Call) -> Reply:
    if not call.principal.sandbox:
        raise ApiError(403, "FORBIDDEN", "sandbox reset needs a test key or the header X-Sandbox: true")
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        ids = [r["id"] for r in await conn.fetch(_SANDBOX_MESSAGES, call.account_id)]
        await conn.execute("DELETE FROM message_events WHERE message_id = ANY($1::bigint[])", ids)
        await conn.execute("DELETE FROM message_parts WHERE message_id = ANY($1::bigint[])", ids)
        await conn.execute("DELETE FROM messages WHERE id = ANY($1::bigint[])", ids)
        batches = await conn.execute(
            "DELETE FROM sms_batches WHERE account_id = $1 AND sandbox", call.account_id
        )
        campaigns = await conn.execute(
            "DELETE FROM campaigns WHERE account_id = $1 AND sandbox", call.account_id
        )
    return one(call, SandboxReset(True, True, len(ids), int(batches.split()[-1]), int(campaigns.split()[-1])))


OPERATIONS = [
    Operation("GET", "/v1/sandbox/reset", reset_sandbox, "Reset sandbox state", None, "Sandbox",
              responses={200: One[SandboxReset]},
              description="Deletes this account's sandbox messages, batches and campaigns. Needs a test key "
              "or X-Sandbox: true; also served at /api/v1/sandbox/reset."),
]  # fmt: skip
