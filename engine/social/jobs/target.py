"""A connected account's action group as a `Target` of the dispatch loop: one attempt of a social job.

`AccountTarget` (one per connected account and action group: engine/social/jobs/model.py) lets up to
`in_flight_limit` attempts run at once, within the platform's rate windows (`throttle`: the connector's
published rules, engine/social/jobs/limits.py), and turns each call's outcome into an `Attempt`:

    result                      Sent (the job carries the platform's ids: post id, url, DM ids)
    RateLimited(reset_at)       Retry with the whole target paused until reset_at (x-rate-limit-reset);
                                not counted as an attempt: the platform did nothing
    Transient, AuthExpired      Retry after an exponential backoff (Retry-After when the platform said),
                                flagged possible_duplicate when the request may have reached it; after
                                `max_attempts` attempts: final failure PLATFORM_ERROR
    NeedsReauth                 final failure ACCOUNT_NEEDS_REAUTH
    Permanent(code)             final failure with its code

Before each attempt the job's row is read (its params may have been edited while it was scheduled; a
canceled job is not sent). A job flagged possible_duplicate (it was in flight at a crash, or its last
call timed out) that publishes something is first looked for on the platform — the account's newest
posts or DM events with the same text since the job was accepted — and taken as sent when found, so
each post is published once. This module must never write a row: the outcome sink does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import structlog

from engine.core.status import Status
from engine.dispatch.clock import Clock
from engine.dispatch.job import Attempt, Done, Job, Reject, Retry, Sent
from engine.social.accounts.sessions import SocialAccounts
from engine.social.actions import (
    Action,
    CreatePost,
    DmRef,
    ListPage,
    PostRef,
    Reply,
    SendConversationDm,
    SendDm,
)
from engine.social.connector import AccountSession, PlatformConnector, RateRule, perform, rules_for
from engine.social.errors import AuthExpired, NeedsReauth, Permanent, RateLimited, SocialError, Transient
from engine.social.jobs.limits import RateLimiter
from engine.social.jobs.model import PUBLISHING, JobState, SocialJob, decode_params
from engine.social.jobs.shared_limits import Grants, SharedWindows

log = structlog.get_logger("engine.social.jobs")

_ROW = "SELECT status, params, created_at, scheduled_at FROM social_jobs WHERE id = $1"
_FINAL = frozenset({JobState.SUCCEEDED.value, JobState.FAILED.value, JobState.CANCELED.value})
_SLACK = timedelta(seconds=120)  # clocks of the platform and ours may differ a little


class AttemptPolicy(msgspec.Struct, frozen=True):
    max_attempts: int = 5  # calls of one job before a retryable error becomes final (PLATFORM_ERROR)
    backoff: float = 1.0  # seconds before the first retry; doubled each time
    backoff_cap: float = 60.0


class AccountTarget:
    def __init__(
        self,
        name: str,
        *,
        social_account_id: int,
        platform: str,
        pool: asyncpg.Pool,
        accounts: SocialAccounts,
        connector: PlatformConnector,
        limiter: RateLimiter,
        clock: Clock,
        policy: AttemptPolicy,
        in_flight_limit: int = 4,
        shared: SharedWindows | None = None,
    ) -> None:
        self.name = name
        self.in_flight_limit = in_flight_limit
        self.social_account_id = social_account_id
        self.platform = platform
        self._pool = pool
        self._accounts = accounts
        self._connector = connector
        self._limiter = limiter
        self._shared = shared  # the windows shared by every node (Redis); None: this process' own
        self._grants = Grants()
        self._clock = clock
        self._policy = policy
        self._scope = (str(social_account_id), platform)
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: Callable[[], None] = lambda: None
        self.calls = 0  # platform calls made (for tests: a burst makes no more than it must)

    # ------------------------------------------------------------------------------ Target

    def up(self) -> bool:
        return True

    def capacity(self) -> int:
        return self.in_flight_limit - self._in_flight

    def throttle(self, job: Job, now: float) -> float:
        assert isinstance(job, SocialJob)
        rules = rules_for(self._connector, job.action)
        if self._shared is None:
            return self._limiter.wait(self._scope, rules, job.action, now)
        answer = self._grants.answer(job.id, now)
        if answer is not None:
            return answer
        self._grants.asked(job.id)  # the windows every node shares: asked of Redis, answered by a wake
        task = asyncio.get_running_loop().create_task(self._reserve(job, rules))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return self._grants.PENDING

    async def _reserve(self, job: SocialJob, rules: tuple[RateRule, ...]) -> None:
        assert self._shared is not None
        try:
            wait = await self._shared.reserve(self._scope, rules, job.action)
        except Exception as exc:  # Redis away: asked again shortly, nothing taken
            log.warning("shared rate windows unavailable", error=repr(exc))
            wait = 1.0
        self._grants.answered(job.id, wait, self._clock.now())
        self._wake()

    def set_listener(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def start(self, job: Job, done: Done) -> None:
        assert isinstance(job, SocialJob)
        self._grants.forget(job.id)
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._run(job, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5.0)

    # ------------------------------------------------------------------------------ one attempt

    async def _run(self, job: SocialJob, done: Done) -> None:
        try:
            attempt = await self._attempt(job)
        except Exception as exc:  # never lose a job on a bug: retried, flagged
            log.exception("social attempt error", job=job.id)
            attempt = self._retryable(job, f"internal error: {exc!r}", possible_duplicate=True)
        self._in_flight -= 1
        done(job, attempt)

    async def _attempt(self, job: SocialJob) -> Attempt:
        row = await self._pool.fetchrow(_ROW, job.id)
        if row is None or row["status"] in _FINAL:
            job.skip = True
            return Reject(Status.FAILED, "the job was final before it went out (canceled)")
        later = row["scheduled_at"]
        if later is not None and (wait := (later - datetime.now(UTC)).total_seconds()) > 0.5:
            job.attempts -= 1  # moved to a later time while it waited (SocialJobs.update): not an attempt
            return Retry("rescheduled", delay=wait)
        params = decode_params(job.action, row["params"])
        try:
            session = await self._accounts.session(job.social_account_id)
            if job.possible_duplicate and job.action in PUBLISHING:
                found = await self._find_done(session, job.action, params, row["created_at"])
                if found is not None:
                    log.info("social job found on the platform", job=job.id, action=job.action.value)
                    job.result = found
                    return Sent()
            self.calls += 1
            result = await perform(self._connector, session, job.action, params)
        except KeyError:
            job.error_code = "not_found"
            return Reject(Status.FAILED, "the connected account does not exist")
        except RateLimited as exc:
            job.attempts -= 1  # the loop counts a retry; the platform refused before doing anything
            delay = max(0.0, (exc.reset_at - datetime.now(UTC)).total_seconds()) + 0.05
            return Retry(f"{self.platform} rate limit: until {exc.reset_at.isoformat()}", delay=delay,
                         pause_target=True)  # fmt: skip
        except NeedsReauth as exc:
            job.error_code = "ACCOUNT_NEEDS_REAUTH"
            return Reject(Status.FAILED, exc.message)
        except Permanent as exc:
            job.error_code = exc.code
            return Reject(Status.REJECTED, exc.detail or exc.message)
        except Transient as exc:
            return self._retryable(job, exc.message, exc.maybe_done, exc.retry_after)
        except AuthExpired as exc:
            return self._retryable(job, exc.message, False)
        except SocialError as exc:  # pragma: no cover - the tree is closed
            return self._retryable(job, exc.message, True)
        job.result = msgspec.to_builtins(result)
        return Sent()

    def _retryable(
        self, job: SocialJob, reason: str, possible_duplicate: bool, retry_after: float | None = None
    ) -> Attempt:
        made = job.attempts + 1
        if possible_duplicate:
            job.possible_duplicate = True
        if made >= self._policy.max_attempts:
            job.error_code = "PLATFORM_ERROR"
            return Reject(Status.FAILED, f"{made} attempts: {reason}")
        delay = retry_after
        if delay is None:
            delay = min(self._policy.backoff * 2 ** (made - 1), self._policy.backoff_cap)
        return Retry(reason, delay=delay, possible_duplicate=possible_duplicate)

    async def _find_done(
        self, session: AccountSession, action: Action, params: Any, since: datetime
    ) -> dict[str, Any] | None:
        """The platform's own record of this job when an earlier attempt did publish it, else None."""
        after = since - _SLACK
        me = session.account.platform_user_id
        if action in (Action.CREATE_POST, Action.REPLY):
            assert isinstance(params, CreatePost | Reply)
            page = await self._connector.list_posts(session, ListPage(limit=50))
            parent = params.in_reply_to if isinstance(params, Reply) else None
            for post in page.items:
                fresh = post.created_at is None or post.created_at >= after
                if fresh and post.text == params.text and post.in_reply_to == parent:
                    ref = PostRef(id=post.id, text=post.text, url=post.url)
                    return dict(msgspec.to_builtins(ref))
            return None
        assert isinstance(params, SendDm | SendConversationDm)
        events = await self._connector.list_dm_events(session, ListPage(limit=50))
        for event in events.items:
            fresh = event.created_at is None or event.created_at >= after
            same_place = not isinstance(params, SendConversationDm) or (
                event.conversation_id == params.conversation_id
            )
            if fresh and same_place and event.sender_id == me and event.text == params.text:
                return dict(
                    msgspec.to_builtins(DmRef(conversation_id=event.conversation_id, message_id=event.id))
                )
        return None
