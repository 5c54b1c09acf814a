"""The sandbox's own endpoint: GET /v1/sandbox/reset (the document shows it as /api/v1/sandbox/reset).

A sandbox request (a test key, or `X-Sandbox: true`) sends nothing and charges nothing: its messages are
stored as delivered, the ledger untouched (money 'none', engine.core.accept). Reset deletes the caller's
sandbox messages, bulk batches and campaigns, so a test suite starts from nothing; live data is never touched,
and a request that is not a sandbox one is refused (403). GET because the document says so.
"""

from __future__ import annotations

import msgspec

from http_api.envelopes import One, one
from http_api.errors import ApiError
from http_api.operations import Call, Operation, Reply

# A sandbox message is one the ledger never saw (money 'none'), made over HTTP.
_SANDBOX_MESSAGES = "SELECT id FROM messages WHERE account_id = $1 AND channel = 'http' AND money = 'none'"


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
