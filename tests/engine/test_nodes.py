"""Several engine nodes on one database, with independent SMPP peers as customers.

Two nodes in this process: customers bound to different nodes, a carrier whose receipts come back on the
other node's bind and whose MO come over both (they still reach the right customer, once, through its
own node), and the carrier's binds shared out between the nodes. Three node processes: kill -9 of one
under load; the survivors finish its messages within the lease, nothing acknowledged is lost or charged
twice, and a node added under load takes traffic.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import signal
import time
from collections.abc import AsyncIterator, Callable
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
    add_mo_number,
    create_account,
    flat_tariff,
    set_prices,
    set_rates,
    set_smpp_credentials,
)
from engine.app import Engine
from engine.carriers.link import CarrierConnection
from engine.core.ids import SEQUENCE_BITS
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
    port: int,
    system_id: str,
    password: str,
    count: int,
    *,
    mo: list[str] | None = None,
    on_bound: Callable[[], object] = lambda: None,
) -> tuple[set[str], set[str]]:
    """aiosmpplib as a transceiver: `count` submits with receipts requested; (ids answered, ids receipted).
    `on_bound` is called once bound; the texts of MO received are added to `mo`, each at most once."""
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
            on_bound()
            for n in range(count):
                await esme.broker.enqueue(
                    aiosmpplib.SubmitSm(
                        short_message=f"aiosmpplib {n}", source=PhoneNumber("Acme"),
                        destination=PhoneNumber(f"+4477001{n:05d}"), registered_delivery=1, log_id=str(n),
                    )
                )  # fmt: skip
            mo_expected = len(mo) if mo is not None else 0
            got_mo: list[str] = []
            while len(answered) < count or len(receipted) < count or len(got_mo) < mo_expected:
                pdu = await hook.messages.get()
                if isinstance(pdu, aiosmpplib.SubmitSmResp):
                    assert pdu.command_status.value == 0
                    answered.add(pdu.message_id)
                elif isinstance(pdu, aiosmpplib.DeliverSm):
                    parsed = parse_receipt(pdu.short_message)
                    if parsed is None:  # an MO
                        assert pdu.short_message not in got_mo, "an MO came twice"
                        got_mo.append(pdu.short_message)
                        continue
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
    if mo is not None:
        mo[:] = got_mo
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
            acme = await provision_customer(pool, "acme", "secret")
            await add_mo_number(pool, acme, "447700100100")
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
                # MO to acme's number, while acme is bound to a: the carrier sends them over both binds
                mo_texts = [f"mo {n}" for n in range(6)]
                mo = list(mo_texts)

                def send_mo() -> None:
                    for text in mo_texts:
                        sim.inject_mo("447700900001", "447700100100", text)

                async with asyncio.timeout(WAIT * 2):
                    (acme_ids, acme_receipts), (beta_ids, beta_receipts) = await asyncio.gather(
                        aiosmpplib_customer(a.smpp_port, "acme", "secret", count, mo=mo, on_bound=send_mo),
                        asyncio.to_thread(smpplib_customer, b.smpp_port, "beta", "secret2", count),
                    )
                # each customer got the receipt of each of its messages, once, and none of the other's
                assert len(acme_ids) == len(beta_ids) == count
                assert acme_receipts == acme_ids and beta_receipts == beta_ids
                assert sorted(mo) == mo_texts  # each MO once, whichever node's bind it came on
                # every receipt reached the node that had not sent its message, and went out from the
                # customer's own node; so did the MO that came in on b
                assert a.inbound.receipts == count and b.inbound.receipts == count
                assert a.inbound.mo_messages + b.inbound.mo_messages == len(mo_texts)
                assert b.inbound.mo_messages > 0
                assert a.forwarder.delivered == count + len(mo_texts) and b.forwarder.delivered == count
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


# ------------------------------------------------------------------------ three node processes, kill -9

NODE_ENV = {"SMSENGINE_NODE_LEASE_SECONDS": "3", "SMSENGINE_NODE_HEARTBEAT_SECONDS": "0.5"}
_destinations = itertools.count()


class Load:
    """One customer bound to one node, submitting with `senders` requests in flight until stopped;
    `accepted` holds the id of every message the node acknowledged (submit_sm_resp ROK)."""

    def __init__(self, port: int, senders: int = 8) -> None:
        self.accepted: set[int] = set()
        self._progress = asyncio.Event()
        self._stop = asyncio.Event()
        self._client = SmppClient("127.0.0.1", port, system_id="acme", password="secret", window=senders,
                                  handler=Receiver(), enquire_link_interval=None,
                                  reconnect_delay=0.5)  # fmt: skip
        self._senders = senders
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._client.start()
        await asyncio.wait_for(self._client.wait_bound(), WAIT)
        self._tasks = [asyncio.create_task(self._send()) for _ in range(self._senders)]

    async def _send(self) -> None:
        while not self._stop.is_set():
            to = f"4478{next(_destinations):08d}"
            pdu = SubmitSm(source_addr="Acme", source_addr_ton=5, destination_addr=to, dest_addr_ton=1,
                           dest_addr_npi=1, registered_delivery=1, short_message=b"x" * 20)  # fmt: skip
            try:
                resp = await self._client.request(pdu)
            except (SmppError, RequestFailedError):
                return  # the node is gone
            if isinstance(resp, SubmitSmResp) and resp.command_status == CommandStatus.ESME_ROK:
                self.accepted.add(int(resp.message_id, 16))
                self._progress.set()

    async def wait_accepted(self, count: int) -> None:
        while len(self.accepted) < count:
            self._progress.clear()
            await self._progress.wait()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.close()


async def unfinished(pool: asyncpg.Pool, ids: set[int]) -> int:
    sql = "SELECT count(*) FROM messages WHERE id = ANY($1::bigint[]) AND final_at IS NULL"
    return int(await pool.fetchval(sql, list(ids)))


async def wait_final(pool: asyncpg.Pool, ids: set[int]) -> None:
    # the nodes are other processes: their progress is only visible in the database
    while await unfinished(pool, ids):  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def test_kill_9_of_one_of_three_nodes_under_load_then_a_fourth_node_joins(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    config = SimulatorConfig(receipt_delay_ms=20, latency_ms=1, redelivery_delay_ms=200, deliver_timeout=2.0)
    async with CarrierSimulator(config) as sim, contextlib.AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        stack.push_async_callback(pool.close)
        await provision_carrier(pool, sim, binds=3)
        await provision_customer(pool, "acme", "secret", max_binds=10)
        ports = [free_port() for _ in range(4)]
        for i in range(4):
            (tmp_path / f"n{i}").mkdir()

        def node(i: int) -> contextlib.AbstractAsyncContextManager[asyncio.subprocess.Process]:
            return engine_process(database_url, redis_url, ports[i], tmp_path / f"n{i}", **NODE_ENV)

        processes = await asyncio.gather(*(stack.enter_async_context(node(i)) for i in range(3)))
        loads = [Load(port) for port in ports[:3]]
        await asyncio.gather(*(load.start() for load in loads))
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*(load.wait_accepted(100) for load in loads))

        processes[0].send_signal(signal.SIGKILL)  # mid-window, mid-commit, its binds dropped
        killed_at = time.monotonic()
        await processes[0].wait()
        await loads[0].stop()
        orphaned = set(loads[0].accepted)
        async with asyncio.timeout(30):
            await wait_final(pool, orphaned)
        took = time.monotonic() - killed_at
        assert took <= 10.0, f"the dead node's messages took {took:.1f} s to finish"
        dead = (min(orphaned) >> SEQUENCE_BITS) & 1023
        # its lease runs out and a survivor takes its row over (its messages may all have been final
        # before: a loaded machine lets the dead node finish its window before the kill lands)
        async with asyncio.timeout(15):
            while await pool.fetchval("SELECT adopted_by FROM engine_nodes WHERE node = $1", dead) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.1)

        # a fourth node joins while the survivors are under load, and carries its customer's messages
        before = [len(load.accepted) for load in loads[1:]]
        await stack.enter_async_context(node(3))
        newcomer = Load(ports[3])
        loads.append(newcomer)
        await newcomer.start()
        async with asyncio.timeout(WAIT):
            await newcomer.wait_accepted(100)
            await wait_final(pool, set(newcomer.accepted))
        assert all(len(load.accepted) > n for load, n in zip(loads[1:3], before, strict=True))
        nodes_of_new = {(i >> SEQUENCE_BITS) & 1023 for i in newcomer.accepted}
        assert len(nodes_of_new) == 1 and dead not in nodes_of_new

        await asyncio.gather(*(load.stop() for load in loads[1:]))
        accepted = set().union(*(load.accepted for load in loads))
        async with asyncio.timeout(60):
            await wait_final(pool, accepted)
        # 0 lost (every acknowledged message final), 0 charged twice (each settled once, the ledger
        # balances), and a message the carrier got twice is one flagged possible_duplicate
        rows = await pool.fetch(
            "SELECT destination, money, settle_batch, possible_duplicate FROM messages"
            " WHERE id = ANY($1::bigint[])",
            list(accepted),
        )
        assert len(rows) == len(accepted)
        assert all(r["money"] in ("captured", "released") and r["settle_batch"] for r in rows)
        sent = collections.Counter(pdu.destination_addr for pdu in sim.received.values())
        flagged = {r["destination"].lstrip("+") for r in rows if r["possible_duplicate"]}
        twice = {d for d, n in sent.items() if n > 1}
        assert twice <= flagged, f"sent twice without the flag: {sorted(twice - flagged)[:5]}"
        async with pool.acquire() as conn:
            report = await check_engine_ledger(conn)
        assert report.ok and (report.items_checked or 0) >= len(accepted), format_report(report)
