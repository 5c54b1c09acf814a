"""The engine's CPU per message, stage by stage, inside one process: where the microseconds go.

    .venv/bin/python -m benchmarks.bench_stages [--messages 20000] [--batch 200]

Starts a real engine (real PostgreSQL, carriers unreachable so nothing is sent) and drives its stages
directly with synthetic traffic, timing each with the process's CPU clock (so other work on the machine
disturbs it far less than a throughput figure): intake (validate, encode, segment, route, price),
accept (the group commit's batch: rows and money), the lifecycle (a submit_sm_resp and its receipt in the
same batch: the common case), the customer's receipt deliver_sm (built and encoded), and the SMPP codec
work a message costs on the wire. Prints microseconds per message for each; their sum is a floor for
the end-to-end figure of bench_e2e (which adds sockets, the event loop and the rest).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import asyncpg
import uvloop

from benchmarks.bench_e2e import PREFIXES, cpu_seconds
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
from engine.carriers.id_formats import normalise
from engine.carriers.link import CarrierConnection
from engine.carriers.receipts import ReceiptIn
from engine.core.intake import PreparedMessage, SubmitRequest
from engine.core.lifecycle import Submitted
from engine.core.status import Status
from engine.dispatch.sms import PartSubmitted
from engine.infra.schema import apply_migrations
from engine.infra.services import ServiceUrls
from engine.infra.settings import load_settings
from engine.outbox.deliveries import Delivery, DeliveryOutbox
from engine.outbox.forwarder import delivery_pdu
from smpp.codec import decode, encode
from smpp.pdu import DeliverSm, DeliverSmResp, SubmitSm, SubmitSmResp


def cpu() -> float:
    return time.process_time()


class _Capture:
    """The forwarder's outbox for the lifecycle stage: rows stored as usual, the pushes kept, not sent."""

    def __init__(self, outbox: DeliveryOutbox, kept: list[Delivery]) -> None:
        self._outbox, self._kept = outbox, kept

    async def store(self, conn: asyncpg.Connection, deliveries: list[Delivery]) -> None:
        await self._outbox.store(conn, deliveries)

    def push(self, deliveries: list[Delivery]) -> None:
        self._kept.extend(deliveries)


