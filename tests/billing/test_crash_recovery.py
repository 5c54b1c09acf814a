"""A crash between reserve and capture leaves the ledger reconcilable once recovery settles the message.

The engine's recovery re-runs capture (the carrier took it) or release (it failed) for every message that
was not final; these tests kill the connection mid-transaction, or stop after a committed reserve, and
check that the ledger is clean before and after that re-run, and that re-running twice changes nothing.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
import pytest

from billing import (
    Capture,
    Reservation,
    SettleOutcome,
    balance,
    capture_batch,
    check_ledger,
    format_report,
    release_batch,
    reserve_batch,
)
from tests.billing.conftest import funded

Conn: TypeAlias = "asyncpg.Connection[Any]"

# The engine owns the messages table; a stand-in with the same role for these tests.
MESSAGES = "CREATE TABLE test_messages (ref text PRIMARY KEY, final boolean NOT NULL DEFAULT false)"
PENDING = "SELECT ref FROM test_messages WHERE NOT final"
# What the dead connection's commit may raise, depending on when the termination notice is read.
CONNECTION_LOST = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
)


async def _kill(admin: Conn, victim: Conn) -> None:
    pid = victim.get_server_pid()
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)


async def _clean(conn: Conn) -> None:
    report = await check_ledger(conn, PENDING)
    assert report.ok, format_report(report)


async def test_connection_killed_mid_reserve_commits_nothing(conn: Conn, database_url: str) -> None:
    await funded(conn, 1, 1000)
    await conn.execute(MESSAGES)
    victim: Conn = await asyncpg.connect(database_url)
    tx = victim.transaction()
    await tx.start()
    await victim.execute("INSERT INTO test_messages (ref) VALUES ('m1'), ('m2')")
    await reserve_batch(victim, [Reservation("m1", 1, 100), Reservation("m2", 1, 100)])
    await _kill(conn, victim)
    with pytest.raises(CONNECTION_LOST):
        await tx.commit()
    victim.terminate()

    assert (await balance(conn, 1)).available == 1000
    assert await conn.fetchval("SELECT count(*) FROM test_messages") == 0
    await _clean(conn)


async def test_committed_reserve_with_no_capture_is_settled_by_recovery(
    conn: Conn, database_url: str
) -> None:
    await funded(conn, 1, 1000)
    await conn.execute(MESSAGES)
    async with conn.transaction():  # the engine's group commit: messages and their money together
        await conn.execute("INSERT INTO test_messages (ref) SELECT 'm' || i FROM generate_series(1, 4) i")
        await reserve_batch(conn, [Reservation(f"m{i}", 1, 100) for i in range(1, 5)])
    # ...crash here: no capture ever ran. Still consistent: each open reservation has its pending message.
    await _clean(conn)

    # A capture that dies with its connection changes nothing.
    victim: Conn = await asyncpg.connect(database_url)
    tx = victim.transaction()
    await tx.start()
    await capture_batch(victim, [Capture("m1", cost=10), Capture("m2", cost=10)])
    await _kill(conn, victim)
    with pytest.raises(CONNECTION_LOST):
        await tx.commit()
    victim.terminate()
    assert (await balance(conn, 1)).reserved == 400
    await _clean(conn)

    # Recovery: the carrier took m1 and m2, m3 failed permanently, m4 is still in flight.
    for _ in range(2):  # recovery may itself be interrupted and re-run: the second pass is a no-op
        async with conn.transaction():
            captured = await capture_batch(conn, [Capture("m1", cost=10), Capture("m2", cost=10)])
            released = await release_batch(conn, ["m3"])
            await conn.execute("UPDATE test_messages SET final = true WHERE ref IN ('m1', 'm2', 'm3')")
        outcomes = {r.outcome for r in captured.results} | {r.outcome for r in released.results}
        assert outcomes <= {SettleOutcome.APPLIED, SettleOutcome.ALREADY}
        await _clean(conn)

    after = await balance(conn, 1)
    assert (after.available, after.reserved) == (700, 100)


async def test_reconciliation_reports_what_recovery_missed(conn: Conn) -> None:
    await funded(conn, 1, 1000)
    await conn.execute(MESSAGES)
    await conn.execute("INSERT INTO test_messages (ref, final) VALUES ('open-final', true), ('lost', false)")
    await reserve_batch(conn, [Reservation("open-final", 1, 100)])
    report = await check_ledger(conn, PENDING)
    assert not report.ok
    assert report.messages_checked == 1
    assert report.orphan_reservations == ["open-final"]  # final message, money still held
    assert report.unreserved_messages == ["lost"]  # pending message, nothing reserved
    text = format_report(report)
    assert "FAIL every open reservation has a pending message" in text
    assert "ledger MISMATCH" in text

    async def pending(_: Conn) -> list[str]:
        return ["lost"]

    assert (await check_ledger(conn, pending)).orphan_reservations == ["open-final"]
    await release_batch(conn, ["open-final"])
    await conn.execute("UPDATE test_messages SET final = true WHERE ref = 'lost'")
    await _clean(conn)
