# ruff: noqa: E501 - a benchmark script, its calls read better on one line
"""Social jobs through the one dispatch loop while SMS runs: social jobs/s, and what they cost SMS.

    .venv/bin/python -m benchmarks.bench_social [--seconds 10] [--social-concurrency 32] [--sms-window 100]

One process: the carrier simulator, the X simulator (its rate windows lifted, and the connector's rules
with them: this measures the loop, not X's 200 posts per 15 minutes), one engine with one connected X
account, and an SMPP client submitting as fast as its window allows. Phase 1 runs SMS alone for
`--seconds`; phase 2 runs the same SMS load and, beside it, `--social-concurrency` callers each
submitting posts and DMs through `SocialJobs.submit` and waiting for them to be final. Prints SMS
submits/s of both phases (the effect on SMS), social jobs/s final, and their p50/p99 accept-to-final
latency. Uses SMSENGINE_DATABASE_URL / SMSENGINE_REDIS_URL when set (a fresh database is created and
dropped), embedded servers otherwise. Results belong in benchmarks/RESULTS.md once run on a quiet box.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg
import msgspec
import uvloop

from benchmarks.scratch import bench_services, scratch_database
from engine.admin.provision import (
    add_carrier,
    add_funds,
    create_account,
    flat_tariff,
    set_prices,
    set_rates,
    set_smpp_credentials,
)
from engine.app import Engine
from engine.carriers.link import CarrierConnection
from engine.infra.schema import apply_migrations
from engine.infra.services import ServiceUrls
from engine.infra.settings import load_settings
from engine.simulation.carrier import CarrierSimulator
from engine.simulation.config import SimulatorConfig
from engine.social.accounts.sealing import KeyRing
from engine.social.actions import Action
from engine.social.simulation.connect import connect_x_account
from engine.social.simulation.x_api import XSimulator
from smpp.client import SmppClient
from smpp.constants import CommandStatus
from smpp.pdu import SubmitSm, SubmitSmResp

PREFIXES = [str(d) for d in range(1, 10)]


async def sms_load(port: int, window: int, stop: asyncio.Event) -> int:
    client = SmppClient("127.0.0.1", port, system_id="bench", password="bench", window=window,
                        enquire_link_interval=None)  # fmt: skip
    client.start()
    await asyncio.wait_for(client.wait_bound(), 30)
    accepted = 0

    async def one_sender(n: int) -> None:
        nonlocal accepted
        i = 0
        while not stop.is_set():
            i += 1
            pdu = SubmitSm(source_addr="Bench", source_addr_ton=5, destination_addr=f"4477{n:03d}{i:05d}",
                           dest_addr_ton=1, dest_addr_npi=1, short_message=b"bench message")  # fmt: skip
            resp = await client.request(pdu)
            if isinstance(resp, SubmitSmResp) and resp.command_status == CommandStatus.ESME_ROK:
                accepted += 1

    senders = [asyncio.create_task(one_sender(n)) for n in range(window)]
    await stop.wait()
    await asyncio.gather(*senders, return_exceptions=True)
    await client.close()
    return accepted


async def social_load(engine: Engine, account: int, social_id: int, peer: str, callers: int,
                      stop: asyncio.Event) -> list[float]:  # fmt: skip
    assert engine.social is not None
    jobs = engine.social.jobs
    latencies: list[float] = []

    async def caller(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            started = time.monotonic()
            if i % 2:
                sub = await jobs.submit(account, social_id, Action.CREATE_POST, {"text": f"bench {n} {i}"})
            else:
                sub = await jobs.submit(
                    account, social_id, Action.SEND_DM, {"recipient_id": peer, "text": f"dm {n} {i}"}
                )
            view = await jobs.wait(account, sub.job_id, within=30)
            if view.status == "succeeded":
                latencies.append(time.monotonic() - started)

    tasks = [asyncio.create_task(caller(n)) for n in range(callers)]
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies


async def bench(args: argparse.Namespace, database_url: str, redis_url: str) -> None:
    async with CarrierSimulator(SimulatorConfig(max_recorded=0)) as carrier, XSimulator() as x:
        x.world.add_user("demo")
        peer = x.world.add_user("alice")
        x.world.register_app("bench-app", "bench-secret")
        x.limits = {key: (10**9, 900) for key in x.limits}
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        await add_carrier(pool, CarrierConnection(carrier="sim", host="127.0.0.1", port=carrier.port,
                                                  system_id="engine", password="pw", binds=2, window_size=100,
                                                  throughput=100_000))  # fmt: skip
        await set_rates(pool, "sim", flat_tariff(PREFIXES, 2_000))
        account = await create_account(pool, "bench")
        await add_funds(pool, account, 10**15)
        await set_smpp_credentials(pool, account, "bench", "bench", throughput=1_000_000)
        await set_prices(pool, account, flat_tariff(PREFIXES, 4_000))
        await pool.close()
        settings = load_settings(None, env={}, smpp={"port": 0}, database={"pool_max": 12}, social={
            "x_api_base_url": x.base_url, "x_authorize_url": x.base_url + "/i/oauth2/authorize",
            "x_client_id": "bench-app", "x_client_secret": "bench-secret",
            "encryption_keys": KeyRing.new_entry("k1"), "poll_interval_seconds": 0,
        })  # fmt: skip
        async with Engine.start(settings, ServiceUrls(database_url, redis_url)) as engine:
            assert engine.social is not None
            for link in engine.links.values():
                await link.wait_all_bound()
            engine.refresh_health()
            connector = engine.social.x
            connector.rate_rules = tuple(
                msgspec.structs.replace(r, limit=10**9) for r in connector.rate_rules
            )
            record = await connect_x_account(engine.social, account, x, username="demo")

            async def phase(with_social: bool) -> tuple[int, list[float], float]:
                stop = asyncio.Event()
                started = time.monotonic()
                sms = asyncio.create_task(sms_load(engine.smpp_port, args.sms_window, stop))
                social = (
                    asyncio.create_task(social_load(engine, account, record.account.id, peer.id,
                                                    args.social_concurrency, stop))
                    if with_social else None
                )  # fmt: skip
                await asyncio.sleep(args.seconds)
                stop.set()
                sent = await sms
                latencies = await social if social is not None else []
                return sent, latencies, time.monotonic() - started

            alone, _, t1 = await phase(False)
            print(f"SMS alone:        {alone / t1:9.0f} submits/s")
            mixed, latencies, t2 = await phase(True)
            print(
                f"SMS with social:  {mixed / t2:9.0f} submits/s ({100 * (mixed / t2) / max(1, alone / t1) - 100:+.1f}%)"
            )
            if latencies:
                q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
                print(f"social jobs:      {len(latencies) / t2:9.1f} final/s  accept-to-final p50 "
                      f"{1000 * q[49]:.0f} ms, p99 {1000 * q[98]:.0f} ms ({len(latencies)} jobs)")  # fmt: skip
            else:
                print("social jobs:      none finished")


async def main_async(args: argparse.Namespace) -> None:
    with bench_services("bench-social") as urls:
        async with scratch_database(urls.database_url) as url:
            await bench(args, url, urls.redis_url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--social-concurrency", type=int, default=32)
    parser.add_argument("--sms-window", type=int, default=100)
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