class ServerClock:
    """CPU time of the PostgreSQL backends serving our database (this engine's connections)."""

    def __init__(self, pool: asyncpg.Pool, database: str) -> None:
        self._pool, self._database = pool, database

    async def read(self) -> float:
        pids = [r["pid"] for r in await self._pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", self._database)]  # fmt: skip
        total = 0.0
        for pid in pids:
            try:
                total += cpu_seconds(pid)
            except (OSError, IndexError, ValueError):
                pass
        return total


async def stages(args: argparse.Namespace, database_url: str, redis_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    await add_carrier(pool, CarrierConnection(carrier="sim", host="127.0.0.1", port=9, system_id="x",
                                              password="x", binds=1, throughput=1_000_000))  # fmt: skip
    await set_rates(pool, "sim", flat_tariff(PREFIXES, 2_000))
    account = await create_account(pool, "bench")
    await add_funds(pool, account, 10**15)
    await set_smpp_credentials(pool, account, "bench", "bench", throughput=1_000_000)
    await set_prices(pool, account, flat_tariff(PREFIXES, 4_000))
    settings = load_settings(None, env={}, smpp={"port": 0}, database={"pool_max": 8})
    n, batch = args.messages, args.batch
    async with Engine.start(settings, ServiceUrls(database_url, redis_url)) as engine:
        engine.dispatcher.close()  # nothing is sent: the stages below are driven by hand
        engine._health = engine.all_up  # as if the carrier were bound: routing takes its first choice
        requests = [
            SubmitRequest(account_id=account, channel="smpp", system_id="bench", source="Bench", source_ton=5,
                          destination=f"44770{i:07d}", dest_ton=1, dest_npi=1,
                          text=f"Your verification code is {i % 1_000_000:06d}.", registered_delivery=1)
            for i in range(n)
        ]  # fmt: skip
        profile = _profiler(args.profile)
        t = cpu()
        prepared: list[PreparedMessage] = [engine.intake.prepare(r, time.time()) for r in requests]
        report("intake.prepare", cpu() - t, n)
        _show(profile, "intake")

        profile = _profiler(args.profile)
        server = ServerClock(pool, database_url.rsplit("/", 1)[1])
        t, st = cpu(), await server.read()
        for i in range(0, n, batch):
            await engine.acceptor._commit(prepared[i : i + batch])
        _show(profile, "accept")
        report(f"accept (batch of {batch})", cpu() - t, n, await server.read() - st)

        items: list[Submitted | ReceiptIn] = []
        for m in prepared:
            carrier_id = f"{m.id & 0xFFFFFFFF:08x}"
            key = normalise(carrier_id, "text")
            ref = engine.matcher.expect("sim", key, m.id, 0, 1)
            part = PartSubmitted(0, "sim", carrier_id, key, ref)
            items.append(Submitted(m.id, 0, 2_000, "sim", (part,)))
            engine.matcher.match("sim", key)
            items.append(ReceiptIn("sim", key, Status.DELIVERED, 2, None, "DELIVRD", "000", ref))
        delivered: list[Delivery] = []
        engine.lifecycle.outbox = _Capture(engine.forwarder, delivered)
        profile = _profiler(args.profile)
        t, st = cpu(), await server.read()
        for i in range(0, len(items), 2 * batch):
            await engine.lifecycle._lanes[0]._commit_batch(items[i : i + 2 * batch])
        _show(profile, "lifecycle")
        report(f"lifecycle: resp + receipt (batch of {batch})", cpu() - t, n, await server.read() - st)
        ids = [d.id for d in delivered]
        t, st = cpu(), await server.read()
        for i in range(0, len(ids), batch):
            await engine.forwarder._record([(d, True, "") for d in ids[i : i + batch]])
        report(
            f"receipt acknowledged by the customer (batch of {batch})", cpu() - t, n, await server.read() - st
        )

        t = cpu()
        frames = [encode(delivery_pdu(d)) for d in delivered]
        report("receipt deliver_sm to the customer, built + encoded", cpu() - t, len(frames))

        submit = encode(SubmitSm(7, source_addr="Bench", source_addr_ton=5, destination_addr="447700900123",
                                 dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1,
                                 short_message=b"Your verification code is 492031."))  # fmt: skip
        t = cpu()
        for _ in range(n):
            decode(submit)  # the customer's submit_sm
            encode(SubmitSmResp(7, message_id="0123456789abcdef"))  # our answer
            encode(decode(submit))  # our submit_sm to the carrier
            decode(encode(SubmitSmResp(8, message_id="1a2b3c4d")))  # the carrier's answer
            decode(frames[0])  # the carrier's receipt (about the same frame)
            encode(DeliverSmResp(9))  # our answer to it
            decode(encode(DeliverSmResp(10)))  # the customer's answer to our receipt
        report("SMPP codec: the 7 PDU encodes/decodes of a message", cpu() - t, n)
        await pool.execute("DELETE FROM deliveries")
    await pool.close()
    assert all(isinstance(d, object) for d in delivered) and DeliverSm


def _profiler(on: bool) -> cProfile.Profile | None:
    if not on:
        return None
    profile = cProfile.Profile()
    profile.enable()
    return profile


def _show(profile: cProfile.Profile | None, stage: str) -> None:
    if profile is None:
        return
    profile.disable()
    print(f"--- profile of {stage}")
    pstats.Stats(profile).sort_stats("tottime").print_stats(18)


def report(stage: str, seconds: float, count: int, server: float | None = None) -> None:
    extra = "" if server is None else f"   PostgreSQL {server * 1e6 / max(1, count):6.1f} us/message"
    print(f"{stage:58s} {seconds * 1e6 / max(1, count):7.1f} us/message{extra}", flush=True)


async def main_async(args: argparse.Namespace) -> None:
    with bench_services("bench-stages") as urls:
        async with scratch_database(urls.database_url) as url:
            await stages(args, url, urls.redis_url)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each stage")
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
