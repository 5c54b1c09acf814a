"""The platforms' published rate windows, enforced before a call goes out (never discovered by 429s).

`RateLimiter.wait(scope, rules, action, now)` returns 0 and takes the call's units from every rule that
counts it, or the seconds until all of them would allow it (taking nothing). Each rule is a sliding
log per scope key — the connected account for "account" rules, the platform app for "app" rules — so a
burst of 1,000 DMs on one account leaves at 180 per 15 minutes whatever the order they came in. The
connector publishes the rules (engine/social/platforms/*/rules.py); the dispatch loop calls this
through each account target's `throttle`. Pure bookkeeping on an injected monotonic `now`: no I/O.
Per process: with a Redis URL the engine shares the windows across nodes instead (shared_limits.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from engine.social.actions import Action
from engine.social.connector import RateRule, cost_of


class _Log:
    __slots__ = ("entries", "used")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.used = 0

    def prune(self, now: float, window: float) -> None:  # `window`: the rule's, plus the margin
        entries = self.entries
        while entries and entries[0][0] <= now - window:
            self.used -= entries.popleft()[1]

    def wait(self, now: float, rule: RateRule, cost: int, margin: float) -> float:
        """Seconds until `cost` more units fit in the rule's window (0: now)."""
        window = rule.window_seconds + margin
        self.prune(now, window)
        if self.used + cost <= rule.limit:
            return 0.0
        excess = self.used + cost - rule.limit
        for at, units in self.entries:  # the window frees units as the oldest calls leave it
            excess -= units
            if excess <= 0:
                return at + window - now
        return window  # pragma: no cover - cost above the limit itself

    def take(self, now: float, cost: int) -> None:
        self.entries.append((now, cost))
        self.used += cost


class RateLimiter:
    """`margin`: seconds a call is counted beyond its rule's window — the platform starts its window when
    the call arrives, a little after we counted it, so a window freed here exactly on time could still
    be spent there."""

    def __init__(self, margin: float = 1.0) -> None:
        self.margin = margin
        self._logs: dict[tuple[str, str], _Log] = {}
        self.waited = 0  # calls that had to wait for a window (for tests and stats)

    def wait(self, scope: tuple[str, str], rules: Sequence[RateRule], action: Action, now: float) -> float:
        """`scope`: (account key, app key). 0: the call may go now and its units are taken."""
        logs = [(rule, self._log(rule, scope)) for rule in rules]
        longest = 0.0
        for rule, log in logs:
            longest = max(longest, log.wait(now, rule, cost_of(rule, action), self.margin))
        if longest > 0:
            self.waited += 1
            return longest
        for rule, log in logs:
            log.take(now, cost_of(rule, action))
        return 0.0

    def used(self, rule: RateRule, scope: tuple[str, str], now: float) -> int:
        """Units of `rule` spent in its window now (for the limits an account's API shows)."""
        log = self._log(rule, scope)
        log.prune(now, rule.window_seconds + self.margin)
        return log.used

    def _log(self, rule: RateRule, scope: tuple[str, str]) -> _Log:
        key = (rule.name, scope[0] if rule.scope == "account" else scope[1])
        log = self._logs.get(key)
        if log is None:
            log = self._logs[key] = _Log()
        return log
