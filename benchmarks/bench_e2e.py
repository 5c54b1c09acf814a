"""End to end with receipts: the ceiling, the engine in between, and their ratio, in one run.

    .venv/bin/python -m benchmarks.bench_e2e [--binds 4] [--window 100] [--messages 50000] [--rate 0]
                                             [--demo] [--soak SECONDS] [--receipt-delay-ms 0]
                                             [--workers N] [--http-singles N [--http-connections 64]]
                                             [--workers N]

Phases (each on a quiet machine, one after the other):
1. **ceiling**: the load generator (benchmarks/e2e_loadgen.py: `--binds` transceivers at `--window`,
   receipts requested) straight against the carrier simulator (`smsengine simulate-carrier`, its own
   process): what this box does with no gateway and no durability at all;
2. **engine**: the same load generator against `smsengine run` (its own process, durable path: group
   commit into PostgreSQL), which forwards to the same simulator and returns every receipt;
3. with `--demo`: the same load against `smsengine run --demo` (the simulator in the engine's process).

`--workers N` runs phase 2 as `smsengine run --workers N` (N engine nodes sharing the ports); the engine
CPU and RSS figures are then the sums over the supervisor and its workers.

Prints per phase: accepted and end-to-end msgs/s, submit_sm_resp p50/p99, receipts lost (must be 0); for
the engine: its CPU per message over the message's whole life (process CPU time / messages), the
PostgreSQL CPU per message (all postgres processes, so only meaningful on a quiet machine), the row
writes per message by table (pg_stat_user_tables), and its peak RSS. `--http-singles N` then makes N HTTP
single sends against the same engine (its HTTP port, `--http-connections` keep-alive connections) and
prints sends/s, p50/p99 and the engine CPU per send: with `--workers`, the figure for several nodes.
`--soak S` then keeps `--rate` going for S seconds and prints the engine's RSS every 30 s (flat is the
goal). Uses SMSENGINE_DATABASE_URL / SMSENGINE_REDIS_URL when set (a fresh database is created and
dropped), embedded servers otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from benchmarks.bench_http import single_sends
from benchmarks.e2e_loadgen import LoadStats, run_load
from benchmarks.scratch import bench_services, scratch_database
from engine.admin.provision import (
    account_id_of,
    add_carrier,
    add_funds,
    create_account,
    create_api_key,
    flat_tariff,
    set_prices,
    set_rates,
    set_smpp_credentials,
)
from engine.carriers.link import CarrierConnection
from engine.infra.schema import apply_migrations

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = [str(d) for d in range(1, 10)]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def engine_pids(pid: int) -> list[int]:
    """The engine process and, under `run --workers`, its workers."""
    import psutil

    return [pid, *(child.pid for child in psutil.Process(pid).children())]


def postgres_cpu_seconds() -> float:
    """CPU time of every postgres process on the machine (the server's, whoever it serves)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                total += cpu_seconds(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return total


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def wait_for_line(process: asyncio.subprocess.Process, marker: bytes) -> None:
    assert process.stdout is not None
    async with asyncio.timeout(90):
        while marker not in (line := await process.stdout.readline()):
            if not line:
                raise RuntimeError(f"process exited before printing {marker!r}")


async def drain(process: asyncio.subprocess.Process, keep: list[str] | None = None) -> None:
    """Read a child's output; keep its 'pipeline stats' line (group commit batch sizes) if asked."""
    assert process.stdout is not None
    while line := await process.stdout.readline():
        if keep is not None and b"pipeline stats" in line:
            keep.append(line.decode(errors="replace").strip())


async def table_writes(pool: asyncpg.Pool) -> dict[str, tuple[int, int]]:
    """Per table: (rows inserted + updated + deleted, of which HOT updates) so far."""
    rows = await pool.fetch(
        "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS w, n_tup_hot_upd AS hot "
        "FROM pg_stat_user_tables"
    )
    return {r["relname"]: (int(r["w"]), int(r["hot"])) for r in rows}


def report(name: str, stats: LoadStats) -> None:
    print(f"[{name}] accepted {stats.accepted} ({stats.refused} refused) {stats.accept_rate:,.0f} msgs/s; "
          f"end to end {stats.receipts} receipts {stats.e2e_rate:,.0f} msgs/s; submit_sm_resp p50 "
          f"{stats.p50 * 1000:.1f} ms p99 {stats.percentile(0.99) * 1000:.1f} ms; "
          f"receipts lost {stats.accepted - stats.receipts}", flush=True)  # fmt: skip


async def start_simulator(args: argparse.Namespace, env: dict[str, str]) -> tuple[Any, int]:
    port = free_port()
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.simulation.cli", "--port", str(port), "--seed", "1",
        "--receipt-delay-ms", str(args.receipt_delay_ms),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    await wait_for_line(sim, b"listening")
    return sim, port


async def provision(pool: asyncpg.Pool, args: argparse.Namespace, sim_port: int) -> None:
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


async def engine_phase(
    name: str, args: argparse.Namespace, database_url: str, redis_url: str, env: dict[str, str],
    sim_port: int | None,
) -> LoadStats:  # fmt: skip
    """One engine process (external simulator, or --demo with its own), measured under the load."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    if sim_port is not None:
        await provision(pool, args, sim_port)
    smpp_port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    workers = args.workers if sim_port is not None else 1
    http_port = free_port()
    engine_env = dict(env, SMSENGINE_LOG_LEVEL="info", SMSENGINE_DATABASE_URL=database_url,
                      SMSENGINE_REDIS_URL=redis_url, SMSENGINE_SMPP_PORT=str(smpp_port),
                      SMSENGINE_HTTP_PORT=str(http_port),
                      SMSENGINE_DATA_DIR=str(data_dir))  # fmt: skip
    command = ["--config", str(data_dir / "none.toml"), "run"] + (["--demo"] if sim_port is None else [])
    if workers > 1:
        command += ["--workers", str(workers)]
    profiler = ["-m", "cProfile", "-o", args.profile_engine] if args.profile_engine else []
    engine = await asyncio.create_subprocess_exec(
        sys.executable, *profiler, "-m", "smsengine.cli", *command,
        env=engine_env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    await wait_for_line(engine, b"smsengine running")
    stats_lines: list[str] = []
    drainer = asyncio.create_task(drain(engine, stats_lines))
    system_id = password = "bench"
    if sim_port is None:
        demo = json.loads((data_dir / "demo.json").read_text())
        system_id, password = demo["smpp"]["system_id"], demo["smpp"]["password"]
        await add_funds(pool, await account_id_of(pool, "demo"), 10**15, key=f"bench-{uuid.uuid4()}")
    await asyncio.sleep(1.0)  # carrier binds come up after "running"
    writes_before = await table_writes(pool)
    pids = engine_pids(engine.pid)
    cpu_before, pg_before = sum(map(cpu_seconds, pids)), postgres_cpu_seconds()
    stats = await run_load("127.0.0.1", smpp_port, binds=args.binds, window=args.window,
                           messages=args.messages, rate=args.rate, system_id=system_id,
                           password=password)  # fmt: skip
    cpu_used, pg_used = sum(map(cpu_seconds, pids)) - cpu_before, postgres_cpu_seconds() - pg_before
    report(name, stats)
    n = max(1, stats.accepted)
    peak_mib = sum(rss_kb(p, "VmHWM") for p in pids) / 1024
    print(f"[{name}] engine CPU {cpu_used * 1e6 / n:.0f} us/message ({cpu_used:.1f} s); PostgreSQL CPU "
          f"{pg_used * 1e6 / n:.0f} us/message; engine peak RSS {peak_mib:.0f} MiB",
          flush=True)  # fmt: skip
    more = bool(args.http_singles or args.soak) and sim_port is not None
    if more:
        await asyncio.sleep(2.0)  # most table statistics have reached pg_stat_user_tables by now
    else:
        # A backend that goes idle keeps its last statistics for up to 10 s before it reports them; one that
        # exits reports them at once. So the engine stops first (its last writes, done at stop, count too).
        engine.terminate()
        await engine.wait()
        await asyncio.sleep(0.5)
    after = await table_writes(pool)
    per_table = {}
    for t, (w, hot) in after.items():
        w0, hot0 = writes_before.get(t, (0, 0))
        if w > w0:
            per_table[t] = ((w - w0) / n, (hot - hot0) / n)
    total = sum(w for w, _ in per_table.values())
    detail = ", ".join(f"{t} {w:.2f} ({h:.2f} HOT)" for t, (w, h) in sorted(per_table.items()))
    print(f"[{name}] row writes per message: {total:.2f} — {detail}", flush=True)
    if args.http_singles and sim_port is not None:
        await http_phase(name, args, pool, http_port, pids)
    if args.soak and sim_port is not None:
        await soak(args, engine.pid, smpp_port)
    if more:
        engine.terminate()
        await engine.wait()
    await asyncio.wait([drainer], timeout=5.0)  # the output to its end: the 'pipeline stats' line
    drainer.cancel()
    for line in stats_lines:
        print(f"[{name}] {line}", flush=True)
    await pool.close()
    return stats


async def http_phase(
    name: str, args: argparse.Namespace, pool: asyncpg.Pool, port: int, pids: list[int]
) -> None:
    """HTTP single sends (POST /v1/sms/send, 202 after the durable commit) against the same engine."""
    key, secret = await create_api_key(pool, await account_id_of(pool, "bench"), name="bench")
    await pool.execute("UPDATE api_keys SET rate_limit = 1e6, rate_burst = 1000000 WHERE key = $1", key)
    auth = {"x-api-key": key, "x-api-secret": secret}
    await single_sends(port, auth, 500, 16)  # connections and caches warm
    cpu_before = sum(map(cpu_seconds, pids))
    result = await single_sends(port, auth, args.http_singles, args.http_connections)
    cpu_used = sum(map(cpu_seconds, pids)) - cpu_before
    print(f"[{name}] HTTP single sends {result['per_second']:,}/s, p50 {result['p50_ms']} ms p99 "
          f"{result['p99_ms']} ms, statuses {result['statuses']}; engine CPU "
          f"{cpu_used * 1e6 / args.http_singles:.0f} us/send", flush=True)  # fmt: skip
    if set(result["statuses"]) != {202}:
        raise SystemExit(f"[{name}] HTTP sends were refused: {result['statuses']}")


async def soak(args: argparse.Namespace, pid: int, port: int) -> None:
    rate = args.rate or 5_000
    print(f"[soak] {args.soak:.0f} s at {rate:,.0f} msgs/s: engine RSS every 30 s", flush=True)
    load = asyncio.create_task(
        run_load(
            "127.0.0.1", port, binds=args.binds, window=args.window, messages=int(rate * args.soak), rate=rate
        )
    )
    samples = []
    while not load.done():
        samples.append(rss_kb(pid) / 1024)
        print(f"[soak] t={len(samples) * 30 - 30:4d} s RSS {samples[-1]:.0f} MiB", flush=True)
        await asyncio.wait([load], timeout=30)
    report("soak", load.result())
    print(f"[soak] RSS min {min(samples):.0f} MiB, max {max(samples):.0f} MiB", flush=True)


async def bench(args: argparse.Namespace, urls: Any) -> None:
    env = dict(os.environ, SMSENGINE_LOG_LEVEL="warning")
    print(f"binds={args.binds} window={args.window} messages={args.messages} rate={args.rate or 'max'} "
          f"carrier={args.carrier_binds}x{args.carrier_window} receipt_delay={args.receipt_delay_ms} ms",
          flush=True)  # fmt: skip
    sim, sim_port = await start_simulator(args, env)
    sim_drain = asyncio.create_task(drain(sim))
    ceiling = None
    if not args.skip_ceiling:
        ceiling = await run_load("127.0.0.1", sim_port, binds=args.binds, window=args.window,
                                 messages=args.messages, rate=args.rate)  # fmt: skip
        report("ceiling", ceiling)
    results: dict[str, LoadStats] = {}
    for name, port in [("engine", sim_port)] + ([("demo", None)] if args.demo else []):
        async with scratch_database(urls.database_url) as url:
            results[name] = await engine_phase(name, args, url, urls.redis_url, env, port)
    if ceiling is not None:
        print(f"ratio engine/ceiling (end to end): {results['engine'].e2e_rate / ceiling.e2e_rate:.3f}")
    if "demo" in results:
        print(f"ratio demo/engine (end to end): {results['demo'].e2e_rate / results['engine'].e2e_rate:.3f}")
    sim.terminate()
    await sim.wait()
    sim_drain.cancel()


async def main_async(args: argparse.Namespace) -> None:
    with bench_services("bench-services") as urls:
        await bench(args, urls)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=0.0, help="msgs/s; 0: as fast as the windows allow")
    parser.add_argument("--carrier-binds", type=int, default=2, help="as the demo's carrier")
    parser.add_argument("--carrier-window", type=int, default=100, help="as the demo's carrier")
    parser.add_argument(
        "--receipt-delay-ms", default="0", help="the simulator's receipt delay, e.g. 500-3000"
    )
    parser.add_argument("--demo", action="store_true", help="also measure `smsengine run --demo`")
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="engine nodes: smsengine run --workers N")
    parser.add_argument("--http-singles", type=int, default=0, help="then this many HTTP single sends")
    parser.add_argument("--http-connections", type=int, default=64)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds at --rate after the measurement")
    parser.add_argument(
        "--profile-engine", metavar="FILE", help="run the engine under cProfile, stats to FILE"
    )
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
