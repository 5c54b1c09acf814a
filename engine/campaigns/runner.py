"""Campaigns: the state machine, and the runner that releases recipients at each campaign's send rate.

States, and what moves a campaign between them (`ACTIONS` is the whole table for the API's actions):

    draft --submit--> pending_approval --approve--> approved      (operator CLI, or an account admin key)
                      pending_approval --reject--> rejected
    draft --submit--> approved                                    (an account trusted to skip approval)
    approved --(its scheduled_at, or at once; runner)--> sending --pause--> paused --resume--> sending
    sending --(every recipient released, every message final, runner)--> completed | failed (none accepted)
    draft | pending_approval | approved | sending | paused --cancel--> cancelled
    draft | pending_approval | approved --schedule--> (same state, new scheduled_at)

Actions are applied by engine.campaigns.actions (the API and the CLI both call it).

The runner releases a `sending` campaign's pending recipients through the one accept path
(`Intake.prepare` + `Acceptor.submit`, one SubmitRequest per recipient with `campaign_id` set), paced by
a token bucket per campaign (burst of at most one tick's worth, at least one message). Each batch runs
in a transaction holding the campaign's row lock (FOR UPDATE SKIP LOCKED): a pause or cancel waits for
the batch in flight (at most one tick of messages) and no message is released after it returns; a second
engine process skips a campaign another one is releasing. A recipient is marked `released` after its
message is committed; if the process dies in between, the next batch finds the message (campaign_id,
destination are unique per campaign) and marks the recipient without sending it again. A campaign
reaching completed or failed stores a campaign.completed / campaign.failed event in the webhook outbox
(engine.webhooks) in the same transaction as the state change.

The tables are the HTTP API's (http_api/migrations/0003); this module reads and updates them in SQL only.
It must never send a message any other way than through intake and acceptor, nor import http_api.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from engine.core.accept import Acceptor
from engine.core.intake import Intake, SubmitRequest
from engine.core.rejections import Reject, Rejected
from engine.core.status import Status
from engine.outbox.webhooks import WebhookEvent, WebhookSender

log = structlog.get_logger("engine.campaigns.runner")

STATES = (
    "draft", "pending_approval", "approved", "rejected", "sending", "paused", "completed", "cancelled",
    "failed",
)  # fmt: skip
FINAL_STATES = frozenset({"completed", "cancelled", "failed", "rejected"})
# action -> (states it applies to, state it leads to). submit goes to pending_approval, or straight to
# approved for an account trusted to skip approval (accounts.campaigns_trusted); an approved campaign
# starts sending at its schedule_at (at once without one); schedule only moves schedule_at.
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "submit": (frozenset({"draft"}), "pending_approval"),
    "approve": (frozenset({"pending_approval"}), "approved"),
    "reject": (frozenset({"pending_approval"}), "rejected"),
    "schedule": (frozenset({"draft", "pending_approval", "approved"}), ""),
    "pause": (frozenset({"sending"}), "paused"),
    "resume": (frozenset({"paused"}), "sending"),
    "cancel": (frozenset({"draft", "pending_approval", "approved", "sending", "paused"}), "cancelled"),
}
# Recipients may be added while nothing is being released from the list.
EDITABLE_STATES = frozenset({"draft", "pending_approval", "approved", "paused"})
VALIDITY = timedelta(hours=48)
# Refusals that say nothing about the recipient: it stays pending and is tried again later.
TRANSIENT = frozenset({Reject.QUEUE_FULL, Reject.SYSTEM_ERROR, Reject.THROTTLED})
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


def transition(action: str, state: str, *, trusted: bool = False) -> str | None:
    """The state `action` leads to from `state`, or None when it is not allowed there."""
    allowed, target = ACTIONS[action]
    if state not in allowed:
        return None
    if action == "submit" and trusted:
        return "approved"
    return target or state


def placeholders(body: str) -> set[str]:
    return set(_PLACEHOLDER.findall(body))


def render(body: str, variables: Mapping[str, Any]) -> str:
    """The body with its {{name}} placeholders filled; KeyError names the first one without a value."""

    def value(match: re.Match[str]) -> str:
        found = variables.get(match.group(1))
        if found is None:
            raise KeyError(match.group(1))
        return str(found)

    return _PLACEHOLDER.sub(value, body)


class Progress:
    """Where a campaign's recipients are; the fields add up to `total`."""

    __slots__ = ("cancelled", "delivered", "failed", "pending", "queued", "sent", "total")

    def __init__(self) -> None:
        self.total = self.pending = self.queued = self.sent = self.delivered = self.failed = 0
        self.cancelled = 0

    def count(self, status: str, n: int) -> None:
        """Add `n` messages in `status` to the bucket it belongs to."""
        if status in (Status.QUEUED, Status.SENDING, Status.SCHEDULED):
            self.queued += n
        elif status == Status.SUBMITTED:
            self.sent += n
        elif status == Status.DELIVERED:
            self.delivered += n
        else:
            self.failed += n


