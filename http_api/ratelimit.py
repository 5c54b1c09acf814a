"""Per-API-key token buckets in Redis, shared by every engine process.

One Lua script reads each bucket, refills it for the time elapsed (Redis' own clock, so processes with
skewed clocks agree), takes tokens if there are some and writes it back: atomic, one round trip. Checks
made while a round trip is in flight go together in the next call of the script. Keys of one call may
sit on different slots: this needs a single Redis (or one shard per deployment), not Redis Cluster.

Leases: a process asks Redis for up to `lease_size(rate, burst)` tokens at once (about 1/20 of a second
of the key's rate, at most a tenth of its burst, at least one) and spends them locally for at most
LEASE_SECONDS; unspent tokens then lapse. A fast key thus costs a Redis round trip per few dozen requests
instead of one each, and the limit is never exceeded: tokens are only ever taken from the shared bucket,
a lapsed lease can only make the limit stricter. Keys with small limits get leases of one token: exact.

If Redis cannot be reached the request is let through and the failure logged: a broken limiter must not
stop customers' traffic (invariant 4 of the brief). This module must never decide who the caller is.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

log = structlog.get_logger("http_api")

LEASE_SECONDS = 1.0

# KEYS[i] is a bucket; ARGV[3i-2], ARGV[3i-1], ARGV[3i] its rate (tokens/s), burst, and how many tokens
# this check would like (at least one is needed to pass). Returns {now, taken_1, tokens_1, wait_1, ...}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {tostring(now)}
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local want = tonumber(ARGV[3 * i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local tokens = tonumber(state[1]) or burst
  local ts = tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  local taken = 0
  local wait = 0
  if tokens >= 1 then
    taken = math.min(want, math.floor(tokens))
    tokens = tokens - taken
  else
    wait = (1 - tokens) / rate
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  out[#out + 1] = taken
  out[#out + 1] = tostring(tokens)
  out[#out + 1] = tostring(wait)
end
return out
"""


def lease_size(rate: float, burst: int) -> int:
    return max(1, min(int(rate / 20), burst // 10))


class Verdict(msgspec.Struct, frozen=True):
    allowed: bool
    limit: float
    remaining: int
    reset_at: int  # unix seconds when the bucket is full again
    retry_after: int  # seconds, when refused

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": f"{self.limit:g}",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


@dataclass
class _Lease:
    tokens: int  # still spendable here
    expires: float  # monotonic
    rate: float
    burst: int
    shared: int  # tokens left in the shared bucket when it was granted
    reset_at: int


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix + "http:rl:"
        self._script = redis.register_script(_SCRIPT)
        self._waiting: list[tuple[str, float, int, asyncio.Future[Verdict]]] = []
        self._flushing = False
        self._leases: dict[str, _Lease] = {}

    async def check(self, key: str, rate: float, burst: int) -> Verdict:
        lease = self._leases.get(key)
        if lease is not None and lease.tokens > 0 and lease.rate == rate and lease.burst == burst:
            if lease.expires > time.monotonic():
                lease.tokens -= 1
                return Verdict(True, rate, lease.shared + lease.tokens, lease.reset_at, 0)
            del self._leases[key]
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, rate, burst, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                await self._run(batch)
        finally:
            self._flushing = False

    async def _run(self, batch: list[tuple[str, float, int, asyncio.Future[Verdict]]]) -> None:
        # One script argument per key, however many of its checks wait: each needs a token, and the
        # lease is asked for once (asking once per check would drain a busy key's bucket into leases).
        groups: dict[str, list[tuple[float, int, asyncio.Future[Verdict]]]] = {}
        for key, rate, burst, future in batch:
            groups.setdefault(key, []).append((rate, burst, future))
        keys = [self._prefix + key for key in groups]
        args: list[float] = []
        for checks in groups.values():
            rate, burst, _ = checks[-1]
            args += (rate, burst, len(checks) + lease_size(rate, burst) - 1)
        try:
            reply = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            log.warning("rate limiter unavailable: letting requests through", error=repr(exc))
            reset = int(time.time())
            for _, rate, burst, future in batch:
                if not future.done():
                    future.set_result(Verdict(True, rate, burst, reset, 0))
            return
        at = float(reply[0])
        now = time.monotonic()
        for i, (key, checks) in enumerate(groups.items()):
            taken, tokens, wait = int(reply[1 + 3 * i]), float(reply[2 + 3 * i]), float(reply[3 + 3 * i])
            rate, burst, _ = checks[-1]
            reset_at = math.ceil(at + (burst - tokens) / rate)
            spare = taken - len(checks)
            if spare > 0:
                lease = self._leases.get(key)
                if lease is not None and lease.expires > now and lease.rate == rate and lease.burst == burst:
                    lease.tokens += spare
                    lease.shared, lease.reset_at = int(tokens), reset_at
                else:
                    self._leases[key] = _Lease(spare, now + LEASE_SECONDS, rate, burst, int(tokens), reset_at)
            local = self._leases.get(key)
            remaining = int(tokens) + (local.tokens if local is not None else 0)
            # Tokens go to the checks in arrival order; a refused one waits at least for the next token.
            retry_after = max(1, math.ceil(wait or 1 / rate))
            for n, (_, _, future) in enumerate(checks):
                if not future.done():
                    future.set_result(Verdict(n < taken, rate, remaining, reset_at, retry_after))
