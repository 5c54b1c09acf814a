"""Group commit against real PostgreSQL: callers are answered only after their rows are durable, and
batches share transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from engine.core.group_commit import CommitQueueFull, GroupCommitter, Policy


async def test_every_caller_is_answered_after_its_row_is_committed_and_batches_are_shared(
    database_url: str,
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    assert pool is not None
    await pool.execute("CREATE TABLE gc_probe (n int PRIMARY KEY)")
    transactions = 0

    async def commit(items: Sequence[int]) -> Sequence[int]:
        nonlocal transactions
        async with pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table("gc_probe", records=[(n,) for n in items])
        transactions += 1
        return [n * 10 for n in items]

    committer: GroupCommitter[int, int] = GroupCommitter(commit, concurrency=2)
    committer.start()

    async def caller(n: int) -> None:
        assert await committer.submit(n) == n * 10
        # answered means durable: another connection sees the row
        assert await pool.fetchval("SELECT count(*) FROM gc_probe WHERE n = $1", n) == 1

    await asyncio.gather(*(caller(n) for n in range(2000)))
    await committer.close()
    assert await pool.fetchval("SELECT count(*) FROM gc_probe") == 2000
    assert transactions < 200  # 2,000 callers shared transactions
    await pool.close()


async def test_a_failed_batch_fails_its_callers_and_the_next_batch_still_commits() -> None:
    calls = 0

    async def commit(items: Sequence[int]) -> Sequence[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database went away")
        return list(items)

    committer: GroupCommitter[int, int] = GroupCommitter(commit, concurrency=1)
    committer.start()
    first = committer.submit(1)
    with pytest.raises(ConnectionError):
        await first
    assert await committer.submit(2) == 2
    await committer.close()


async def test_beyond_max_pending_submit_refuses_at_once_instead_of_growing() -> None:
    gate = asyncio.Event()

    async def commit(items: Sequence[int]) -> Sequence[int]:
        await gate.wait()
        return list(items)

    committer: GroupCommitter[int, int] = GroupCommitter(commit, max_pending=5, concurrency=1)
    committer.start()
    futures = [committer.submit(n) for n in range(5)]
    with pytest.raises(CommitQueueFull):
        committer.submit(99)
    gate.set()
    assert await asyncio.gather(*futures) == [0, 1, 2, 3, 4]
    assert committer.pending == 0
    committer.submit(6)  # room again
    await committer.close()


async def test_one_bad_item_fails_alone_and_every_other_item_of_its_batch_commits(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=2)
    assert pool is not None
    await pool.execute("CREATE TABLE gc_texts (n int PRIMARY KEY, t text NOT NULL)")

    async def commit(items: Sequence[tuple[int, str]]) -> Sequence[None]:
        async with pool.acquire() as conn, conn.transaction():
            # PostgreSQL refuses U+0000 in text: the whole transaction fails, as with a customer's NUL
            await conn.executemany("INSERT INTO gc_texts VALUES ($1, $2)", items)
        return [None] * len(items)

    committer: GroupCommitter[tuple[int, str], None] = GroupCommitter(commit, concurrency=1)
    committer.start()
    items = [(n, "bad\x00text" if n in (13, 77) else f"good {n}") for n in range(200)]
    results = await asyncio.gather(*(committer.submit(i) for i in items), return_exceptions=True)
    await committer.close()
    failed = sorted(n for (n, _), r in zip(items, results, strict=True) if isinstance(r, Exception))
    assert failed == [13, 77]
    stored = await pool.fetchval("SELECT count(*) FROM gc_texts")
    assert stored == 198 and committer.isolated == 2
    await pool.close()


async def test_owed_writes_wait_out_an_outage_and_are_never_dropped() -> None:
    attempts = 0
    committed: list[int] = []

    async def commit(items: Sequence[int]) -> Sequence[None]:
        nonlocal attempts
        attempts += 1
        if attempts <= 3:  # the database is away for the first three tries
            raise ConnectionRefusedError("connection refused")
        committed.extend(items)
        return [None] * len(items)

    committer: GroupCommitter[int, None] = GroupCommitter(
        commit, concurrency=1, policy=Policy.RETRY, retry_backoff=(0.001, 0.002)
    )
    committer.start()
    await asyncio.gather(*(committer.submit(n) for n in range(50)))
    await committer.close()
    assert sorted(committed) == list(range(50)) and committer.retries == 3
