"""The WhatsApp kind's `OutcomeSink`: dispatch outcomes made durable in batches, money settled with them.

- sent: the row becomes submitted with Meta's wamid, its reservation captured (Meta charges what it
  accepted; a later `failed` status refunds it, engine/whatsapp/statuses.py); statuses Meta reported for
  the wamid before this commit (whatsapp_early_statuses) are applied in the same transaction;
- failed: final (rejected, failed or expired) with its reason and Meta's error code, the reservation
  released, and a `whatsapp.message` event (direction outbound, status failed).

One group committer (Policy.RETRY: an outage is waited out, an outcome is never dropped); a batch is a
handful of statements whatever its size. This module must never send anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import msgspec

from billing.items import ItemSettle, settle_items
from billing.model import PostingKind
from engine.core.group_commit import GroupCommitter, Policy
from engine.core.ids import format_id
from engine.core.status import Status
from engine.dispatch.job import Job
from engine.dispatch.whatsapp import WhatsAppJob
from engine.outbox.webhooks import WebhookEvent, WebhookSender
from engine.whatsapp.schema import LEDGER_CARRIER
from engine.whatsapp.statuses import EVENT, LOCK_WAMIDS, apply_statuses, take_early


class WaSent(msgspec.Struct, frozen=True):
    id: int
    wamid: str
    dup: bool


class WaFailed(msgspec.Struct, frozen=True):
    id: int
    st: str
    reason: str
    code: int | None


_JSON = msgspec.json.Encoder()

_SENT = """
UPDATE whatsapp_messages m SET
    status = 'submitted', wamid = u.wamid, submitted_at = now(), updated_at = now(),
    possible_duplicate = m.possible_duplicate OR u.dup,
    money = CASE WHEN m.money = 'reserved' THEN 'captured' ELSE m.money END,
    settle_batch = CASE WHEN m.money = 'reserved' THEN $2 ELSE m.settle_batch END
FROM json_to_recordset($1::json) AS u(id bigint, wamid text, dup bool)
WHERE m.id = u.id AND m.final_at IS NULL
RETURNING m.id, m.account_id, m.amount, m.country, m.settle_batch IS NOT DISTINCT FROM $2 AS settled
"""

_FAILED = """
UPDATE whatsapp_messages m SET
    status = u.st, final_at = now(), updated_at = now(), reason = u.reason, error_code = u.code,
    money = CASE WHEN m.money = 'reserved' THEN 'released' ELSE m.money END,
    settle_batch = CASE WHEN m.money = 'reserved' THEN $2 ELSE m.settle_batch END
FROM json_to_recordset($1::json) AS u(id bigint, st text, reason text, code integer)
WHERE m.id = u.id AND m.final_at IS NULL
RETURNING m.id, m.account_id, m.amount, m.country, m.settle_batch IS NOT DISTINCT FROM $2 AS settled,
          m.status, m.destination, m.phone_number_id, m.client_ref, m.type, m.template_name, m.reason,
          m.error_code
"""

Item = WaSent | WaFailed


class WhatsAppOutcomes:
    def __init__(
        self, pool: asyncpg.Pool, *, new_id: Callable[[], int], webhooks: WebhookSender | None
    ) -> None:
        self._pool = pool
        self._new_id = new_id
        self._webhooks = webhooks
        self.committer: GroupCommitter[Item, None] = GroupCommitter(
            self._commit, concurrency=1, policy=Policy.RETRY, name="whatsapp-outcomes"
        )

    @property
    def pending(self) -> int:
        return self.committer.pending

    def start(self) -> None:
        self.committer.start()

    async def close(self) -> None:
        await self.committer.close()

    # ------------------------------------------------------------------------------ OutcomeSink

    def sent(self, job: Job) -> None:
        assert isinstance(job, WhatsAppJob)
        self.committer.post(WaSent(job.id, job.wamid, job.possible_duplicate))

    def failed(self, job: Job, status: Status, reason: str, error_code: int | None) -> None:
        self.committer.post(WaFailed(job.id, status.value, reason, error_code))

    # ------------------------------------------------------------------------------ the batch

    async def _commit(self, batch: Sequence[Item]) -> list[None]:
        sent = [i for i in batch if isinstance(i, WaSent)]
        failed = [i for i in batch if isinstance(i, WaFailed)]
        batch_id = self._new_id()
        events: list[WebhookEvent] = []
        emitted = 0
        async with self._pool.acquire() as conn, conn.transaction():
            settles: list[ItemSettle] = []
            if sent:
                wamids = sorted({s.wamid for s in sent})
                await conn.fetchval(LOCK_WAMIDS, wamids)
                rows = await conn.fetch(_SENT, _JSON.encode(sent).decode(), batch_id)
                settles += [_settle(PostingKind.CAPTURE, r) for r in rows if r["settled"]]
            if failed:
                rows = await conn.fetch(_FAILED, _JSON.encode(failed).decode(), batch_id)
                settles += [_settle(PostingKind.RELEASE, r) for r in rows if r["settled"]]
                events += [WebhookEvent(r["account_id"], EVENT, _failed_event(r)) for r in rows]
            await settle_items(conn, batch_id, settles)
            if sent:
                early = await take_early(conn, wamids)
                if early:  # after the captures above: a failed status refunds what was just captured
                    events += await apply_statuses(conn, self._new_id(), early, keep_unmatched=False)
            if events and self._webhooks is not None:
                emitted = await self._webhooks.emit(conn, events)
        if emitted and self._webhooks is not None:
            self._webhooks.wake()
        return [None] * len(batch)


def _settle(kind: PostingKind, r: Any) -> ItemSettle:
    return ItemSettle(kind, r["account_id"], r["amount"], 1, r["country"] or "", LEDGER_CARRIER)


def _failed_event(r: Any) -> dict[str, Any]:
    return {
        "direction": "outbound",
        "message_id": format_id(r["id"]),
        "wamid": None,
        "status": "failed",
        "message_status": r["status"],
        "to": "+" + r["destination"],
        "phone_number_id": r["phone_number_id"],
        "type": r["type"],
        "template": r["template_name"],
        "client_ref": r["client_ref"],
        "delivered_at": None,
        "read_at": None,
        "error_code": r["error_code"],
        "reason": r["reason"] or None,
    }
