"""A running app for the Xquik surface (seed 002) tests, shared by a module's tests (module-scoped).

    pytestmark = pytest.mark.asyncio(loop_scope="module")

    async def test_something(xq: Xq) -> None:
        await xq.grant(1000)                                     # credits, as a settled top-up would
        body = await xq.call("GET", "/account", 200)             # path relative to /xquik/api/v1
        r = await xq.client.get(xq.url("/credits"), headers=xq.session)   # the user's session (JWT)

`xq` has: the engine stack (real PostgreSQL, Redis), the X simulator (engine/social/simulation/x_api.py)
with the user "demo" connected to the Xquik account (`xq.social_account_id`, `xq.x_user_id`) and
"alice" as a peer (`xq.peer_id`), a Stripe stand-in wired to engine/payments (`xq.standin`; its
webhooks reach the app), a signed-in owner (`xq.session`: Authorization: Bearer <JWT>) and one
`xq_` key (`xq.key`, `xq.auth`: x-api-key). `await xq.new_key()` mints another; `await
xq.ledger_ok()` runs `smsengine ledger check`'s checks (`await xq.smsengine("ledger", "check")` the
command itself). The account starts with no credit record.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
import redis.asyncio as aioredis

from engine.admin.ledger import check_engine_ledger
from engine.app import Engine
from engine.infra.settings import HttpSettings
from engine.simulation.stripe_standin import StripeStandIn
from engine.social.simulation.connect import connect_x_account
from engine.social.simulation.x_api import XSimulator
from engine.xquik import credits
from engine.xquik.keys import create_key
from http_api.app import create_app
from http_api.server import serve_http
from http_api.xquik.dialect import PREFIX
from tests.conftest import DatabaseFactory, ServiceUrls, with_database
from tests.engine.harness import Stack, StackOptions, running_stack
from tests.engine.social.jobs_harness import social_settings, x_world

PASSWORD = "Xquik-Surface-Tests-42!"


@dataclass
class Xq:
    stack: Stack
    sim: XSimulator
    standin: StripeStandIn
    client: httpx.AsyncClient
    base_url: str  # the server's root; the surface is at base_url + PREFIX
    account_id: int
    key: str  # xq_...
    session: dict[str, str]  # Authorization: Bearer <access token> of the account's owner
    social_account_id: int
    x_user_id: str
    peer_id: str
    database_url: str  # this module's own database (for `smsengine ... ` commands run against it)
    redis_url: str
    redis_prefix: str

    @property
    def auth(self) -> dict[str, str]:
        return {"x-api-key": self.key}

    @property
    def pool(self) -> asyncpg.Pool:
        """The engine's own pool (the one the app's handlers use, and auto top-up is installed on)."""
        return self.stack.engine.pool

    @property
    def engine(self) -> Engine:
        return self.stack.engine

    def url(self, path: str) -> str:
        return PREFIX + path

    async def call(
        self, method: str, path: str, status: int, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        """One request to the surface with `xq.auth` (or `headers`); asserts the status, returns JSON."""
        r = await self.client.request(method, self.url(path), headers=headers or self.auth, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def grant(self, amount: int) -> credits.CreditInfo:
        return await credits.grant(self.pool, self.account_id, amount, uuid.uuid4().hex)

    async def new_key(self, name: str = "") -> str:
        return (await create_key(self.pool, self.account_id, name)).full_key

    async def ledger_ok(self) -> None:
        async with self.pool.acquire() as conn:
            report = await check_engine_ledger(conn)
        assert report.ok, report

    async def smsengine(self, *args: str) -> tuple[int, str]:
        """Run the `smsengine` command against this module's database: (exit status, its output)."""
        env = dict(os.environ, SMSENGINE_DATABASE_URL=self.database_url)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "smsengine.cli", *args, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return int(proc.returncode or 0), out.decode()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def xq(service_urls: ServiceUrls, database_factory: DatabaseFactory) -> AsyncIterator[Xq]:
    name = database_factory.take()
    database_url = with_database(service_urls.database_url, name)
    prefix = f"smsengine-test:{uuid.uuid4().hex[:12]}:"
    standin = StripeStandIn(api_key="sk_test_standin", webhook_secret="whsec_standin")
    async with serve_http(standin.app(), "127.0.0.1", 0) as stripe_server, XSimulator() as sim:
        standin.base_url = f"http://127.0.0.1:{stripe_server.port}"
        me, peer = x_world(sim)
        payments = {
            "stripe_api_key": standin.api_key, "stripe_api_base": standin.base_url,
            "stripe_webhook_secret": standin.webhook_secret, "auto_topup_interval": 3600.0,
        }  # fmt: skip
        options = StackOptions(settings={"social": social_settings(sim), "payments": payments})
        async with running_stack(database_url, service_urls.redis_url, options) as stack:
            identity, social = stack.engine.identity, stack.engine.social
            assert identity is not None and social is not None
            signed = await identity.register(
                f"owner-{uuid.uuid4().hex[:8]}@example.com", PASSWORD, "Owner", "Xquik Tests Ltd", "USD"
            )
            account_id = signed.user.account_id
            record = await connect_x_account(social, account_id, sim, username="demo")
            key = (await create_key(stack.pool, account_id, "tests")).full_key
            redis = aioredis.Redis.from_url(service_urls.redis_url)
            http = HttpSettings(host="127.0.0.1", port=0, rate_limit=1000.0, rate_burst=1000)
            try:
                app = create_app(stack.engine, redis, prefix=prefix, settings=http)
                async with serve_http(app, "127.0.0.1", 0) as server:
                    base = f"http://127.0.0.1:{server.port}"
                    standin.webhook_url = f"{base}/v1/billing/stripe/webhook"
                    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
                        session = {"Authorization": f"Bearer {signed.tokens.access.token}"}
                        yield Xq(
                            stack, sim, standin, client, base, account_id, key, session,
                            record.account.id, me, peer, database_url, service_urls.redis_url, prefix,
                        )  # fmt: skip
            finally:
                await redis.aclose()
    database_factory.give_back(name)
