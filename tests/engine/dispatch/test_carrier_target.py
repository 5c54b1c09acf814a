"""The SMS kind's target: the carrier's segments-per-second budget runs on the dispatch loop's clock."""

from __future__ import annotations

from engine.carriers.link import CarrierConnection, CarrierLink
from engine.carriers.receipts import ReceiptMatcher
from engine.dispatch.clock import ManualClock
from engine.dispatch.job import Job
from engine.dispatch.sms import CarrierTarget


def test_the_carrier_budget_refills_on_the_loops_clock() -> None:
    # Regression: the bucket was stamped with the wall clock and fed the monotonic one, so it never
    # refilled and every send after the first burst waited longer than the last (the demo's stall).
    clock = ManualClock(start=50.0)  # a monotonic clock far below any wall-clock time
    config = CarrierConnection(carrier="c", host="127.0.0.1", port=9, system_id="x", password="x",
                               throughput=100)  # fmt: skip
    target = CarrierTarget(CarrierLink(config), ReceiptMatcher(), clock)
    job = Job(id=1, kind="sms", account_id=1, lane="x", route=("c",))
    burst = 0
    while target.throttle(job, clock.now()) == 0:
        burst += 1
    assert burst == 10  # a tenth of a second's worth
    clock.advance(1.0)
    sent = 0
    while target.throttle(job, clock.now()) == 0:
        sent += 1
    assert sent == 10  # refilled (to its burst), not stuck in debt
    wait = target.throttle(job, clock.now())
    assert 0 < wait <= 0.01 + 1e-9  # the next segment is at most one slot away
