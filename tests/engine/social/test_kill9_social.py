"""kill -9 of the engine while social jobs are in flight: after a restart every accepted post and DM is
on the platform exactly once (a job caught mid-call is looked for on X before it is sent again), every
job succeeded, each was paid once, and `ledger check` is clean."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from billing.check import format_report
from engine.admin.ledger import check_engine_ledger
from engine.admin.provision import add_funds, create_account
from engine.social.accounts.sealing import KeyRing
from engine.social.accounts.store import AppCredentials, PgAccountStore
from engine.social.platforms.x.connector import XConnector
from engine.social.platforms.x.oauth import XOAuth
from engine.social.simulation.common import Faults
from engine.social.simulation.x_api import XSimulator
from tests.engine.social.jobs_harness import x_world
from tests.engine.test_kill9 import free_port
from tests.processes import started

pytestmark = pytest.mark.slow
COUNT = 25


@contextlib.asynccontextmanager
async def child(env: dict[str, str], *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    async with started(sys.executable, "-m", "tests.engine.social.kill9_child", *args, env=env) as process:
        yield process


async def test_kill_9_mid_call_publishes_each_post_once(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    # every call takes 40-120 ms at X, so several are in flight (sent, not yet answered) at the kill
    async with XSimulator(faults=Faults(latency_ms=40, latency_max_ms=120, seed=7)) as sim:
        me, peer = x_world(sim)
        sim.world.authorizing_user = "demo"
        keys = KeyRing.new_entry("k1")
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        account = await create_account(pool, "acme")
        await add_funds(pool, account, 1_000_000_000)
        store = PgAccountStore(pool, KeyRing.parse(keys))
        app = AppCredentials(id=None, platform="x", client_id="engine-app", client_secret="engine-secret")
        oauth = XOAuth(
            api_base_url=sim.base_url, authorize_url=sim.base_url + "/i/oauth2/authorize", default_app=app
        )
        start = await oauth.begin(store, account_id=account, redirect_uri="https://app.example/cb")
        async with httpx.AsyncClient() as browser:
            location = (await browser.get(start.url)).headers["location"]
        code = httpx.URL(location).params["code"]
        connector = XConnector(base_url=sim.base_url)
        record = await oauth.complete(store, connector, state=start.state, code=code)
        await oauth.aclose()
        await connector.aclose()
        env = dict(
            os.environ, SMSENGINE_DATABASE_URL=database_url, SMSENGINE_REDIS_URL=redis_url,
            SMSENGINE_SMPP_PORT=str(free_port()), SMSENGINE_HTTP_PORT="0", SMSENGINE_DATA_DIR=str(tmp_path),
            SMSENGINE_LOG_LEVEL="warning", SMSENGINE_SOCIAL_X_API_BASE_URL=sim.base_url,
            SMSENGINE_SOCIAL_X_CLIENT_ID="engine-app", SMSENGINE_SOCIAL_X_CLIENT_SECRET="engine-secret",
            SMSENGINE_SOCIAL_ENCRYPTION_KEYS=keys, SMSENGINE_SOCIAL_RETRY_BACKOFF_SECONDS="0.05",
            KILL9_ACCOUNT=str(account), KILL9_SOCIAL=str(record.account.id), KILL9_PEER=peer,
        )  # fmt: skip
        accepted: list[int] = []
        async with child(env, "submit", str(COUNT)) as first:
            assert first.stdout is not None
            async with asyncio.timeout(60):
                while len(accepted) < 2 * COUNT:
                    line = await first.stdout.readline()
                    assert line, "the engine exited"
                    if line.startswith(b"accepted "):
                        accepted += [int(x) for x in line.split()[1:]]
                while len(sim.world.posts) < COUNT // 2:  # noqa: ASYNC110 - the platform is mid-way
                    await asyncio.sleep(0.01)
            first.send_signal(signal.SIGKILL)
            await first.wait()
        in_flight = await pool.fetchval("SELECT count(*) FROM social_jobs WHERE status = 'sending'")
        assert in_flight > 0  # the kill did catch jobs mid-call (or marked, about to go)

        async with child(env, "idle"):
            async with asyncio.timeout(90):
                sql = "SELECT count(*) FROM social_jobs WHERE id = ANY($1::bigint[]) AND final_at IS NOT NULL"
                while await pool.fetchval(sql, accepted) < len(accepted):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        rows = await pool.fetch(
            "SELECT status, error_code, money, settle_batch FROM social_jobs WHERE id = ANY($1::bigint[])",
            accepted,
        )
        assert {(r["status"], r["error_code"], r["money"]) for r in rows} == {("succeeded", None, "captured")}
        posts = sorted(p.text for p in sim.world.posts.values() if p.author_id == me)
        assert posts == sorted(f"post {n}" for n in range(COUNT))
        dms = sorted(e.text for e in sim.world.dm_events_of(me) if e.sender_id == me)
        assert dms == sorted(f"dm {n}" for n in range(COUNT))
        async with pool.acquire() as conn:
            report = await check_engine_ledger(conn)
        assert report.ok and (report.items_checked or 0) >= len(accepted), format_report(report)
        await pool.close()
