"""The WhatsApp job kind: one message to one number, sent over Meta's Cloud API, as a `Target` of the loop.

`WhatsAppJob` is a message on its way out: the business number it goes from (`phone_number_id`), the
recipient, and the Graph API request body as accepted. Its lane is (business number, recipient), so
messages to one person leave in order through retries. `CloudApiTarget` is the one target of the kind:
at most `in_flight` requests under way, `throughput` requests per second, each answer one `Attempt`:

- 200 with a wamid: Sent (the wamid is kept on the job: Meta's status webhooks name it);
- 429 / throughput codes (4, 80007, 130429): Retry with the whole target paused for Retry-After (or the
  loop's backoff) — Meta asked us to slow down; 131056 (too fast to this one recipient): Retry, this job only;
- 5xx, Meta's transient codes, no answer: Retry with backoff (no answer: flagged possible_duplicate);
- a refused access token: Reject as failed (no other target could do better);
- anything else (bad parameter, template unknown, 131047 outside the customer service window): Reject
  as rejected, with Meta's code and words.

This module must never write to the database nor sleep: the loop and the outcome sink do that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from engine.core.status import Status
from engine.core.throttle import TokenBucket
from engine.dispatch.clock import Clock
from engine.dispatch.job import Attempt, Done, Job, Reject, Retry, Sent
from engine.whatsapp.cloud_api import PAIR_RATE_LIMIT, CloudApi, CloudApiError

log = structlog.get_logger("engine.dispatch.whatsapp")

KIND = "whatsapp"
TARGET = "whatsapp-cloud"


class WhatsAppJob(Job, kw_only=True):
    phone_number_id: str
    destination: str  # E.164 digits, no '+'
    payload: bytes  # the Graph API request body, JSON
    wamid: str = ""


def outcome_of_error(exc: CloudApiError) -> Attempt:
    """What one failed request means for its job (pure: the table of the module docstring)."""
    if exc.rate_limited:
        pause = exc.code != PAIR_RATE_LIMIT  # one recipient flooded: only that lane waits
        return Retry(f"Cloud API rate limit: {exc}", delay=exc.retry_after, pause_target=pause)
    if exc.transient:
        return Retry(
            f"Cloud API unavailable: {exc}", delay=exc.retry_after, possible_duplicate=exc.sent_maybe
        )
    if exc.auth:
        return Reject(Status.FAILED, f"Cloud API refused the access token: {exc.message}", exc.code)
    return Reject(Status.REJECTED, f"Meta refused it: {exc.message}", exc.code)


class CloudApiTarget:
    def __init__(self, api: CloudApi, clock: Clock, *, throughput: float, in_flight: int) -> None:
        self.name = TARGET
        self.in_flight_limit = in_flight
        self._api = api
        self._bucket = TokenBucket(throughput, burst=max(1.0, throughput / 10), now=clock.now())
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------------------ Target

    def up(self) -> bool:
        return True  # HTTP: every request is its own connection attempt; failures are Retry outcomes

    def capacity(self) -> int:
        return self.in_flight_limit - len(self._tasks)

    def throttle(self, job: Job, now: float) -> float:
        wait = self._bucket.delay(now)
        if wait > 0:
            return wait
        self._bucket.try_take(now)
        return 0.0

    def set_listener(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def start(self, job: Job, done: Done) -> None:
        assert isinstance(job, WhatsAppJob)
        task = asyncio.get_running_loop().create_task(self._send(job, done), name=f"whatsapp-{job.id:x}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    # ------------------------------------------------------------------------------ wire

    async def _send(self, job: WhatsAppJob, done: Done) -> None:
        try:
            sent = await self._api.send_message(job.phone_number_id, job.payload)
        except CloudApiError as exc:
            attempt = outcome_of_error(exc)
        except Exception as exc:  # never lose a job on a bug here
            log.exception("whatsapp send error", message=job.id)
            attempt = Retry(f"internal error: {exc!r}", possible_duplicate=True)
        else:
            job.wamid = sent.wamid
            attempt = Sent()
        done(job, attempt)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake()

    async def close(self) -> None:
        """Wait for the requests under way (each reports its outcome)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
