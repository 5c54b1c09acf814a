"""SMPP binds: failures from one address are slowed then refused for a while, and every attempt is
audited (binds from smpplib, an independent ESME, over a real socket); a bind over its throughput is
paced before it is refused."""

from __future__ import annotations

import asyncio
import time

import smpplib.client
import smpplib.exceptions

from engine.customers.bind_guard import BindGuard
from smpp.constants import CommandStatus
from smpp.pdu import SubmitSm
from tests.engine.harness import WAIT, StackOptions, customer, running_stack


def test_failures_are_slowed_then_blocked_and_forgotten_after_their_window() -> None:
    guard = BindGuard(delay_after=2, step=0.5, block_after=5, block_seconds=60, window=100)
    delays = []
    for t in range(4):
        assert guard.failed("198.51.100.7", float(t)) is False
        delays.append(guard.delay("198.51.100.7", float(t)))
    assert delays == [0.0, 0.0, 0.5, 1.0]
    assert guard.failed("198.51.100.7", 4.0) is True and guard.blocked("198.51.100.7", 5.0) == 59.0
    assert guard.blocked("198.51.100.8", 5.0) == 0.0  # another address is not concerned
    assert guard.blocked("198.51.100.7", 64.0) == 0.0 and guard.failures("198.51.100.7", 64.0) == 0
    guard.failed("203.0.113.1", 0.0)
    assert guard.failures("203.0.113.1", 99.0) == 1 and guard.failures("203.0.113.1", 100.5) == 0


def submit(text: str) -> SubmitSm:
    return SubmitSm(
        source_addr="Acme", source_addr_ton=5, destination_addr="447700900123", dest_addr_ton=1,
        dest_addr_npi=1, short_message=text.encode(),
    )  # fmt: skip


def bind_status(port: int, password: str) -> int:
    """What a bind_transceiver by smpplib is answered (0 when bound; then unbound)."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=WAIT)
    client.connect()
    try:
        client.bind_transceiver(system_id="acme", password=password)
    except smpplib.exceptions.PDUError as exc:
        return int(exc.args[1])
    else:
        client.unbind()
        return 0
    finally:
        client.disconnect()


async def test_a_guessing_address_is_slowed_then_refused_and_every_bind_is_audited(
    database_url: str, redis_url: str
) -> None:
    async with running_stack(database_url, redis_url) as stack:
        port = stack.engine.smpp_port
        stack.engine.customers.bind_guard = BindGuard(
            delay_after=1, step=0.3, block_after=3, block_seconds=60
        )
        assert await asyncio.to_thread(bind_status, port, "secret") == 0
        took = []
        for _ in range(3):
            started = time.monotonic()
            assert await asyncio.to_thread(bind_status, port, "guess") == CommandStatus.ESME_RINVPASWD
            took.append(time.monotonic() - started)
        assert took[1] >= 0.3 > took[0]  # the second failure beyond the first is held back
        # blocked now: even the right password is refused, without being checked
        assert await asyncio.to_thread(bind_status, port, "secret") == CommandStatus.ESME_RBINDFAIL
        rows = await stack.pool.fetch(
            "SELECT peer_ip, system_id, bind_type, account_id, ok, command_status, reason"
            " FROM smpp_bind_audit ORDER BY id"
        )
    assert [(r["ok"], r["command_status"]) for r in rows] == [
        (True, 0), (False, CommandStatus.ESME_RINVPASWD), (False, CommandStatus.ESME_RINVPASWD),
        (False, CommandStatus.ESME_RINVPASWD), (False, CommandStatus.ESME_RBINDFAIL),
    ]  # fmt: skip
    assert {r["peer_ip"] for r in rows} == {"127.0.0.1"} and {r["bind_type"] for r in rows} == {"transceiver"}
    assert rows[0]["account_id"] == stack.account_id and rows[1]["reason"] == "wrong password"
    assert rows[-1]["account_id"] is None and "blocked" in rows[-1]["reason"]


async def test_a_bind_over_its_throughput_is_paced_then_refused_far_beyond_it(
    database_url: str, redis_url: str
) -> None:
    """10 submits/s allowed, burst 2, hold 1 s: 30 submits at once are answered in order, the first
    dozen paced over about a second, the rest ESME_RTHROTTLED; none is refused below the hold."""
    async with running_stack(database_url, redis_url, StackOptions(customer_throughput=10)) as stack:
        async with customer(stack, window=30) as client:
            started = time.monotonic()
            answers = await asyncio.gather(*(client.request(submit(f"paced {i}")) for i in range(30)))
            took = time.monotonic() - started
    statuses = [a.command_status for a in answers]
    accepted = statuses.count(CommandStatus.ESME_ROK)
    assert set(statuses) == {CommandStatus.ESME_ROK, CommandStatus.ESME_RTHROTTLED}
    assert 10 <= accepted <= 14 and statuses[:accepted] == [CommandStatus.ESME_ROK] * accepted
    assert took >= 0.8  # paced: the last accepted one waited for its token
