"""Time for the dispatch loop, passed in: the event loop's clock in production, a manual one in tests.

`now()` is monotonic seconds (timers, backoff, rate limits); `wall()` is seconds since the epoch
(schedules and validity periods, which customers give as dates). `call_at(when, callback)` runs the
callback at monotonic time `when`. `ManualClock` runs nothing until the test advances it, so dispatcher
tests wait for no real time at all.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def wall(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer: ...


class LoopClock:
    """The running event loop's clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()

    def now(self) -> float:
        return self._loop.time()

    def wall(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return self._loop.call_at(when, callback)


class _ManualTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when told to; due callbacks run in time order, in `advance`."""

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_767_225_600.0) -> None:
        self._now = start
        self._wall_offset = wall_offset - start  # wall() starts at 2026-01-01T00:00:00Z by default
        self._timers: list[tuple[float, int, _ManualTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer(when, callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, running every callback that falls due on the way."""
        until = self._now + seconds
        while self._timers and self._timers[0][0] <= until:
            when, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, when)
            if not timer.cancelled:
                timer.callback()
        self._now = until

    @property
    def pending(self) -> int:
        return sum(1 for _, _, t in self._timers if not t.cancelled)
