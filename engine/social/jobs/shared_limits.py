"""The platforms' rate windows shared by every node through Redis (limits.py keeps them per process).

    windows = SharedWindows(redis, namespace)
    wait = await windows.reserve(scope, rules, action)    # 0.0: the call's units are taken, everywhere
    used = await windows.used(rule, scope)                # units of the rule spent in its window now

One sliding log per (rule, scope key) — the connected account for "account" rules, the platform app for
"app" rules — as a Redis sorted set of one member per unit, scored by Redis' own clock (TIME, so the
nodes' clocks need not agree). One Lua script prunes every rule's log, answers the seconds until all of
them would allow the call, or takes its units from all of them at once: two nodes never both spend the
last unit of a window. `namespace` keeps deployments (and test databases) apart; nodes of one deployment
share it. The margin is limits.py's: a call is counted a second beyond its rule's window.

A dispatch target asks synchronously (`throttle`): `Grants` turns the asynchronous reservation into
answers it can give at once (engine/social/jobs/target.py). This module must never call a platform.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import redis.asyncio as aioredis

from engine.social.actions import Action
from engine.social.connector import RateRule, cost_of

# KEYS: one log per rule. ARGV: a unique token, then (window ms, limit, cost) per rule.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local longest = 0
for i, key in ipairs(KEYS) do
    local window = tonumber(ARGV[3 * i - 1])
    local limit = tonumber(ARGV[3 * i])
    local cost = tonumber(ARGV[3 * i + 1])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local used = redis.call('ZCARD', key)
    if used + cost > limit then
        local excess = used + cost - limit
        local wait = window
        if excess <= used then
            local oldest = redis.call('ZRANGE', key, excess - 1, excess - 1, 'WITHSCORES')
            wait = tonumber(oldest[2]) + window - now
        end
        if wait > longest then longest = wait end
    end
end
if longest > 0 then return longest end
for i, key in ipairs(KEYS) do
    local window = tonumber(ARGV[3 * i - 1])
    for unit = 1, tonumber(ARGV[3 * i + 1]) do
        redis.call('ZADD', key, now, ARGV[1] .. ':' .. unit)
    end
    redis.call('PEXPIRE', key, window)
end
return 0
"""
_USED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
"""


class SharedWindows:
    def __init__(self, redis: aioredis.Redis, namespace: str, *, margin: float = 1.0) -> None:
        self._redis = redis
        self.namespace = namespace
        self.margin = margin
        self._reserve = redis.register_script(_RESERVE)
        self._used = redis.register_script(_USED)
        self.waited = 0  # calls that had to wait for a window (for tests and stats)

    def _key(self, rule: RateRule, scope: tuple[str, str]) -> str:
        return f"{self.namespace}:{rule.name}:{scope[0] if rule.scope == 'account' else scope[1]}"

    def _window_ms(self, rule: RateRule) -> int:
        return int((rule.window_seconds + self.margin) * 1000)

    async def reserve(self, scope: tuple[str, str], rules: Sequence[RateRule], action: Action) -> float:
        """`scope`: (account key, app key). 0.0: the call may go now and its units are taken."""
        counted = [r for r in rules if cost_of(r, action) > 0]
        if not counted:
            return 0.0
        args: list[str | int] = [secrets.token_hex(8)]
        for rule in counted:
            args += [self._window_ms(rule), rule.limit, cost_of(rule, action)]
        wait_ms = int(await self._reserve(keys=[self._key(r, scope) for r in counted], args=args))
        if wait_ms > 0:
            self.waited += 1
        return wait_ms / 1000.0

    async def used(self, rule: RateRule, scope: tuple[str, str]) -> int:
        return int(await self._used(keys=[self._key(rule, scope)], args=[self._window_ms(rule)]))


class Grants:
    """A target's synchronous view of its jobs' reservations: `answer(job_id, now)` is 0.0 once the
    job's units are taken, else how long to wait (a reservation in flight wakes the loop when it is
    answered, through `wake`)."""

    PENDING = 30.0  # seconds to wait for an answer in flight: `wake` comes long before

    def __init__(self) -> None:
        self.granted: set[int] = set()
        self.pending: set[int] = set()
        self.denied_until: dict[int, float] = {}

    def answer(self, job_id: int, now: float) -> float | None:
        """0.0 (granted, taken now), a wait, or None: ask Redis."""
        if job_id in self.granted:
            self.granted.discard(job_id)
            return 0.0
        if job_id in self.pending:
            return self.PENDING
        until = self.denied_until.get(job_id)
        if until is not None and until > now:
            return until - now
        self.denied_until.pop(job_id, None)
        return None

    def asked(self, job_id: int) -> None:
        self.pending.add(job_id)

    def answered(self, job_id: int, wait: float, now: float) -> None:
        self.pending.discard(job_id)
        if wait <= 0:
            self.granted.add(job_id)
        else:
            self.denied_until[job_id] = now + wait
        if len(self.denied_until) > 10_000:  # jobs that left their queue without going (expired)
            self.denied_until = {j: t for j, t in self.denied_until.items() if t > now}

    def forget(self, job_id: int) -> None:
        self.granted.discard(job_id)
        self.denied_until.pop(job_id, None)
