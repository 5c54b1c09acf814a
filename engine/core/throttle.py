"""Token buckets with the clock passed in: per-bind submit rates and per-carrier segment rates."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`. Pure: the caller passes `now` (seconds)."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float | None = None, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def try_take(self, now: float, tokens: float = 1.0) -> bool:
        """Take `tokens` if they are there; False (and take nothing) if not."""
        self._refill(now)
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    def delay(self, now: float, tokens: float = 1.0) -> float:
        """Seconds until `tokens` will be there (0 if they are now). Takes nothing."""
        self._refill(now)
        missing = tokens - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, now: float, tokens: float = 1.0) -> float:
        """Take `tokens`, going into debt if needed; return how long the caller must wait before sending."""
        self._refill(now)
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
