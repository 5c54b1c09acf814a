"""Many accepts of one account at once, on several connections and processes, never overdraw it."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE
from typing import Any, TypeAlias

import asyncpg

from billing import (
    Capture,
    Reservation,
    balance,
    capture_batch,
    check_ledger,
    open_account,
    release_batch,
    reserve_batch,
    top_up,
)
from billing.accounts import system_balances

Conn: TypeAlias = "asyncpg.Connection[Any]"

PRICE = 35_000
FITS = 150  # the balance pays for exactly this many messages
CONNECTIONS = 6
TASKS = 24
BATCHES_PER_TASK = 5
BATCH = 4  # 24 tasks * 5 batches * 4 = 480 messages competing for 150 slots


async def test_concurrent_accepts_on_one_account_never_overdraw_it(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=CONNECTIONS, max_size=CONNECTIONS)
    try:
        async with pool.acquire() as conn:
            await open_account(conn, 1, "EUR")
            await open_account(conn, 2, "EUR", credit_limit=10 * PRICE)
            await top_up(conn, 1, FITS * PRICE, key="seed-1")
            await top_up(conn, 2, FITS * PRICE, key="seed-2")
        start = asyncio.Event()

        async def accept(task: int) -> int:
            await start.wait()
            accepted = 0
            for batch in range(BATCHES_PER_TASK):
                items = [
                    Reservation(f"t{task}-b{batch}-{i}-{account}", account, PRICE)
                    for i in range(BATCH)
                    for account in (1, 2)
                ]
                async with pool.acquire() as conn, conn.transaction():
                    result = await reserve_batch(conn, items)
                    await asyncio.sleep(0)  # hold the transaction open across a switch
                accepted += sum(r.outcome.ok for r in result.results if r.message_ref.endswith("-1"))
            return accepted

        tasks = [asyncio.create_task(accept(t)) for t in range(TASKS)]
        start.set()
        accepted = sum(await asyncio.gather(*tasks))

        async with pool.acquire() as conn:
            one, two = await balance(conn, 1), await balance(conn, 2)
            assert accepted == FITS
            assert (one.available, one.reserved) == (0, FITS * PRICE)
            assert (two.available, two.reserved) == (-10 * PRICE, (FITS + 10) * PRICE)
            report = await check_ledger(conn)
            assert report.ok, report
    finally:
        await pool.close()


async def test_concurrent_captures_and_releases_never_double_settle(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=CONNECTIONS, max_size=CONNECTIONS)
    try:
        async with pool.acquire() as conn:
            await open_account(conn, 1, "EUR")
            await top_up(conn, 1, 100 * PRICE, key="seed")
            await reserve_batch(conn, [Reservation(f"m{i}", 1, PRICE) for i in range(100)])
        refs = [f"m{i}" for i in range(100)]

        async def settle(task: int) -> None:
            async with pool.acquire() as conn:
                # Overlapping batches in different orders: deadlock-prone if locks were unordered.
                order = refs if task % 2 else list(reversed(refs))
                if task % 3:
                    await capture_batch(conn, [Capture(r, cost=1_000) for r in order])
                else:
                    await release_batch(conn, order)

        await asyncio.gather(*(settle(t) for t in range(CONNECTIONS * 2)))
        async with pool.acquire() as conn:
            after = await balance(conn, 1)
            states = await conn.fetch("SELECT state, count(*) FROM billing_reservations GROUP BY state")
            settled = {row["state"]: row["count"] for row in states}
            assert sum(settled.values()) == 100 and "open" not in settled
            revenue = (await system_balances(conn, "EUR"))["revenue"]
            assert revenue == settled.get("captured", 0) * PRICE
            assert after.reserved == 0
            assert after.available == settled.get("released", 0) * PRICE
            report = await check_ledger(conn)
            assert report.ok, report
    finally:
        await pool.close()


# One engine process: its own connections, reserving on the shared account as fast as it can.
_PROCESS = """
import asyncio, sys
import asyncpg
from billing import Reservation, reserve_batch

async def main(url, name, price):
    conns = [await asyncpg.connect(url) for _ in range(2)]
    async def worker(k, conn):
        accepted = 0
        for b in range(10):
            items = [Reservation(f"{name}-{k}-{b}-{i}", 1, price) for i in range(5)]
            async with conn.transaction():
                result = await reserve_batch(conn, items)
            accepted += sum(r.outcome.ok for r in result.results)
        return accepted
    try:
        print(sum(await asyncio.gather(*(worker(k, c) for k, c in enumerate(conns)))))
    finally:
        for conn in conns:
            await conn.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_accepts_from_several_processes_never_overdraw_the_account(database_url: str) -> None:
    conn: Conn = await asyncpg.connect(database_url)
    try:
        await open_account(conn, 1, "EUR")
        await top_up(conn, 1, 123 * PRICE, key="seed")
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _PROCESS, database_url, f"p{n}", str(PRICE), stdout=PIPE
            )
            for n in range(3)  # 3 processes x 2 connections x 10 batches x 5 = 300 tries for 123 slots
        ]
        outputs = [await proc.communicate() for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0, 0]
        assert sum(int(out) for out, _ in outputs) == 123
        after = await balance(conn, 1)
        assert (after.available, after.reserved) == (0, 123 * PRICE)
        assert (await check_ledger(conn)).ok
    finally:
        await conn.close()
