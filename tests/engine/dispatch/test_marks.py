"""Dispatch marks against the real database, and how recovery reads them back after a crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from engine.core.ids import MessageIdGenerator
from engine.core.recovery import Resume, adopt, recover, sms_taker
from engine.dispatch.job import Job
from engine.dispatch.marks import DispatchMarks
from engine.dispatch.sms import SmsJob


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    yield pool
    await pool.close()


async def _message(pool: asyncpg.Pool, message_id: int, status: str) -> None:
    await pool.execute(
        """INSERT INTO messages (id, account_id, channel, source, destination, data_coding, encoding,
                                 segments, status, route, route_costs, price, currency, parts)
           VALUES ($1, 1, 'smpp', 'Acme', '447700900123', 0, 'gsm7', 1, $2, '{sim}', '{3000}', 5000, 'EUR',
                   '\\x0000000002'::bytea || convert_to('hi', 'UTF8'))""",
        message_id,
        status,
    )


async def _covered(marks: DispatchMarks, job: Job) -> None:
    done = asyncio.Event()
    marks.add_listener(done.set)
    marks.request(job, job.id)
    async with asyncio.timeout(10):
        while not marks.covered(job):
            done.clear()
            await done.wait()


async def test_the_watermark_is_durable_before_a_job_it_covers_may_go(pool: asyncpg.Pool) -> None:
    ids = MessageIdGenerator(7)
    await pool.execute("INSERT INTO engine_nodes (node) VALUES (7)")
    marks = DispatchMarks(pool, ids, tables={"test": "messages"})
    marks.start()
    try:
        job = Job(id=ids.next_id(), kind="test", account_id=1, lane="x", route=("sim",))
        assert not marks.covered(job)
        await _covered(marks, job)
        stored = await pool.fetchval("SELECT dispatched_upto FROM engine_nodes WHERE node = 7")
        assert stored >= job.id  # on disk before the job may leave
        later = Job(id=ids.next_id(), kind="test", account_id=1, lane="y", route=("sim",))
        assert marks.covered(later)  # ids handed out in the next fraction of a second are covered ahead
    finally:
        await marks.close()


async def test_recovered_jobs_are_marked_on_their_own_rows(pool: asyncpg.Pool) -> None:
    ids = MessageIdGenerator(3)
    marks = DispatchMarks(pool, ids, tables={"test": "messages"})
    marks.start()
    try:
        message_id = ids.next_id()
        await _message(pool, message_id, "queued")
        job = Job(id=message_id, kind="test", account_id=1, lane="x", route=("sim",), needs_mark=True)
        await _covered(marks, job)
        row = await pool.fetchrow("SELECT status, attempts FROM messages WHERE id = $1", message_id)
        assert row is not None and (row["status"], row["attempts"]) == ("sending", 1)
    finally:
        await marks.close()


async def test_after_a_crash_only_what_may_have_gone_out_is_flagged_a_possible_duplicate(
    pool: asyncpg.Pool,
) -> None:
    ids = MessageIdGenerator(5)
    sent_maybe, marked, never = ids.next_id(), ids.next_id(), ids.next_id()
    await pool.execute("INSERT INTO engine_nodes (node, dispatched_upto) VALUES (5, $1)", marked)
    await _message(pool, sent_maybe, "queued")  # below the watermark: it may have reached the carrier
    await _message(pool, marked, "sending")  # explicitly marked before it went
    await _message(pool, never, "queued")  # above the watermark: it never left
    jobs: list[SmsJob] = []
    assert await recover(pool, 5, [sms_taker(jobs.append, lambda parts: None)]) == 3
    flagged = {j.id: j.possible_duplicate for j in jobs}
    assert flagged == {sent_maybe: True, marked: True, never: False}
    assert all(j.needs_mark for j in jobs)  # they belong to a dead node's watermark: marked row by row


async def test_a_take_over_cut_short_leaves_the_dead_node_whole_for_the_next_one(pool: asyncpg.Pool) -> None:
    """Claiming a dead node and owning its open jobs of every kind commit together: when one kind fails
    part-way (the taking node crashes, the database goes away), nothing is claimed and nothing moves."""
    ids = MessageIdGenerator(4)
    message_id = ids.next_id()
    dead = "INSERT INTO engine_nodes (node, heartbeat_at, lease_seconds) VALUES (4, now() - interval '1h', 5)"
    await pool.execute(dead)
    await _message(pool, message_id, "queued")

    async def crashes(conn: object, old: int, me: int) -> Resume:
        raise ConnectionError("the taking node went away")

    jobs: list[SmsJob] = []
    with pytest.raises(ConnectionError):
        await adopt(pool, 9, 4, [sms_taker(jobs.append, lambda parts: None), crashes])
    assert await pool.fetchval("SELECT adopted_by FROM engine_nodes WHERE node = 4") is None
    assert await pool.fetchval("SELECT owner FROM messages WHERE id = $1", message_id) is None
    assert jobs == []  # nothing resumed from a transaction that did not commit
    assert await adopt(pool, 8, 4, [sms_taker(jobs.append, lambda parts: None)]) == 1  # the next node
    assert await pool.fetchval("SELECT owner FROM messages WHERE id = $1", message_id) == 8
    assert [j.id for j in jobs] == [message_id]
