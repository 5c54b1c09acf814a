"""Where social jobs' outcomes become durable: final state, platform result, money and webhook events.

`SocialOutcomes` is the social kind's `OutcomeSink` of the dispatch loop. Outcomes are items of one
group committer (Policy.RETRY: an outage is waited out, nothing is dropped); one batch is one
transaction: one UPDATE of every job it makes final (conditioned on `final_at IS NULL`, so a job is
settled at most once — a job canceled meanwhile stays canceled), the ledger's postings for their money
(captured on success, released on failure: billing.items.settle_items, one posting per kind, account
and platform), their webhook rows (engine/outbox/webhooks.py, the one webhook system) and the succeeded
ones' counts on the one usage record (engine/usage/). After the
commit, waiters of each job (`SocialJobs.wait`) are told.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import msgspec

from billing.items import ItemSettle, Legs, settle_items
from billing.model import PostingKind
from engine import usage
from engine.core.group_commit import GroupCommitter, Policy
from engine.core.ids import format_id
from engine.core.status import Status
from engine.dispatch.job import Job
from engine.outbox.webhooks import WebhookEvent, WebhookSender
from engine.social.actions import Action
from engine.social.jobs.model import JobState, SocialJob, event_of


class Outcome(msgspec.Struct, frozen=True):
    job_id: int
    ok: bool
    result: dict[str, Any] | None = None
    error_code: str | None = None
    reason: str = ""
    attempts: int = 0
    possible_duplicate: bool = False


_FINISH = """
UPDATE social_jobs j SET
    status = CASE WHEN u.ok THEN 'succeeded' ELSE 'failed' END,
    final_at = now(), updated_at = now(), result = u.result, error_code = u.code, error = u.reason,
    attempts = greatest(j.attempts, u.attempts), possible_duplicate = j.possible_duplicate OR u.dup,
    money = CASE WHEN j.money = 'reserved' THEN CASE WHEN u.ok THEN 'captured' ELSE 'released' END
                 ELSE j.money END,
    settle_batch = CASE WHEN j.money = 'reserved' THEN $2 ELSE j.settle_batch END
FROM json_to_recordset($1::json)
    AS u(id bigint, ok boolean, result jsonb, code text, reason text, attempts integer, dup boolean)
WHERE j.id = u.id AND j.final_at IS NULL
RETURNING j.id, j.account_id, j.social_account_id, j.platform, j.action, j.status, j.amount, j.money,
          j.settle_batch IS NOT DISTINCT FROM $2 AS settled, j.result, j.error_code, j.error, j.client_ref,
          j.tag, j.attempts, j.created_at, j.final_at
"""

_ENCODER = msgspec.json.Encoder()


def event_data(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """The webhook payload of a final social job (the same shape for every event of the kind)."""
    result = row["result"]
    if isinstance(result, str):
        result = msgspec.json.decode(result)
    final_at = row["final_at"]
    error = None if row["status"] == "succeeded" else {"code": row["error_code"], "message": row["error"]}
    return {
        "job_id": format_id(row["id"]),
        "social_account_id": row["social_account_id"],
        "platform": row["platform"],
        "action": row["action"],
        "status": row["status"],
        "result": result,
        "error": error,
        "client_ref": row["client_ref"],
        "tag": row["tag"],
        "attempts": row["attempts"],
        "final_at": final_at.isoformat() if final_at is not None else None,
    }


class SocialOutcomes:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        new_batch_id: Callable[[], int],
        webhooks: WebhookSender | None = None,
        on_final: Callable[[int, dict[str, Any]], None] = lambda _id, _data: None,
    ) -> None:
        self._pool = pool
        self._new_batch_id = new_batch_id
        self._webhooks = webhooks
        self.on_final = on_final
        self._legs: dict[int, Legs] = {}
        self._committer: GroupCommitter[Outcome, None] = GroupCommitter(
            self._commit, concurrency=1, policy=Policy.RETRY, name="social-outcomes"
        )
        self.settled = 0

    @property
    def pending(self) -> int:
        return self._committer.pending

    @property
    def committer(self) -> GroupCommitter[Outcome, None]:
        return self._committer

    def start(self) -> None:
        self._committer.start()

    async def close(self) -> None:
        await self._committer.close()

    # ------------------------------------------------------------------------------ OutcomeSink

    def sent(self, job: Job) -> None:
        assert isinstance(job, SocialJob)
        self._post(Outcome(job.id, True, job.result, None, "", job.attempts + 1, job.possible_duplicate))

    def failed(self, job: Job, status: Status, reason: str, error_code: int | None) -> None:
        assert isinstance(job, SocialJob)
        if job.skip:
            return  # the row was final already (canceled): nothing to change
        code = job.error_code or ("expired" if status is Status.EXPIRED else "PLATFORM_ERROR")
        self._post(Outcome(job.id, False, job.result, code, reason, job.attempts + 1, job.possible_duplicate))

    def _post(self, outcome: Outcome) -> None:
        self._committer.post(outcome)

    async def submit(self, outcome: Outcome) -> None:
        await self._committer.submit(outcome)

    # ------------------------------------------------------------------------------ the batch

    async def _commit(self, batch: Sequence[Outcome]) -> list[None]:
        batch_id = self._new_batch_id()
        rows = [
            {"id": o.job_id, "ok": o.ok, "result": o.result, "code": o.error_code, "reason": o.reason,
             "attempts": o.attempts, "dup": o.possible_duplicate}
            for o in batch
        ]  # fmt: skip
        emitted = 0
        async with self._pool.acquire() as conn, conn.transaction():
            finished = await conn.fetch(_FINISH, _ENCODER.encode(rows).decode(), batch_id)
            settlements = [
                ItemSettle(
                    PostingKind.CAPTURE if r["money"] == "captured" else PostingKind.RELEASE,
                    r["account_id"],
                    r["amount"],
                    1,
                    "",
                    r["platform"],
                )
                for r in finished
                if r["settled"] and r["money"] in ("captured", "released")
            ]
            events = [
                WebhookEvent(
                    r["account_id"],
                    event_of(Action(r["action"]), r["status"] == "succeeded"),
                    event_data(r),
                    r["final_at"],
                )
                for r in finished
            ]
            if self._webhooks is not None and events:
                emitted = await self._webhooks.emit(conn, events)
            await usage.record(conn, [
                usage.Count(r["account_id"], usage.social_metric(r["action"]), 1, r["final_at"])
                for r in finished
                if r["status"] == "succeeded"
            ])  # fmt: skip
            if settlements:  # last: the ledger locks the accounts' balance rows until we commit
                await settle_items(conn, batch_id, settlements, legs=self._legs)
        self.settled += len(finished)
        if emitted and self._webhooks is not None:
            self._webhooks.wake()
        for r in finished:
            self.on_final(r["id"], event_data(r))
        return [None] * len(batch)


def is_final(status: str) -> bool:
    return status in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED)
