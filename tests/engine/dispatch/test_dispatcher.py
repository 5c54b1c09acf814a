"""The dispatch loop on its own: fake targets, a manual clock, no sockets, no sleeps.

Each test drives time with ManualClock.advance and completes attempts by hand, the way a carrier's
answers would, and asserts what a customer would notice: what went out, in which order, what became
final and how, and what was flagged as a possible duplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from engine.core.status import Status
from engine.core.throttle import TokenBucket
from engine.dispatch.clock import ManualClock
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.job import Attempt, Done, Failover, Job, Reject, Retry, Sent


class FakeTarget:
    """A target whose attempts stay open until the test answers them."""

    def __init__(
        self, name: str, limit: int = 1, rate: float | None = None, clock: ManualClock | None = None
    ):
        self.name = name
        self.in_flight_limit = limit
        self.is_up = True
        self.open: list[tuple[Job, Done]] = []
        self.started: list[int] = []
        self.wake: Callable[[], None] = lambda: None
        self.bucket = TokenBucket(rate, burst=1, now=clock.now()) if rate and clock else None

    def up(self) -> bool:
        return self.is_up

    def capacity(self) -> int:
        return self.in_flight_limit - len(self.open)

    def throttle(self, job: Job, now: float) -> float:
        if self.bucket is None:
            return 0.0
        wait = self.bucket.delay(now)
        if wait > 0:
            return wait
        self.bucket.try_take(now)
        return 0.0

    def start(self, job: Job, done: Done) -> None:
        self.open.append((job, done))
        self.started.append(job.id)

    def set_listener(self, wake: Callable[[], None]) -> None:
        self.wake = wake

    def answer(self, attempt: Attempt, job_id: int | None = None) -> Job:
        """Finish the oldest open attempt (or the one of `job_id`) with `attempt`."""
        index = 0 if job_id is None else next(i for i, (j, _) in enumerate(self.open) if j.id == job_id)
        job, done = self.open.pop(index)
        done(job, attempt)
        return job


@dataclass
class Sink:
    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int, Status, str]] = field(default_factory=list)
    duplicates: set[int] = field(default_factory=set)

    def sent_job(self, job: Job) -> None:  # the OutcomeSink protocol, under friendlier names below
        self.sent.append(job.id)
        if job.possible_duplicate:
            self.duplicates.add(job.id)


class SinkAdapter:
    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    def sent(self, job: Job) -> None:
        self._sink.sent_job(job)

    def failed(self, job: Job, status: Status, reason: str, error_code: int | None) -> None:
        self._sink.failed.append((job.id, status, reason))
        if job.possible_duplicate:
            self._sink.duplicates.add(job.id)


class OpenMarks:
    """Every job is covered (the durable marks have their own tests)."""

    def covered(self, job: Job) -> bool:
        return True

    def in_hand(self, job: Job) -> bool:
        return True

    def request(self, job: Job, horizon: int) -> None:
        raise AssertionError("never asked")

    def add_listener(self, listener: Callable[[], None]) -> None:
        pass


class SlowMarks:
    """Marks that become durable only when the test says so."""

    def __init__(self) -> None:
        self.watermark = 0
        self.requests: list[int] = []
        self.listeners: list[Callable[[], None]] = []

    def covered(self, job: Job) -> bool:
        return job.id <= self.watermark

    def in_hand(self, job: Job) -> bool:
        return bool(self.requests) and job.id <= max(self.requests)

    def request(self, job: Job, horizon: int) -> None:
        self.requests.append(max(horizon, job.id))

    def add_listener(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def commit(self) -> None:
        self.watermark = max(self.requests)
        for listener in self.listeners:
            listener()


def job(n: int, lane: str | None = None, route: tuple[str, ...] = ("a",), **kw: object) -> Job:
    return Job(id=n, kind="test", account_id=1, lane=lane or f"dest-{n}", route=route, **kw)  # type: ignore[arg-type]


def make(
    *targets: FakeTarget, marks: object | None = None, clock: ManualClock | None = None, **kw: object
) -> tuple[Dispatcher, Sink, ManualClock]:
    clock = clock or ManualClock()
    sink = Sink()
    dispatcher = Dispatcher(
        {t.name: t for t in targets},
        {"test": SinkAdapter(sink)},
        marks or OpenMarks(),
        clock,
        **kw,  # type: ignore[arg-type]
    )
    return dispatcher, sink, clock


def test_a_job_goes_to_its_target_and_its_success_is_final() -> None:
    a = FakeTarget("a")
    d, sink, _ = make(a)
    d.enqueue(job(1))
    assert a.started == [1]
    a.answer(Sent())
    assert sink.sent == [1] and d.backlog == 0


def test_a_destination_never_has_two_jobs_in_flight_and_keeps_its_order() -> None:
    a = FakeTarget("a", limit=10)
    d, sink, _ = make(a)
    for n in (1, 2, 3):
        d.enqueue(job(n, lane="447700900123"))
    d.enqueue(job(4, lane="447700900999"))
    assert a.started == [1, 4]  # 2 and 3 wait behind 1; another number is not held up
    a.answer(Sent(), 1)
    assert a.started == [1, 4, 2]
    a.answer(Sent(), 2)
    a.answer(Sent(), 3)
    a.answer(Sent(), 4)
    assert sink.sent == [1, 2, 3, 4]


def test_throttling_backs_off_and_never_lets_a_later_message_overtake() -> None:
    a = FakeTarget("a", limit=10)
    d, sink, clock = make(a, backoff=(1.0, 8.0))
    d.enqueue(job(1, lane="447700900123"))
    d.enqueue(job(2, lane="447700900123"))
    a.answer(Retry("carrier throttled", pause_target=True))
    assert a.started == [1] and not a.open  # paused: nothing goes, not even the next message
    clock.advance(0.9)
    assert a.started == [1]
    clock.advance(0.2)
    assert a.started == [1, 1]  # the same message first, after its backoff
    a.answer(Retry("carrier throttled", pause_target=True))
    clock.advance(1.5)
    assert a.started == [1, 1]  # the second backoff is longer (2 s)
    clock.advance(0.6)
    assert a.started == [1, 1, 1]
    a.answer(Sent())
    assert a.started == [1, 1, 1, 2]  # only now the later message to that number
    a.answer(Sent())
    assert sink.sent == [1, 2] and not sink.duplicates


def test_no_answer_is_retried_and_flagged_a_possible_duplicate() -> None:
    a = FakeTarget("a")
    d, sink, clock = make(a, backoff=(0.5, 5.0))
    d.enqueue(job(7))
    a.answer(Retry("no answer: timeout", possible_duplicate=True))
    clock.advance(0.5)
    a.answer(Sent())
    assert sink.sent == [7] and sink.duplicates == {7}


def test_a_carrier_error_fails_over_to_the_next_carrier_of_the_route() -> None:
    a, b = FakeTarget("a"), FakeTarget("b")
    d, sink, _ = make(a, b)
    d.enqueue(job(1, route=("a", "b")))
    a.answer(Failover("carrier a answered 0x00000008", 8))
    assert b.started == [1]
    b.answer(Sent())
    assert sink.sent == [1]


def test_when_every_carrier_of_the_route_fails_the_message_fails() -> None:
    a, b = FakeTarget("a"), FakeTarget("b")
    d, sink, _ = make(a, b)
    d.enqueue(job(1, route=("a", "b")))
    a.answer(Failover("system error"))
    b.answer(Failover("system error"))
    assert sink.failed == [(1, Status.FAILED, "every target of the route failed; last: system error")]


def test_a_permanent_refusal_is_final_and_not_tried_elsewhere() -> None:
    a, b = FakeTarget("a"), FakeTarget("b")
    d, sink, _ = make(a, b)
    d.enqueue(job(1, route=("a", "b")))
    a.answer(Reject(Status.REJECTED, "carrier a refused it: 0x0000000B", 11))
    assert b.started == [] and sink.failed == [(1, Status.REJECTED, "carrier a refused it: 0x0000000B")]


def test_retries_run_out_then_the_next_carrier_takes_it() -> None:
    a, b = FakeTarget("a"), FakeTarget("b")
    d, sink, clock = make(a, b, max_retries=2, backoff=(0.1, 0.1))
    d.enqueue(job(1, route=("a", "b")))
    for _ in range(3):
        a.answer(Retry("no answer", possible_duplicate=True))
        clock.advance(0.1)
    assert a.started == [1, 1, 1] and b.started == [1]
    b.answer(Sent())
    assert sink.sent == [1] and sink.duplicates == {1}


def test_a_message_that_expires_while_it_waits_is_never_sent() -> None:
    a = FakeTarget("a")
    d, sink, clock = make(a)
    d.enqueue(job(1, lane="x"))
    d.enqueue(job(2, lane="x", expires_at=clock.wall() + 5))
    clock.advance(10)  # job 1 is still waiting for its answer
    a.answer(Sent())
    assert a.started == [1]
    assert sink.failed == [(2, Status.EXPIRED, "validity period passed before sending")]


def test_a_scheduled_message_waits_for_its_time_without_holding_its_number() -> None:
    a = FakeTarget("a", limit=5)
    d, sink, clock = make(a)
    d.enqueue(job(1, lane="x", not_before=clock.wall() + 60))
    d.enqueue(job(2, lane="x"))
    assert a.started == [2]  # the later, unscheduled message to the same number is not held up
    a.answer(Sent())
    clock.advance(59)
    assert a.started == [2]
    clock.advance(1)
    assert a.started == [2, 1]
    a.answer(Sent())
    assert sink.sent == [2, 1]


def test_the_carrier_rate_limit_spaces_out_sends() -> None:
    clock = ManualClock()
    a = FakeTarget("a", limit=100, rate=10.0, clock=clock)  # 10 per second, burst 1
    d, _, _ = make(a, clock=clock)
    for n in range(1, 6):
        d.enqueue(job(n))
    assert a.started == [1]
    clock.advance(0.1)
    assert a.started == [1, 2]
    clock.advance(0.15)
    assert a.started == [1, 2, 3]
    clock.advance(0.2)
    assert a.started == [1, 2, 3, 4, 5]


def test_a_carrier_down_too_long_hands_its_queue_to_the_next_one_but_the_last_is_waited_for() -> None:
    a, b = FakeTarget("a"), FakeTarget("b")
    a.is_up = False
    d, sink, clock = make(a, b, bind_wait=5.0)
    d.enqueue(job(1, route=("a", "b")))
    d.enqueue(job(2, route=("a",)))
    clock.advance(4.9)
    assert a.started == [] and b.started == []
    clock.advance(0.2)
    assert b.started == [1]  # it had another carrier
    a.is_up = True
    a.wake()
    assert a.started == [2]  # the one without an alternative waited for its carrier
    a.answer(Sent())
    b.answer(Sent())
    assert sorted(sink.sent) == [1, 2]


def test_nothing_goes_out_before_its_dispatch_mark_is_durable() -> None:
    a = FakeTarget("a", limit=10)
    marks = SlowMarks()
    d, _, _ = make(a, marks=marks)
    for n in (10, 11, 12):
        d.enqueue(job(n))
    assert a.started == [] and marks.requests
    while len(a.started) < 3:
        marks.commit()
        assert all(n <= marks.watermark for n in a.started)  # never ahead of what is durable
    assert a.started == [10, 11, 12]
    d.enqueue(job(13))
    assert a.started == [10, 11, 12]
    marks.commit()
    assert a.started == [10, 11, 12, 13]


@pytest.mark.parametrize("closing_first", [True, False])
def test_close_stops_new_attempts_but_lets_open_ones_report(closing_first: bool) -> None:
    a = FakeTarget("a", limit=1)
    d, sink, _ = make(a)
    d.enqueue(job(1))
    d.enqueue(job(2))
    if closing_first:
        d.close()
    a.answer(Sent())
    if not closing_first:
        d.close()
    assert sink.sent == [1]
    assert a.started == ([1] if closing_first else [1, 2])


def test_a_target_added_at_run_time_takes_its_jobs() -> None:
    a = FakeTarget("a")
    d, sink, _ = make(a)
    d.enqueue(job(1, route=("later",)))
    assert sink.failed == [(1, Status.FAILED, "no target of the route is configured")]
    later = FakeTarget("later")
    d.add_target(later)
    d.enqueue(job(2, route=("later",)))
    later.answer(Sent())
    assert sink.sent == [2]
