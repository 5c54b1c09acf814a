"""Failed SMPP binds per source address: slowed, then refused for a while (password guessing).

Pure bookkeeping with the clock passed in (no sleeping, no I/O): the SMPP front asks `blocked(ip, now)`
before checking a bind, records each outcome, and waits `delay(ip, now)` before answering a failed one.
Failures count for `window` seconds; after `delay_after` of them each further failure is answered
`step` seconds later per failure (at most `max_delay`); after `block_after` the address is refused
outright, without looking at what it sends, for `block_seconds`. A successful bind does not wipe the
count (one known credential must not let an address go on guessing others).

Per engine process: several processes share no counts (each slows and blocks on its own).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class BindGuard:
    delay_after: int = 3
    step: float = 0.5
    block_after: int = 10  # 0: never block
    block_seconds: float = 300.0
    window: float = 600.0
    max_delay: float = 5.0
    max_addresses: int = 100_000  # bounded memory whatever the number of scanning addresses
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _blocked_until: dict[str, float] = field(default_factory=dict)

    def failures(self, ip: str, now: float) -> int:
        times = self._failures.get(ip)
        if times is None:
            return 0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[ip]
            return 0
        return len(times)

    def blocked(self, ip: str, now: float) -> float:
        """Seconds this address stays refused (0.0: not blocked)."""
        until = self._blocked_until.get(ip)
        if until is None:
            return 0.0
        if until <= now:
            del self._blocked_until[ip]
            return 0.0
        return until - now

    def failed(self, ip: str, now: float) -> bool:
        """Count a failed bind; True when it makes the address blocked."""
        if ip not in self._failures and len(self._failures) >= self.max_addresses:
            self._failures.pop(next(iter(self._failures)))  # the oldest address seen goes first
        times = self._failures.setdefault(ip, deque())
        times.append(now)
        if self.block_after and self.failures(ip, now) >= self.block_after:
            self._blocked_until[ip] = now + self.block_seconds
            self._failures.pop(ip, None)
            return True
        return False

    def delay(self, ip: str, now: float) -> float:
        """How long to hold the answer to a failed bind from this address."""
        beyond = self.failures(ip, now) - self.delay_after
        return min(self.max_delay, beyond * self.step) if beyond > 0 else 0.0
