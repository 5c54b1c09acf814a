"""A running engine (simulated carrier, real PostgreSQL and Redis) with the HTTP API on a real port.

`api` yields an `Api`: the stack, an httpx client on the server's base URL, account A (the harness'
"acme", funded, priced) with an all-permissions live key, and account B with its own key, price and
funds, for the isolation tests. `api.headers(...)` builds credentials for any key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import httpx
import pytest
import redis.asyncio as aioredis

from engine.admin.provision import add_funds, create_account, create_api_key, flat_tariff, set_prices
from engine.infra.settings import HttpSettings
from http_api.app import create_app
from http_api.server import serve_http
from tests.engine.harness import ALL_PREFIXES, Stack, StackOptions, running_stack
from tests.http_api.browser import browser, chromium  # noqa: F401 - fixtures for the browser tests


@dataclass
class Api:
    stack: Stack
    client: httpx.AsyncClient
    base_url: str
    key: str
    secret: str
    other_account: int
    other_key: str
    other_secret: str

    def headers(self, key: str | None = None, secret: str | None = None, **extra: str) -> dict[str, str]:
        return {"X-API-Key": key or self.key, "X-API-Secret": secret or self.secret, **extra}

    def other(self, **extra: str) -> dict[str, str]:
        return self.headers(self.other_key, self.other_secret, **extra)

    async def new_key(
        self, *, permissions: Sequence[str] = ("*",), live: bool = True, account: int | None = None
    ) -> dict[str, str]:
        key, secret = await create_api_key(
            self.stack.pool, account or self.stack.account_id, live=live, permissions=permissions
        )
        return self.headers(key, secret)


def sms(to: str = "+447700900123", body: str = "Hello", **extra: object) -> dict[str, object]:
    return {"to": to, "from": "Acme", "body": body, **extra}


@pytest.fixture
def http_settings() -> HttpSettings:
    return HttpSettings(host="127.0.0.1", port=0, rate_limit=1000.0, rate_burst=1000)


@pytest.fixture
def stack_options() -> StackOptions:
    return StackOptions()


@pytest.fixture
async def api(
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    http_settings: HttpSettings,
    stack_options: StackOptions,
) -> AsyncIterator[Api]:
    async with running_stack(database_url, redis_url, stack_options) as stack:
        redis = aioredis.Redis.from_url(redis_url)
        try:
            key, secret = await create_api_key(stack.pool, stack.account_id, name="main")
            other = await create_account(stack.pool, "globex")
            await add_funds(stack.pool, other, 50_000_000)
            await set_prices(stack.pool, other, flat_tariff(ALL_PREFIXES, 7_000))
            await stack.engine.routing.load()  # the new price list, now rather than at the next poll
            other_key, other_secret = await create_api_key(stack.pool, other, name="other")
            app = create_app(stack.engine, redis, prefix=redis_prefix, settings=http_settings)
            async with serve_http(app, http_settings.host, http_settings.port) as server:
                base_url = f"http://127.0.0.1:{server.port}"
                async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
                    yield Api(stack, client, base_url, key, secret, other, other_key, other_secret)
        finally:
            await redis.aclose()
