"""The one dispatch loop: accepted jobs out to their targets, in order per lane, with retry and failover.

Jobs of every kind come here after their durable accept (or from recovery). For each job, in order:

1. **Schedule**: a job with `not_before` in the future waits on a timer, outside any lane.
2. **Lane**: at most one job per (kind, lane key) is past this point — the next message to the same
   number waits behind the one in flight, through its retries and failovers, so nothing overtakes it.
3. **Target queue**: the lane's head waits in its target's FIFO queue until the target is up, has
   capacity (window slots), its rate limit allows (`throttle`), and the job's dispatch mark is durable
   (engine/dispatch/marks.py); a job that `admit_before_mark` (social: platform windows of minutes) is
   let through by the rate limit first, so it is not marked 'sending' while its window is closed.
   A job that expires while it waits is final as expired, never sent.
4. **Attempt**: the target starts it and reports one `Attempt`. Sent and Reject are final (the sink
   makes them durable); Retry puts the job back at the head of its queue after a backoff (the lane stays
   held, so order is kept), up to `max_retries`, then fails over; Failover moves it to the next target
   of its route, or fails it when there is none. A target down for longer than `bind_wait` hands its
   queued jobs that have another target to it; the last target of a route is waited for.

Everything is driven by callbacks and the injected clock — no task per job or per worker — so the
loop's own cost per job is a few dictionary and deque operations, and tests drive it with a manual clock.
This module must never decide what a job means (that is its kind and its sink), nor do I/O itself.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from functools import partial

import structlog

from engine.core.status import Status
from engine.dispatch.clock import Clock, Timer
from engine.dispatch.job import Attempt, Failover, Job, OutcomeSink, Reject, Retry, Sent, Target
from engine.dispatch.marks import Marks

log = structlog.get_logger("engine.dispatch")

# The watermark moves to cover what a target will start before its next advance could be durable: this
# many times its in-flight limit beyond the head of its queue (at least _MIN_HORIZON jobs).
_HORIZON = 4
_MIN_HORIZON = 256


class _Queue:
    __slots__ = ("down_since", "failover_timer", "jobs", "paused_until", "target", "timer")

    def __init__(self, target: Target) -> None:
        self.target = target
        self.jobs: deque[Job] = deque()
        self.paused_until = 0.0
        self.timer: Timer | None = None
        self.down_since: float | None = None
        self.failover_timer: Timer | None = None


class Dispatcher:
    def __init__(
        self,
        targets: Mapping[str, Target],
        sinks: Mapping[str, OutcomeSink],
        marks: Marks,
        clock: Clock,
        *,
        max_retries: int = 8,
        backoff: tuple[float, float] = (0.05, 5.0),
        bind_wait: float = 5.0,
    ) -> None:
        self._queues = {name: _Queue(target) for name, target in targets.items()}
        self._sinks = dict(sinks)  # job kind -> where its outcomes are made durable
        self._marks = marks
        self._clock = clock
        self._max_retries = max_retries
        self._backoff = backoff
        self._bind_wait = bind_wait
        self._lanes: dict[tuple[str, str], deque[Job]] = {}
        self._scheduled: dict[int, tuple[Timer, Job]] = {}
        self._pumping: set[str] = set()
        self._deferred: set[str] | None = None  # targets to pump after enqueue_many has queued a batch
        self._closed = False
        self._held = False
        self.backlog = 0  # jobs accepted and not yet final
        self.sent = 0
        self.failed = 0
        for name, queue in self._queues.items():
            queue.target.set_listener(partial(self.pump, name))
        marks.add_listener(self.pump_all)

    def add_target(self, target: Target) -> None:
        """A target that appears at run time (a social account connected after start)."""
        if target.name in self._queues:
            raise ValueError(f"target {target.name!r} exists")
        self._queues[target.name] = _Queue(target)
        target.set_listener(partial(self.pump, target.name))

    def add_sink(self, kind: str, sink: OutcomeSink) -> None:
        """Where outcomes of another job kind go (each kind registers its own before its first job)."""
        self._sinks[kind] = sink

    def has_target(self, name: str) -> bool:
        return name in self._queues

    # ------------------------------------------------------------------------------------ intake

    def enqueue(self, job: Job) -> None:
        """A job accepted (or recovered): it goes out when its turn comes."""
        self.backlog += 1
        self._admit(job)

    def enqueue_many(self, jobs: Sequence[Job]) -> None:
        """A committed batch's jobs: queued first, then each target pumped once."""
        self.backlog += len(jobs)
        deferred = self._deferred = set()
        try:
            for job in jobs:
                self._admit(job)
        finally:
            self._deferred = None
        for name in deferred:
            self.pump(name)

    def _admit(self, job: Job) -> None:
        if job.not_before is not None:
            delay = job.not_before - self._clock.wall()
            if delay > 0:
                timer = self._clock.call_at(self._clock.now() + delay, lambda: self._due(job))
                self._scheduled[job.id] = (timer, job)
                return
        key = (job.kind, job.lane)
        waiting = self._lanes.get(key)
        if waiting is not None:  # a job of this lane is in flight: wait behind it
            waiting.append(job)
            return
        self._lanes[key] = deque()
        self._route(job)

    def reschedule(self, job_id: int, not_before: float) -> bool:
        """A scheduled job waiting here goes at `not_before` (wall clock) instead; False: not waiting here."""
        waiting = self._scheduled.pop(job_id, None)
        if waiting is None:
            return False
        timer, job = waiting
        timer.cancel()
        job.not_before = not_before
        self._admit(job)
        return True

    def _due(self, job: Job) -> None:
        self._scheduled.pop(job.id, None)
        job.not_before = None
        self._admit(job)

    def _route(self, job: Job) -> None:
        """Into the queue of the job's current target (skipping targets that are not configured)."""
        while job.route_index < len(job.route) and job.target not in self._queues:
            job.route_index += 1
        if job.route_index >= len(job.route):
            self._fail(job, Status.FAILED, "no target of the route is configured", None)
            return
        self._queues[job.target].jobs.append(job)
        if self._deferred is not None:
            self._deferred.add(job.target)
        else:
            self.pump(job.target)

    # ------------------------------------------------------------------------------------ sending

    def pump_all(self) -> None:
        for name in self._queues:
            self.pump(name)

    def hold(self, held: bool) -> None:
        """Stop (or resume) starting attempts, e.g. while this node's lease is not renewed: another node
        may be taking its messages over. Attempts in flight still report."""
        self._held = held
        if not held:
            self.pump_all()

    def pump(self, name: str) -> None:
        """Start every job of this target's queue that may start now."""
        if self._held:
            return
        if name in self._pumping:
            return  # called back from inside the loop below, which looks again before it stops
        self._pumping.add(name)
        try:
            self._pump(self._queues[name])
        finally:
            self._pumping.discard(name)

    def _pump(self, queue: _Queue) -> None:
        jobs, target, clock = queue.jobs, queue.target, self._clock
        while jobs and not self._closed:
            now = clock.now()
            if queue.paused_until > now:
                self._wake_at(queue, queue.paused_until)
                return
            if not target.up():
                self._target_down(queue, now)
                return
            queue.down_since = None
            job = jobs[0]
            if job.expires_at is not None and job.expires_at <= clock.wall():
                jobs.popleft()
                self._fail(job, Status.EXPIRED, "validity period passed before sending", None)
                continue
            if job.admit_before_mark and job.admitted != target.name:
                if target.capacity() <= 0:
                    return  # the target wakes us when a slot frees up
                wait = target.throttle(job, now)
                if wait > 0:  # unmarked meanwhile: it reads as queued while its window is closed
                    self._wake_at(queue, now + wait)
                    return
                job.admitted = target.name
            if not self._marks.covered(job):
                if not self._marks.in_hand(job):
                    self._marks.request(job, self._horizon(queue))
                    if job.needs_mark:
                        self._mark_ahead(queue, now)
                return  # pumped again when the mark is durable
            if target.capacity() <= 0:
                return  # the target wakes us when a slot frees up
            if job.admitted != target.name:
                wait = target.throttle(job, now)
                if wait > 0:
                    self._wake_at(queue, now + wait)
                    return
            job.admitted = None  # the next attempt (a retry) is let through again
            jobs.popleft()
            target.start(job, self._done)

    def _mark_ahead(self, queue: _Queue, now: float) -> None:
        """Jobs marked row by row: ask for the marks of the next few behind the head too, so that they
        commit together in one batch rather than one commit per job — those admitted before their mark
        only as far as the target's rate limit lets them through now."""
        marks, target = self._marks, queue.target
        for job in itertools.islice(queue.jobs, 1, target.in_flight_limit * _HORIZON):
            if job.needs_mark and not marks.in_hand(job) and not marks.covered(job):
                if job.admit_before_mark and job.admitted != target.name:
                    if target.throttle(job, now) > 0:
                        return  # this one and the rest wait for the window, unmarked
                    job.admitted = target.name
                marks.request(job, 0)

    def _horizon(self, queue: _Queue) -> int:
        """The highest job id the watermark should cover: what this queue will send next."""
        count = max(_MIN_HORIZON, queue.target.in_flight_limit * _HORIZON)
        top = 0
        for i, job in enumerate(queue.jobs):
            if i >= count:
                break
            if not job.needs_mark and job.id > top:
                top = job.id
        return top

    def _wake_at(self, queue: _Queue, when: float) -> None:
        if queue.timer is not None:
            queue.timer.cancel()
        name = queue.target.name
        queue.timer = self._clock.call_at(when, lambda: self._timer_fired(name))

    def _timer_fired(self, name: str) -> None:
        self._queues[name].timer = None
        self.pump(name)

    def _target_down(self, queue: _Queue, now: float) -> None:
        if queue.down_since is None:
            queue.down_since = now
        if now - queue.down_since < self._bind_wait:
            if queue.failover_timer is None:
                name = queue.target.name
                queue.failover_timer = self._clock.call_at(
                    queue.down_since + self._bind_wait, lambda: self._down_too_long(name)
                )
            return
        # Down for too long: jobs with another target go there; the others wait for this one.
        stay: deque[Job] = deque()
        moved: list[Job] = []
        while queue.jobs:
            job = queue.jobs.popleft()
            (moved if job.route_index + 1 < len(job.route) else stay).append(job)
        queue.jobs = stay
        for job in moved:
            self._next_target(job, f"{queue.target.name} has had no bind for {self._bind_wait:g} s")

    def _down_too_long(self, name: str) -> None:
        queue = self._queues[name]
        queue.failover_timer = None
        self.pump(name)

    # ------------------------------------------------------------------------------------ outcomes

    def _done(self, job: Job, attempt: Attempt) -> None:
        freed = job.target
        if type(attempt) is Sent:
            self.sent += 1
            self.backlog -= 1
            self._sinks[job.kind].sent(job)
            self._release(job)
        elif type(attempt) is Retry:
            self._retry(job, attempt)
        elif type(attempt) is Failover:
            self._next_target(job, attempt.reason, attempt.error_code)
        elif type(attempt) is Reject:
            self._fail(job, attempt.status, attempt.reason, attempt.error_code)
        else:  # pragma: no cover - the Attempt union is closed
            raise TypeError(f"not an attempt: {attempt!r}")
        self.pump(freed)

    def _retry(self, job: Job, attempt: Retry) -> None:
        job.attempts += 1
        if attempt.possible_duplicate:
            job.possible_duplicate = True
        if job.attempts > self._max_retries:
            self._next_target(job, f"{job.attempts - 1} retries: {attempt.reason}")
            return
        delay = attempt.delay
        if delay is None:
            delay = min(self._backoff[0] * 2 ** (job.attempts - 1), self._backoff[1])
        queue = self._queues[job.target]
        now = self._clock.now()
        if attempt.pause_target:
            queue.paused_until = max(queue.paused_until, now + delay)
            queue.jobs.appendleft(job)  # first again once the pause is over; its lane is still held
            self._wake_at(queue, queue.paused_until)
        else:
            self._clock.call_at(now + delay, lambda: self._requeue(job))

    def _requeue(self, job: Job) -> None:
        if self._closed:
            return
        self._queues[job.target].jobs.appendleft(job)
        self.pump(job.target)

    def _next_target(self, job: Job, reason: str, error_code: int | None = None) -> None:
        job.route_index += 1
        job.attempts = 0
        if job.route_index >= len(job.route):
            self._fail(job, Status.FAILED, f"every target of the route failed; last: {reason}", error_code)
            return
        log.info("failover", job=job.id, to=job.target, reason=reason)
        self._route(job)

    def _fail(self, job: Job, status: Status, reason: str, error_code: int | None) -> None:
        self.failed += 1
        self.backlog -= 1
        self._sinks[job.kind].failed(job, status, reason, error_code)
        self._release(job)

    def _release(self, job: Job) -> None:
        """The job is final: the next one of its lane may go."""
        key = (job.kind, job.lane)
        waiting = self._lanes.get(key)
        if waiting is None:
            return
        if waiting:
            self._route(waiting.popleft())
        else:
            del self._lanes[key]

    # ------------------------------------------------------------------------------------ lifetime

    @property
    def due(self) -> int:
        """Jobs accepted, not yet final and not waiting for a scheduled time (those wait in their rows)."""
        return self.backlog - len(self._scheduled)

    def queued(self, name: str) -> int:
        queue = self._queues.get(name)
        return len(queue.jobs) if queue is not None else 0

    def close(self) -> None:
        """Stop starting jobs (attempts in flight still report); cancel timers."""
        self._closed = True
        for timer, _ in self._scheduled.values():
            timer.cancel()
        self._scheduled.clear()
        for queue in self._queues.values():
            for t in (queue.timer, queue.failover_timer):
                if t is not None:
                    t.cancel()
