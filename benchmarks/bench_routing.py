"""Routing benchmark: selections/s over a 100,000-prefix table, and rate card CSV import rows/s.

Run: `.venv/bin/python -m benchmarks.bench_routing` (the import part needs SMSENGINE_DATABASE_URL; it
works in a scratch database it creates and drops). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import time

import asyncpg

from benchmarks.scratch import scratch_database
from engine.infra.schema import apply_migrations
from routing.model import (
    Carrier,
    CarrierHealth,
    HealthSnapshot,
    Price,
    PriceListOwner,
    Rate,
    RouteRequest,
    RouteRule,
    RuleAction,
)
from routing.operator import import_rate_card
from routing.storage import PgRoutingStore
from routing.table import RoutingTable
from routing.tariff_csv import format_micro

CARRIERS = ("alpha", "bravo", "charlie", "delta", "echo")


def make_prefixes(count: int, rng: random.Random) -> list[str]:
    """Distinct E.164-like prefixes of 2 to 8 digits, nested the way real rate cards are."""
    prefixes: set[str] = set()
    countries = [str(rng.randint(1, 998)) for _ in range(220)]
    while len(prefixes) < count:
        country = rng.choice(countries)
        extra = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 5)))
        prefixes.add(country + extra)
    return sorted(prefixes)


def build_table(prefixes: list[str], rng: random.Random) -> RoutingTable:
    rates = []
    for prefix in prefixes:
        covering = [c for c in CARRIERS if rng.random() < 0.6] or [rng.choice(CARRIERS)]
        for carrier in covering:
            rates.append(
                Rate(carrier=carrier, prefix=prefix, cost_micro=rng.randint(1_000, 90_000), currency="EUR")
            )
    rules = [
        RouteRule(
            id=i + 1,
            priority=10 + i,
            prefixes=(rng.choice(prefixes),),
            action=RuleAction.FAILOVER,
            carriers=("bravo", "alpha"),
        )
        for i in range(20)
    ]
    rules.append(
        RouteRule(
            id=99, priority=5, account_ids=frozenset({999_999}), action=RuleAction.STATIC, carriers=("echo",)
        )
    )
    prices = [
        Price(owner=PriceListOwner(plan="standard"), prefix=p, price_micro=100_000, currency="EUR")
        for p in prefixes[::10]
    ]
    return RoutingTable(
        carriers=[Carrier(id=c) for c in CARRIERS],
        rates=rates,
        rules=rules,
        prices=prices,
        account_plans={a: "standard" for a in range(100)},
    )


def bench_select(seconds: float) -> None:
    rng = random.Random(4)
    prefixes = make_prefixes(100_000, rng)
    started = time.perf_counter()
    table = build_table(prefixes, rng)
    print(
        f"table: {table.prefix_count} prefixes, {table.rate_count} rates, {len(table.rules)} rules, "
        f"built in {time.perf_counter() - started:.2f}s"
    )
    now = time.time()
    health = HealthSnapshot(
        carriers={
            "alpha": CarrierHealth(bound=True),
            "bravo": CarrierHealth(bound=True, error_rate=0.1),
            "charlie": CarrierHealth(bound=True, cooldown_until=now + 60),
            "delta": CarrierHealth(bound=False),
            "echo": CarrierHealth(bound=True),
        }
    )
    requests = []
    for i in range(10_000):
        prefix = rng.choice(prefixes)
        digits = prefix + "".join(rng.choice("0123456789") for _ in range(12 - len(prefix)))
        requests.append(
            RouteRequest(destination=digits, now=now, account_id=i % 200, sender="ACME", rand=rng.random())
        )
    select = table.select
    done = no_route = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for request in requests:
            try:
                select(request, health)
            except Exception:
                no_route += 1
        done += len(requests)
    elapsed = time.perf_counter() - started
    print(
        f"select: {done / elapsed:,.0f} selections/s ({done:,} in {elapsed:.2f}s, "
        f"{no_route / done:.1%} NO_ROUTE)"
    )


async def bench_import(url: str, rows: int) -> None:
    rng = random.Random(7)
    buffer = io.StringIO()
    buffer.write("prefix,cost,currency,effective_from\n")
    for prefix in make_prefixes(rows, rng):
        buffer.write(f"{prefix},{format_micro(rng.randint(1, 90_000))},EUR,2026-01-01\n")
    async with scratch_database(url) as scratch:
        conn = await asyncpg.connect(scratch)
        await apply_migrations(conn)
        await conn.close()
        async with asyncpg.create_pool(scratch, min_size=1, max_size=2) as pool:
            store = PgRoutingStore(pool)
            await store.upsert_carrier(Carrier(id="alpha", currency="EUR"))
            for attempt in ("first import", "re-import (upsert)"):
                buffer.seek(0)
                started = time.perf_counter()
                report = await import_rate_card(store, "alpha", buffer)
                elapsed = time.perf_counter() - started
                print(
                    f"csv import, {attempt}: {report.imported:,} rows in {elapsed:.2f}s = "
                    f"{report.imported / elapsed:,.0f} rows/s ({len(report.errors)} bad rows)"
                )
            started = time.perf_counter()
            table = await store.load_table()
            print(f"load_table: {table.rate_count:,} rates in {time.perf_counter() - started:.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    bench_select(args.seconds)
    url = os.environ.get("SMSENGINE_DATABASE_URL")
    if url:
        asyncio.run(bench_import(url, args.rows))
    else:
        print("csv import: skipped (set SMSENGINE_DATABASE_URL)")


if __name__ == "__main__":
    main()
