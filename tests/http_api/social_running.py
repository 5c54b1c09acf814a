"""A running engine with the X simulator and one connected X account, its HTTP API on a real port
(for the BulkAPIs and PostEverywhere surface tests; no tests here)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis

from engine.admin.provision import create_token_key
from engine.infra.settings import HttpSettings
from engine.social.simulation.x_api import XSimulator
from http_api.app import create_app
from http_api.bulkapis.plans import set_membership
from http_api.server import serve_http
from tests.engine.social.jobs_harness import SocialStack, social_stack, x_world


@dataclass
class SocialApi:
    social: SocialStack
    sim: XSimulator
    client: httpx.AsyncClient
    auth: dict[str, str]  # Authorization: Bearer bulk_ak_...

    @property
    def account_ref(self) -> str:
        return f"acc_{self.social.social_account_id}"


@contextlib.asynccontextmanager
async def social_api(
    database_url: str, redis_url: str, redis_prefix: str, *, packs: int = 1
) -> AsyncIterator[SocialApi]:
    async with XSimulator() as sim:
        x_world(sim)
        async with social_stack(database_url, redis_url, sim) as social:
            pool = social.stack.pool
            _, token = await create_token_key(pool, social.account_id, rate_limit=1000.0, rate_burst=1000)
            await set_membership(pool, social.account_id, "growth", social_packs=packs)
            settings = HttpSettings(host="127.0.0.1", port=0, rate_limit=1000.0, rate_burst=1000)
            redis = aioredis.Redis.from_url(redis_url)
            try:
                app = create_app(social.stack.engine, redis, prefix=redis_prefix, settings=settings)
                async with serve_http(app, settings.host, settings.port) as server:
                    base = f"http://127.0.0.1:{server.port}"
                    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
                        yield SocialApi(social, sim, client, {"Authorization": f"Bearer {token}"})
            finally:
                await redis.aclose()