_RECIPIENT_COUNTS = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE r.state = 'pending' AND NOT EXISTS (
           SELECT 1 FROM messages m WHERE m.campaign_id = r.campaign_id AND m.destination = r.destination
       )) AS pending,
       count(*) FILTER (WHERE r.state = 'rejected' AND r.code = 'CANCELLED') AS cancelled,
       count(*) FILTER (WHERE r.state = 'rejected' AND r.code <> 'CANCELLED') AS rejected
FROM campaign_recipients r WHERE r.campaign_id = $1
"""
_MESSAGE_COUNTS = "SELECT status, count(*) AS n FROM messages WHERE campaign_id = $1 GROUP BY status"


async def campaign_progress(conn: asyncpg.Connection | Any, campaign_id: int) -> Progress:
    """Counts from the messages (by status) and the recipients not released yet or refused.

    A recipient whose message is committed but not yet marked released counts by its message, never twice.
    """
    p = Progress()
    r = await conn.fetchrow(_RECIPIENT_COUNTS, campaign_id)
    assert r is not None
    p.total, p.pending, p.cancelled, p.failed = r["total"], r["pending"], r["cancelled"], r["rejected"]
    for row in await conn.fetch(_MESSAGE_COUNTS, campaign_id):
        p.count(row["status"], int(row["n"]))
    return p


@dataclass
class _Bucket:
    rate: float
    tokens: float
    at: float

    @property
    def burst(self) -> float:
        return max(1.0, self.rate * CampaignRunner.TICK)

    def take(self, now: float) -> int:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return int(self.tokens)


_PROMOTE = """UPDATE campaigns SET state = 'sending', started_at = coalesce(started_at, now()),
    updated_at = now()
WHERE state = 'approved' AND (scheduled_at IS NULL OR scheduled_at <= now()) RETURNING id"""
_LOCK = """SELECT account_id, source, body, sandbox FROM campaigns WHERE id = $1 AND state = 'sending'
FOR UPDATE SKIP LOCKED"""
_PENDING = """
SELECT r.seq, r.destination, r.variables, m.id AS message_id
FROM campaign_recipients r
LEFT JOIN LATERAL (SELECT id FROM messages m
                   WHERE m.campaign_id = r.campaign_id AND m.destination = r.destination LIMIT 1) m ON true
WHERE r.campaign_id = $1 AND r.state = 'pending' ORDER BY r.seq LIMIT $2
"""
_MARK = """
UPDATE campaign_recipients r SET state = u.state, code = u.code, reason = u.reason, message_id = u.message_id,
       released_at = now()
FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::bigint[])
     AS u(seq, state, code, reason, message_id)
