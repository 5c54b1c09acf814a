"""Ledger throughput: batched reserve and capture postings per second against real PostgreSQL.

Run: `.venv/bin/python -m benchmarks.bench_ledger` with SMSENGINE_DATABASE_URL pointing at a server where
it may create a database (it creates `smsengine_bench_<random>`, migrates it, and drops it afterwards).
Each batch runs in its own transaction and commits, as the engine's group commit would, so the figures
include the commit's fsync. With --connections N, N connections each work their own share of the accounts
at once (as N engine processes would). Target: >= 50,000 postings/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from benchmarks.scratch import scratch_database
from billing import Capture, Reservation, capture_batch, open_account, reserve_batch, top_up
from billing.model import ReserveOutcome, SettleOutcome
from engine.infra.schema import apply_migrations

PRICE = 35_000  # 0.035 per message, in micro-units
COST = 20_000
TARGET = 50_000

T = TypeVar("T")
Conn = Any  # asyncpg.Connection


async def _run_batches(
    conns: Sequence[Conn], streams: Sequence[list[list[T]]], run: Callable[[Conn, list[T]], Awaitable[None]]
) -> float:
    """Run each connection's batches in order, all connections at once; return the elapsed seconds."""

    async def one(conn: Conn, batches: list[list[T]]) -> None:
        for batch in batches:
            async with conn.transaction():
                await run(conn, batch)

    start = time.perf_counter()
    await asyncio.gather(*(one(conn, batches) for conn, batches in zip(conns, streams, strict=True)))
    return time.perf_counter() - start


async def _reserve(conn: Conn, items: list[Reservation]) -> None:
    result = await reserve_batch(conn, items)
    assert all(r.outcome is ReserveOutcome.ACCEPTED for r in result.results)


async def _capture(conn: Conn, items: list[Capture]) -> None:
    result = await capture_batch(conn, items)
    assert all(r.outcome is SettleOutcome.APPLIED for r in result.results)


async def bench(url: str, messages: int, batch: int, accounts: int, connections: int) -> dict[str, float]:
    async with scratch_database(url) as scratch:
        return await _bench(scratch, messages, batch, accounts, connections)


async def _bench(url: str, messages: int, batch: int, accounts: int, connections: int) -> dict[str, float]:
    conns: list[Conn] = []
    try:
        conns = [await asyncpg.connect(url) for _ in range(connections)]
        await apply_migrations(conns[0])
        for account in range(accounts):
            await open_account(conns[0], account, "EUR")
            await top_up(conns[0], account, PRICE * messages, key=f"seed-{account}")
        # Connection k takes the messages of accounts k, k + connections, ... (disjoint account sets).
        per_conn = [
            [(f"msg-{i}", i % accounts) for i in range(messages) if (i % accounts) % connections == k]
            for k in range(connections)
        ]
        reserves = [
            [
                [Reservation(ref, acct, PRICE, segments=1, country="DE", carrier="c1") for ref, acct in chunk]
                for chunk in (mine[lo : lo + batch] for lo in range(0, len(mine), batch))
            ]
            for mine in per_conn
        ]
        captures = [
            [
                [Capture(ref, cost=COST) for ref, _ in chunk]
                for chunk in (mine[lo : lo + batch] for lo in range(0, len(mine), batch))
            ]
            for mine in per_conn
        ]
        rates: dict[str, float] = {}
        for kind, streams, run in (("reserve", reserves, _reserve), ("capture", captures, _capture)):
            elapsed = await _run_batches(conns, streams, run)  # type: ignore[arg-type]
            rates[kind] = messages / elapsed
            print(
                f"{kind:<8} batch {batch:>5}  accounts {accounts:>4}  connections {connections}: "
                f"{messages} postings in {elapsed:6.2f} s = {rates[kind]:>9,.0f} postings/s"
            )
    finally:
        for conn in conns:
            await conn.close()
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ledger postings/s for batched reserve and capture.")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    url = os.environ.get("SMSENGINE_DATABASE_URL")
    if not url:
        print("bench_ledger: set SMSENGINE_DATABASE_URL", file=sys.stderr)
        return 2
    for connections in args.connections:
        rates = asyncio.run(bench(url, args.messages, args.batch, args.accounts, connections))
        for kind, rate in rates.items():
            verdict = "meets" if rate >= TARGET else "misses"
            print(f"  {kind}: {rate:,.0f} postings/s {verdict} the {TARGET:,} postings/s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
