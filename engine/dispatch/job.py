"""The job model of the one dispatch loop: what a job is, what a target does with it, what comes back.

Every kind of work the engine sends out — an SMS part to a carrier bind, a post or a DM to a social
platform account — is a `Job` of some kind, held by the `Dispatcher` between its durable accept and its
outcome. A kind is a connector plus a schema: a `Job` subclass with its payload, and `Target`s that can
start an attempt of such a job and report how it went with one `Attempt`:

    Sent        it went out (the job carries what the platform said: carrier ids, a post id)
    Retry       try the same target again later (throttled, no answer, 429/5xx); `delay` None: the
                loop's backoff; `pause_target` holds every job of the target for that long (the
                platform asked us to slow down, or its rate-limit window is spent)
    Failover    this target cannot take it: the next target of the job's route, if any
    Reject      the job itself is wrong or refused for good: final, with its status

The loop owns lanes (one job in flight per lane key: a destination number, a conversation), queues per
target, expiry, retries with backoff, failover and the durable dispatch marks; targets own the wire
(windows, rate limits, the protocol). Outcomes go to an `OutcomeSink` (the lifecycle), which makes them
durable. This module holds types only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from engine.core.status import Status


class Job(msgspec.Struct, kw_only=True):
    """One unit of outbound work, in memory between accept (or recovery) and its outcome."""

    id: int
    kind: str
    account_id: int
    lane: str  # jobs of one kind with the same lane key go out one at a time, in order
    route: tuple[str, ...]  # target names: first choice, then failovers
    route_index: int = 0
    attempts: int = 0  # attempts on the current target
    not_before: float | None = None  # wall clock: scheduled for later
    expires_at: float | None = None  # wall clock: final as expired if not sent by then
    possible_duplicate: bool = False  # an earlier attempt may have reached the platform
    needs_mark: bool = False  # marked 'sending' row by row before it goes (recovered or scheduled jobs)
    marked: bool = False  # its row is durably marked 'sending' (engine/dispatch/marks.py)
    mark_requested: bool = False
    # Let through by its target's rate limit (`throttle`) before its mark is asked for: a kind whose
    # jobs may wait minutes for a platform's window (social jobs) so that a job waiting reads as queued,
    # not 'sending'. `admitted`: the target whose throttle let it through (its units are taken).
    admit_before_mark: bool = False
    admitted: str | None = None

    @property
    def target(self) -> str:
        return self.route[self.route_index]


class Sent(msgspec.Struct, frozen=True):
    pass


class Retry(msgspec.Struct, frozen=True):
    reason: str
    delay: float | None = None
    possible_duplicate: bool = False
    pause_target: bool = False


class Failover(msgspec.Struct, frozen=True):
    reason: str
    error_code: int | None = None


class Reject(msgspec.Struct, frozen=True):
    status: Status
    reason: str
    error_code: int | None = None


Attempt = Sent | Retry | Failover | Reject
Done = Callable[[Job, Attempt], None]


class Target(Protocol):
    """Somewhere jobs go: a carrier (its binds), a platform account. Called on the loop; never block."""

    name: str
    in_flight_limit: int  # the most attempts it can have under way at once (a carrier: binds x window)

    def up(self) -> bool:
        """Connected at all (a carrier with no bind up is down)."""

    def capacity(self) -> int:
        """How many more attempts may start now (free window slots)."""

    def throttle(self, job: Job, now: float) -> float:
        """Seconds until `job` may start under the target's rate limits; 0: it may, and its quota is taken."""

    def start(self, job: Job, done: Done) -> None:
        """Begin an attempt; call `done(job, attempt)` exactly once when it is over."""

    def set_listener(self, wake: Callable[[], None]) -> None:
        """`wake()` is to be called whenever capacity frees up or the target comes up."""


class OutcomeSink(Protocol):
    """Where final outcomes go to be made durable (the lifecycle). Never blocks, never refuses."""

    def sent(self, job: Job) -> None: ...

    def failed(self, job: Job, status: Status, reason: str, error_code: int | None) -> None: ...
