"""Several engine nodes on one database, with independent SMPP peers as customers.

Two nodes in this process: customers bound to different nodes, a carrier whose receipts come back on the
other node's bind (they still reach the right customer, once, through its own node), and the carrier's
binds shared out between the nodes. Three node processes: kill -9 of one under load; the survivors
finish its messages within the lease, nothing acknowledged is lost or charged twice, and a node added
under load takes traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosmpplib
import asyncpg
import pytest
import smpplib.client
import smpplib.consts
from aiosmpplib import BindMode, PhoneNumber

from billing.check import format_report
from engine.admin.ledger import check_engine_ledger
from engine.admin.provision import (
    add_carrier,
    add_funds,
    create_account,
    flat_tariff,
    set_prices,
    set_rates,
    set_smpp_credentials,
)
from engine.app import Engine
from engine.carriers.link import CarrierConnection
from engine.core.ids import SEQUENCE_BITS, parse_id
from engine.infra.services import ServiceUrls
from engine.infra.settings import load_settings
from engine.simulation.carrier import CarrierSimulator
from engine.simulation.config import SimulatorConfig
from smpp.client import SmppClient
from smpp.connection import RequestFailedError
from smpp.constants import CommandStatus
from smpp.errors import SmppError
from smpp.pdu import SubmitSm, SubmitSmResp
from smpp.receipt import parse_receipt
from tests.engine.harness import ALL_PREFIXES, WAIT, Receiver
from tests.engine.test_kill9 import engine_process, free_port
from tests.smpp.test_interop import RecordingHook

pytestmark = pytest.mark.slow

LEASE = {"lease_seconds": 3.0, "heartbeat_seconds": 0.5}


async def provision_carrier(pool: asyncpg.Pool, sim: CarrierSimulator, binds: int) -> None:
    await add_carrier(
        pool,
        CarrierConnection(
            carrier="sim", host="127.0.0.1", port=sim.port, system_id="engine", password="pw", binds=binds,
            window_size=50, throughput=100_000, resp_id_format="hex", dlr_id_format="hex",
        ),
    )  # fmt: skip
    await set_rates(pool, "sim", flat_tariff(ALL_PREFIXES, 3_000))


async def provision_customer(pool: asyncpg.Pool, name: str, password: str, max_binds: int = 4) -> int:
    account = await create_account(pool, name)
    await add_funds(pool, account, 1_000_000_000)
    await set_smpp_credentials(pool, account, name, password, throughput=100_000, max_binds=max_binds)
    await set_prices(pool, account, flat_tariff(ALL_PREFIXES, 5_000))
    return account


@contextlib.asynccontextmanager
async def in_process_node(database_url: str, redis_url: str, name: str) -> AsyncIterator[Engine]:
    settings = load_settings(
        None, env={}, smpp={"port": 0, "enquire_link_interval": 30}, database={"pool_max": 6},
        node={"name": name, **LEASE},
    )  # fmt: skip
    async with Engine.start(settings, ServiceUrls(database_url, redis_url)) as engine:
        yield engine


def binds_of(engine: Engine) -> int:
    return len(engine.links["sim"].clients)


# ------------------------------------------------------------------------------------ customers


async def aiosmpplib_customer(
    port: int, system_id: str, password: str, count: int
) -> tuple[set[str], set[str]]:
    """aiosmpplib as a transceiver: `count` submits with receipts requested; (ids answered, ids receipted)."""
    hook = RecordingHook()
    esme = aiosmpplib.ESME(
        smsc_host="127.0.0.1", smsc_port=port, system_id=system_id, password=password,
        bind_mode=BindMode.TRANSCEIVER, hook=hook, log_level="WARNING", socket_timeout=5.0,
    )  # fmt: skip
    runner = asyncio.create_task(esme.start())
    answered: set[str] = set()
    receipted: set[str] = set()
    try:
        async with asyncio.timeout(WAIT):
            await hook.next(aiosmpplib.BindTransceiverResp)
            for n in range(count):
                await esme.broker.enqueue(
                    aiosmpplib.SubmitSm(
                        short_message=f"aiosmpplib {n}", source=PhoneNumber("Acme"),
                        destination=PhoneNumber(f"+4477001{n:05d}"), registered_delivery=1, log_id=str(n),
                    )
                )  # fmt: skip
            while len(answered) < count or len(receipted) < count:
                pdu = await hook.messages.get()
                if isinstance(pdu, aiosmpplib.SubmitSmResp):
                    assert pdu.command_status.value == 0
                    answered.add(pdu.message_id)
                elif isinstance(pdu, aiosmpplib.DeliverSm):
                    parsed = parse_receipt(pdu.short_message)
                    assert parsed is not None
                    assert parsed.message_id not in receipted, "a receipt came twice"
                    receipted.add(parsed.message_id)
    finally:
        writer = esme._writer
        await esme.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        if writer is not None:
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    assert hook.errors == []
    return answered, receipted


def smpplib_customer(port: int, system_id: str, password: str, count: int) -> tuple[set[str], set[str]]:
    """smpplib (synchronous, run in a thread) as a transceiver; same result as aiosmpplib_customer."""
    answered: set[str] = set()
    receipted: list[str] = []
    client = smpplib.client.Client("127.0.0.1", port, timeout=WAIT, allow_unknown_opt_params=True)
    client.set_message_sent_handler(lambda pdu: answered.add(pdu.message_id.decode()))

    def received(pdu: Any) -> None:
        parsed = parse_receipt(pdu.short_message)
        assert parsed is not None
        receipted.append(parsed.message_id)

    client.set_message_received_handler(received)
    client.connect()
    try:
        client.bind_transceiver(system_id=system_id, password=password)
        for n in range(count):
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM, source_addr="Beta",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL, destination_addr=f"4477002{n:05d}",
                short_message=f"smpplib {n}".encode(), registered_delivery=1,
            )  # fmt: skip
        deadline = time.monotonic() + WAIT
        while (len(answered) < count or len(receipted) < count) and time.monotonic() < deadline:
            client.read_once(auto_send_enquire_link=False)
        client.unbind()
    finally:
        client.disconnect()
    assert len(receipted) == len(set(receipted)), "a receipt came twice"
    return answered, set(receipted)


# --------------------------------------------------------------------------- two nodes, one process


async def test_two_nodes_share_a_carriers_binds_and_receipts_cross_to_the_customers_own_node(
    database_url: str, redis_url: str
) -> None:
    count = 20
    # The carrier sends every receipt on another bind than the one its message came on: with one bind
    # per node, every receipt arrives at the node that did not send the message.
    async with CarrierSimulator(SimulatorConfig(receipts_on="other", receipt_delay_ms=10)) as sim:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        try:
            await provision_carrier(pool, sim, binds=2)
            await provision_customer(pool, "acme", "secret")
            await provision_customer(pool, "beta", "secret2")
            async with (
                in_process_node(database_url, redis_url, "node-a") as a,
                in_process_node(database_url, redis_url, "node-b") as b,
            ):
                # a started alone with both binds; once it sees b at its next heartbeat it gives one up
                async with asyncio.timeout(WAIT):
                    await sim.wait_for(lambda: len(sim.connections) == 2 and binds_of(a) == binds_of(b) == 1)
                    await a.links["sim"].wait_all_bound()
                    await b.links["sim"].wait_all_bound()
                a.refresh_health()
                b.refresh_health()
                async with asyncio.timeout(WAIT * 2):
                    (acme_ids, acme_receipts), (beta_ids, beta_receipts) = await asyncio.gather(
                        aiosmpplib_customer(a.smpp_port, "acme", "secret", count),
                        asyncio.to_thread(smpplib_customer, b.smpp_port, "beta", "secret2", count),
                    )
                # each customer got the receipt of each of its messages, once, and none of the other's
                assert len(acme_ids) == len(beta_ids) == count
                assert acme_receipts == acme_ids and beta_receipts == beta_ids
                # every receipt reached the node that had not sent its message, and went out from the
                # customer's own node
                assert a.inbound.receipts == count and b.inbound.receipts == count
                assert a.forwarder.delivered == count and b.forwarder.delivered == count
                for ids, node in ((acme_ids, a.node), (beta_ids, b.node)):
                    assert {(int(i, 16) >> SEQUENCE_BITS) & 1023 for i in ids} == {node}
                pending = await pool.fetchval("SELECT count(*) FROM deliveries")
                assert pending == 0
        finally:
            await pool.close()


async def test_a_node_that_stops_gives_its_binds_back_to_the_others(
    database_url: str, redis_url: str
) -> None:
    async with CarrierSimulator(SimulatorConfig()) as sim:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        try:
            await provision_carrier(pool, sim, binds=3)
            async with in_process_node(database_url, redis_url, "node-a") as a:
                async with in_process_node(database_url, redis_url, "node-b") as b:
                    async with asyncio.timeout(WAIT):  # 3 binds over 2 nodes: 2 + 1, 3 in all
                        await sim.wait_for(
                            lambda: len(sim.connections) == 3 and binds_of(a) + binds_of(b) == 3
                        )
                    assert sorted([binds_of(a), binds_of(b)]) == [1, 2]
                async with asyncio.timeout(WAIT):  # b is gone: a holds all three again
                    await sim.wait_for(lambda: len(sim.connections) == 3 and binds_of(a) == 3)
        finally:
            await pool.close()
