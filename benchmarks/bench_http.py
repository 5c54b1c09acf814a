"""Throughput of the HTTP API with durable commit: single sends/s (p50/p99) and bulk recipients/s.

This process runs what `smsengine run` runs (engine, HTTP server on a free port, uvloop) plus an
in-process simulated carrier, against a fresh database on the configured PostgreSQL
(SMSENGINE_DATABASE_URL, else an embedded one) and Redis. The load comes from a second process: many
keep-alive connections, each sending its next request when the previous answer arrived (a minimal
HTTP/1.1 client on asyncio, so that the client's own cost does not cap the figure as httpx's would).
Every 202 counted means a message durably stored and reserved in the ledger. Prints, never asserts.

    .venv/bin/python -m benchmarks.bench_http [--singles 20000] [--connections 64] [--bulk 10] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import uvloop

from benchmarks.scratch import bench_services, scratch_database
from engine.admin.provision import (
    add_carrier,
    add_funds,
    create_account,
    create_api_key,
    flat_tariff,
    set_prices,
    set_rates,
)
from engine.app import Engine
from engine.carriers.link import CarrierConnection
from engine.infra.schema import apply_migrations
from engine.infra.services import ServiceUrls
from engine.infra.settings import load_settings
from engine.simulation.carrier import CarrierSimulator
from http_api.app import create_app
from http_api.server import serve_http

PREFIXES = [str(d) for d in range(1, 10)]


# ------------------------------------------------------------------------------------- load generator


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


def _request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (head + f"content-length: {len(body)}\r\n\r\n").encode() + body


async def single_sends(port: int, auth: dict[str, str], total: int, connections: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    remaining = total

    async def connection(n: int) -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = 0
        while remaining > 0:
            remaining -= 1
            i += 1
            body = json.dumps({"to": f"+4477{n:03d}{i:05d}", "from": "Bench", "body": "Your code is 492031"})
            started = time.perf_counter()
            status, _ = await _exchange(reader, writer, _request("/v1/sms/send", body.encode(), auth))
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(n) for n in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": total,
        "seconds": round(elapsed, 3),
        "per_second": round(statuses.get(202, 0) / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "statuses": statuses,
    }


async def _bulks(port: int, auth: dict[str, str], requests: int, size: int, parallel: int) -> dict[str, Any]:
    accepted = 0
    refusals: list[str] = []
    durations: list[float] = []
    queue = list(range(requests))

    async def connection() -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            r = queue.pop()
            recipients = [{"to": f"+447{r:03d}{i:06d}", "variables": {"n": str(i)}} for i in range(size)]
            body = json.dumps({"from": "Bench", "body": "Hello {{n}}", "recipients": recipients}).encode()
            started = time.perf_counter()
            status, answer = await _exchange(reader, writer, _request("/v1/sms/bulk", body, auth))
            durations.append(time.perf_counter() - started)
            if status == 202:
                accepted += json.loads(answer)["data"]["accepted"]
            else:
                refusals.append(f"{status} {answer[:300]!r}")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(parallel)))
    elapsed = time.perf_counter() - started
    return {
        "requests": requests,
        "recipients": accepted,
        "seconds": round(elapsed, 3),
        "recipients_per_second": round(accepted / elapsed),
        "request_ms_median": round(sorted(durations)[len(durations) // 2] * 1000, 1),
        "refused": refusals[:3],
    }


def _load(port: int, auth: dict[str, str], args: dict[str, int], out: Any) -> None:
    async def main() -> dict[str, Any]:
        warm = await single_sends(port, auth, 500, 16)  # connections, caches and the JIT-free path warm
        del warm
        out: dict[str, Any] = {}
        if args["singles"]:
            out["single_sends"] = await single_sends(port, auth, args["singles"], args["connections"])
        if args["bulk"]:
            out["bulk"] = await _bulks(port, auth, args["bulk"], 10_000, args["bulk_parallel"])
        return out

    out.put(uvloop.run(main()))


# ------------------------------------------------------------------------------------- engine side


async def _provision(url: str, carrier_throughput: int) -> tuple[dict[str, str], CarrierSimulator]:
    sim = CarrierSimulator()
    await sim.start("127.0.0.1", 0)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn)
        carrier = CarrierConnection(
            carrier="sim", host="127.0.0.1", port=sim.port, system_id="bench", password="pw",
            binds=2, window_size=200, throughput=carrier_throughput,
        )  # fmt: skip
        await add_carrier(pool, carrier)
        await set_rates(pool, "sim", flat_tariff(PREFIXES, 2_500))
        account = await create_account(pool, "bench")
        await add_funds(pool, account, 10**14)
        await set_prices(pool, account, flat_tariff(PREFIXES, 4_000))
        key, secret = await create_api_key(pool, account, name="bench")
        await pool.execute("UPDATE api_keys SET rate_limit = 1e6, rate_burst = 1000000 WHERE key = $1", key)
    finally:
        await pool.close()
    return {"x-api-key": key, "x-api-secret": secret}, sim


async def _run(urls: ServiceUrls, args: argparse.Namespace) -> dict[str, Any]:
    async with scratch_database(urls.database_url, "bench_http") as url:
        auth, sim = await _provision(url, args.carrier_throughput)
        settings = load_settings(None, env={}, smpp={"port": 0}, http={"port": 0}, database={"pool_max": 12})
        redis = aioredis.Redis.from_url(urls.redis_url)
        prefix = f"bench:{uuid.uuid4().hex[:8]}:"
        try:
            async with (
                Engine.start(settings, ServiceUrls(url, urls.redis_url)) as engine,
                serve_http(create_app(engine, redis, prefix=prefix), "127.0.0.1", 0) as server,
            ):
                for link in engine.links.values():
                    await link.wait_all_bound()
                engine.refresh_health()
                out: multiprocessing.Queue[dict[str, Any]] = multiprocessing.get_context("spawn").Queue()
                load_args = {"singles": args.singles, "connections": args.connections, "bulk": args.bulk,
                             "bulk_parallel": args.bulk_parallel}  # fmt: skip
                proc = multiprocessing.get_context("spawn").Process(
                    target=_load, args=(server.port, auth, load_args, out)
                )
                profiler = None
                if args.profile:
                    from pyinstrument import Profiler

                    profiler = Profiler(async_mode="disabled")
                    profiler.start()
                proc.start()
                result = await asyncio.to_thread(out.get)
                await asyncio.to_thread(proc.join)
                if profiler is not None:
                    profiler.stop()
                    path = Path(tempfile.gettempdir()) / "bench_http_profile.txt"
                    path.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
                    result["profile"] = str(path)
                result["committed_batches"] = engine.acceptor._committer.batches
        finally:
            await redis.aclose()
            await sim.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--singles", type=int, default=20_000, help="single sends to make")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections")
    parser.add_argument("--bulk", type=int, default=10, help="bulk requests of 10,000 recipients")
    parser.add_argument("--bulk-parallel", type=int, default=1, help="bulk requests in flight at once")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the engine process")
    parser.add_argument(
        "--carrier-throughput", type=int, default=100_000,
        help="segments/s the engine may send the simulated carrier; a low value (10) keeps dispatch idle "
        "and measures the accept path alone",
    )  # fmt: skip
    args = parser.parse_args()
    given = os.environ.get("SMSENGINE_DATA_DIR")
    with bench_services("bench-http", Path(given) if given else None) as urls:
        result = uvloop.run(_run(urls, args))
    print(json.dumps(result, indent=2))
    singles = result.get("single_sends", {}).get("statuses", {})
    if set(singles) - {202, "202"} or result.get("bulk", {}).get("refused"):
        raise SystemExit("requests were refused: these figures measure refusals, not sends")


if __name__ == "__main__":
    main()
