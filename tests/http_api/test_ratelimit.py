"""The Redis token bucket on its own: shared between limiters (processes), exact under concurrency."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from http_api.ratelimit import RateLimiter, lease_size


async def test_two_processes_share_one_bucket_exactly(redis_url: str, redis_prefix: str) -> None:
    a, b = aioredis.Redis.from_url(redis_url), aioredis.Redis.from_url(redis_url)
    try:
        one, two = RateLimiter(a, redis_prefix), RateLimiter(b, redis_prefix)
        assert lease_size(0.01, 50) == 1  # a slow key is checked token by token: exact
        verdicts = await asyncio.gather(
            *(limiter.check("k", 0.01, 50) for _ in range(40) for limiter in (one, two))
        )
        assert sum(v.allowed for v in verdicts) == 50
        refused = [v for v in verdicts if not v.allowed]
        assert all(v.retry_after >= 1 and v.remaining == 0 for v in refused)
        assert (await one.check("other", 0.01, 50)).allowed  # buckets are per key
    finally:
        await a.aclose()
        await b.aclose()


async def test_leases_never_let_more_through_than_the_bucket_holds(redis_url: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        limiter = RateLimiter(client, redis_prefix)
        rate, burst = 400.0, 100
        assert lease_size(rate, burst) == 10
        started = time.monotonic()
        verdicts = await asyncio.gather(*(limiter.check("fast", rate, burst) for _ in range(300)))
        elapsed = time.monotonic() - started
        allowed = sum(v.allowed for v in verdicts)
        assert burst <= allowed <= burst + rate * elapsed + 1
        headers = verdicts[0].headers()
        assert headers["X-RateLimit-Limit"] == "400" and "Retry-After" not in headers
    finally:
        await client.aclose()