WHERE r.campaign_id = $1 AND r.seq = u.seq AND r.state = 'pending'
"""
_OPEN = """SELECT
  (SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND state = 'pending') AS pending,
  (SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND state = 'released') AS released,
  (SELECT count(*) FROM messages WHERE campaign_id = $1 AND final_at IS NULL) AS open"""
_FINISH = """UPDATE campaigns SET state = $2, finished_at = now(), updated_at = now(), reason = $3
WHERE id = $1 AND state = 'sending' RETURNING account_id, name"""


class CampaignRunner:
    TICK = 0.05  # seconds between releases of a sending campaign
    IDLE_POLL = 0.5  # seconds between looks at the table when nothing is sending (other processes)

    def __init__(
        self,
        pool: asyncpg.Pool,
        intake: Intake,
        acceptor: Acceptor,
        *,
        admit: Callable[[], bool] = lambda: True,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self._pool = pool
        self._intake = intake
        self._acceptor = acceptor
        self._admit = admit
        self._webhooks = webhooks
        self._buckets: dict[int, _Bucket] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.released = 0  # messages accepted by this runner since start

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="campaigns")

    def wake(self) -> None:
        """A campaign was submitted or resumed: look now rather than at the next poll."""
        self._wake.set()

    async def close(self, grace: float = 10.0) -> None:
        """Finish the batch in flight (its recipients marked), then stop; cancel it after `grace` seconds.

        Cancelling mid-batch is safe too: a message committed before its recipient was marked is found by
        the next batch (here or in another process) and never sent twice.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                busy = await self.step()
            except Exception:  # a lost connection or a bad row must not stop every campaign for good
                log.exception("campaign runner step failed")
                busy = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.TICK if busy else self.IDLE_POLL):
                    await self._wake.wait()
            self._wake.clear()

    async def step(self) -> bool:
        """One pass over the campaigns that are due or sending; True if any is sending."""
        await self._pool.execute(_PROMOTE)
        rows = await self._pool.fetch("SELECT id, send_rate FROM campaigns WHERE state = 'sending'")
        sending = {int(r["id"]): float(r["send_rate"]) for r in rows}
        for gone in self._buckets.keys() - sending.keys():
            del self._buckets[gone]  # paused or finished: a resume starts with a fresh bucket
        if not self._admit():
            return bool(sending)
        for campaign_id, rate in sending.items():
            if self._stopping:
                break
            now = time.monotonic()
            bucket = self._buckets.get(campaign_id)
            if bucket is None or bucket.rate != rate:
                bucket = self._buckets[campaign_id] = _Bucket(rate, 1.0, now)
            due = bucket.take(now)
            if due < 1:
                continue
            attempted, exhausted = await self._release(campaign_id, due)
            bucket.tokens -= attempted
            if exhausted:
                await self._maybe_finish(campaign_id)
        return bool(sending)

    async def _release(self, campaign_id: int, limit: int) -> tuple[int, bool]:
        """Release up to `limit` recipients: (recipients tried, True if none is left pending)."""
        async with self._pool.acquire() as conn, conn.transaction():
            campaign = await conn.fetchrow(_LOCK, campaign_id)
            if campaign is None:  # paused, cancelled, or another process holds it
                return 0, False
            rows = await conn.fetch(_PENDING, campaign_id, limit)
            marks: list[tuple[int, str, str, str, int | None]] = []
            waiting: list[tuple[int, int, asyncio.Future[Rejected | None]]] = []
            at = time.time()
            expires = datetime.fromtimestamp(at, UTC) + VALIDITY
            for row in rows:
                seq = row["seq"]
                if row["message_id"] is not None:  # committed before a crash: already sent
                    marks.append((seq, "released", "", "", row["message_id"]))
                    continue
                try:
                    text = render(campaign["body"], json.loads(row["variables"]))
                except KeyError as exc:
                    marks.append(
                        (seq, "rejected", "VALIDATION_ERROR", f"no value for {{{{{exc.args[0]}}}}}", None)
                    )
                    continue
                request = SubmitRequest(
                    account_id=campaign["account_id"], channel="http", source=campaign["source"],
                    destination="+" + row["destination"], text=text, campaign_id=campaign_id,
                    batch_id=f"campaign:{campaign_id}", expires_at=expires, sandbox=campaign["sandbox"],
                )  # fmt: skip
                try:
                    prepared = self._intake.prepare(request, at)
                    waiting.append((seq, prepared.id, self._acceptor.submit(prepared)))
                except Rejected as exc:
                    if exc.reject in TRANSIENT:
                        break
                    marks.append((seq, "rejected", exc.reject.api_code, exc.reason, None))
            outcomes = await asyncio.gather(*(f for _, _, f in waiting), return_exceptions=True)
            for (seq, message_id, _), outcome in zip(waiting, outcomes, strict=True):
                if outcome is None:
                    marks.append((seq, "released", "", "", message_id))
                    self.released += 1
                elif isinstance(outcome, Rejected) and outcome.reject not in TRANSIENT:
                    marks.append((seq, "rejected", outcome.reject.api_code, outcome.reason, None))
                # else: a failed commit stored nothing; the recipient stays pending
            if marks:
                await conn.execute(_MARK, campaign_id, *(list(col) for col in zip(*marks, strict=True)))
            attempted = len(waiting) + sum(1 for m in marks if m[1] == "rejected")
            return attempted, len(rows) < limit and len(marks) == len(rows)

    async def _maybe_finish(self, campaign_id: int) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            counts = await conn.fetchrow(_OPEN, campaign_id)
            assert counts is not None
            if counts["pending"] or counts["open"]:
                return
            released = int(counts["released"])
            state, reason = ("completed", "") if released else ("failed", "no recipient could be sent")
            done = await conn.fetchrow(_FINISH, campaign_id, state, reason)
            if done is None:
                return
            if self._webhooks is not None:
                # In the same transaction: the event is stored if and only if the state changed.
                p = await campaign_progress(conn, campaign_id)
                data = {"campaign_id": campaign_id, "name": done["name"], "state": state, "reason": reason,
                        "total": p.total, "delivered": p.delivered, "failed": p.failed}  # fmt: skip
                event = WebhookEvent(int(done["account_id"]), f"campaign.{state}", data)
                await self._webhooks.emit(conn, [event])
        if self._webhooks is not None:
            self._webhooks.wake()
        self._buckets.pop(campaign_id, None)
        log.info("campaign finished", campaign_id=campaign_id, state=state, released=released)
