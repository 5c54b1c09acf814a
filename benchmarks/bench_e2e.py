"""End to end with receipts: customer binds -> engine -> simulated carrier -> receipts back to customers.

    .venv/bin/python -m benchmarks.bench_e2e [--binds 4] [--window 100] [--messages 50000] [--rate 0]

Three processes on one box, as the issue asks: the simulated carrier (`smsengine simulate-carrier`), the
engine (`smsengine run`, durable path: group commit into PostgreSQL), and this load generator with
`--binds` customer transceiver binds at `--window`. `--rate R` paces submissions at R msgs/s (for the
latency target at 5,000 msgs/s); 0 sends as fast as the windows allow. Uses SMSENGINE_DATABASE_URL /
SMSENGINE_REDIS_URL when set (a fresh database is created and dropped), embedded servers otherwise.

Prints: accepted msgs/s, end-to-end msgs/s (receipts returned), submit_sm_resp p50/p99, receipts lost
(must be 0), the engine's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import uvloop

from engine.admin.provision import (
    add_carrier,
    add_funds,
    create_account,
    flat_tariff,
    set_prices,
    set_rates,
    set_smpp_credentials,
)
from engine.carriers.link import CarrierConnection
from engine.infra.schema import apply_migrations
from engine.infra.services import provide_services
from smpp.client import SmppClient
from smpp.connection import SmppConnection
from smpp.constants import CommandStatus, Tag
from smpp.pdu import DeliverSm, Pdu, SubmitSm, SubmitSmResp

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = [str(d) for d in range(1, 10)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def wait_for_line(process: asyncio.subprocess.Process, marker: bytes) -> None:
    assert process.stdout is not None
    async with asyncio.timeout(90):
        while marker not in (line := await process.stdout.readline()):
            if not line:
                raise RuntimeError(f"process exited before printing {marker!r}")


async def drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.readline():
        pass


class Customer:
    """Counts receipts for our ids; answers every deliver_sm at once."""

    def __init__(self, ids: set[str], done: asyncio.Event, expected: list[int]) -> None:
        self.ids, self.done, self.expected = ids, done, expected
        self.receipts = 0
        self.last = 0.0

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        conn.respond(pdu, CommandStatus.ESME_ROK)
        if isinstance(pdu, DeliverSm):
            rid = pdu.tlvs.get(Tag.RECEIPTED_MESSAGE_ID)
            if isinstance(rid, str) and rid in self.ids:
                self.ids.discard(rid)
                self.receipts += 1
                self.last = time.perf_counter()
                if self.expected and self.receipts >= self.expected[0]:
                    self.done.set()

    def on_bound(self, conn: SmppConnection) -> None:
        pass

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        pass


def rss_peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def bench(args: argparse.Namespace, database_url: str, redis_url: str) -> None:
    sim_port, smpp_port = free_port(), free_port()
    env = dict(os.environ, SMSENGINE_LOG_LEVEL="warning")
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.simulation.cli", "--port", str(sim_port), "--seed", "1",
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    await wait_for_line(sim, b"listening")
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    await add_carrier(
        pool,
        CarrierConnection(carrier="sim", host="127.0.0.1", port=sim_port, system_id="engine", password="pw",
                          binds=args.carrier_binds, window_size=args.carrier_window, throughput=1_000_000),
    )  # fmt: skip
    await set_rates(pool, "sim", flat_tariff(PREFIXES, 2_000))
    account = await create_account(pool, "bench")
    await add_funds(pool, account, 10**15)
    await set_smpp_credentials(pool, account, "bench", "bench", max_binds=64, throughput=1_000_000)
    await set_prices(pool, account, flat_tariff(PREFIXES, 4_000))
    data_dir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    engine_env = dict(env, SMSENGINE_DATABASE_URL=database_url, SMSENGINE_REDIS_URL=redis_url,
                      SMSENGINE_SMPP_PORT=str(smpp_port), SMSENGINE_HTTP_PORT="0",
                      SMSENGINE_DATA_DIR=str(data_dir))  # fmt: skip
    engine = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smsengine.cli", "--config", str(data_dir / "none.toml"), "run",
        env=engine_env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    await wait_for_line(engine, b"smsengine running")
    drains = [asyncio.create_task(drain(engine)), asyncio.create_task(drain(sim))]

    ids: set[str] = set()
    done = asyncio.Event()
    expected: list[int] = []
    customer = Customer(ids, done, expected)
    clients = [
        SmppClient(
            "127.0.0.1",
            smpp_port,
            system_id="bench",
            password="bench",
            handler=customer,
            window=args.window,
            enquire_link_interval=None,
        )
        for _ in range(args.binds)
    ]
    for client in clients:
        client.start()
    for client in clients:
        await asyncio.wait_for(client.wait_bound(), 30)

    latencies: list[float] = []
    accepted = refused = 0
    next_index = 0
    start = time.perf_counter()
    last_resp = start

    async def sender(client: SmppClient) -> None:
        nonlocal accepted, refused, next_index, last_resp
        while next_index < args.messages:
            n = next_index
            next_index += 1
            if args.rate:
                delay = start + n / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            pdu = SubmitSm(source_addr="Bench", source_addr_ton=5,
                           destination_addr=f"44770{n % 10_000_000:07d}", dest_addr_ton=1, dest_addr_npi=1,
                           registered_delivery=1,
                           short_message=b"Your verification code is 492031.")  # fmt: skip
            sent = time.perf_counter()
            resp = await client.request(pdu)
            now = time.perf_counter()
            latencies.append(now - sent)
            last_resp = now
            if isinstance(resp, SubmitSmResp) and resp.command_status == CommandStatus.ESME_ROK:
                accepted += 1
                ids.add(resp.message_id)
            else:
                refused += 1

    await asyncio.gather(*(sender(c) for c in clients for _ in range(args.window)))
    expected.append(accepted)
    if customer.receipts >= accepted:
        done.set()
    try:
        await asyncio.wait_for(done.wait(), timeout=args.receipt_timeout)
    except TimeoutError:
        pass
    accept_rate = accepted / (last_resp - start)
    e2e_rate = customer.receipts / ((customer.last or time.perf_counter()) - start)
    peak_kb = rss_peak_kb(engine.pid)
    latencies.sort()
    print(f"binds={args.binds} window={args.window} messages={args.messages} rate={args.rate or 'max'}")
    print(f"accepted:           {accepted} ({refused} refused)   {accept_rate:,.0f} msgs/s")
    print(f"end to end:         {customer.receipts} receipts back  {e2e_rate:,.0f} msgs/s")
    print(f"submit_sm_resp:     p50 {statistics.median(latencies) * 1000:.1f} ms   "
          f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms")  # fmt: skip
    print(f"receipts lost:      {accepted - customer.receipts}")
    print(f"engine peak RSS:    {peak_kb / 1024:.0f} MiB")
    for client in clients:
        await client.close()
    for process in (engine, sim):
        process.terminate()
    await asyncio.gather(engine.wait(), sim.wait())
    for task in drains:
        task.cancel()
    await pool.close()


async def main_async(args: argparse.Namespace) -> None:
    base_db = os.environ.get("SMSENGINE_DATABASE_URL", "")
    base_redis = os.environ.get("SMSENGINE_REDIS_URL", "")
    with provide_services(base_db, base_redis, Path(tempfile.mkdtemp(prefix="bench-services-"))) as urls:
        name = f"smsengine_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(urls.database_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            await bench(args, with_database(urls.database_url, name), urls.redis_url)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=0.0, help="msgs/s; 0: as fast as the windows allow")
    parser.add_argument("--carrier-binds", type=int, default=2)
    parser.add_argument("--carrier-window", type=int, default=200)
    parser.add_argument("--receipt-timeout", type=float, default=120.0)
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
