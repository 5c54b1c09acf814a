"""A whole engine for tests: a simulated carrier, a provisioned account, the engine on free ports.

`running_stack(database_url, redis_url, ...)` yields a `Stack` once the engine's carrier binds are up.
Customers in tests are real SMPP clients on real sockets: our SmppClient where convenience matters, and
an independent implementation (aiosmpplib) in the interop tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

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
from engine.infra.services import ServiceUrls
from engine.infra.settings import load_settings
from engine.simulation.carrier import CarrierSimulator
from engine.simulation.config import SimulatorConfig
from smpp.client import SmppClient
from smpp.connection import SmppConnection
from smpp.constants import CommandStatus
from smpp.pdu import DeliverSm, Pdu

ALL_PREFIXES = [str(d) for d in range(1, 10)]
WAIT = 30.0


@dataclass
class Stack:
    engine: Engine
    sim: CarrierSimulator
    pool: asyncpg.Pool
    account_id: int
    system_id: str = "acme"
    password: str = "secret"
    mo_number: str = "447700100100"
    price: int = 5_000
    cost: int = 3_000


class Receiver:
    """An EsmeHandler that answers every deliver_sm ROK (or with `status`) and queues it for the test."""

    def __init__(self, status: int = CommandStatus.ESME_ROK) -> None:
        self.status = status
        self.received: asyncio.Queue[DeliverSm] = asyncio.Queue()
        self.all: list[DeliverSm] = []

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        conn.respond(pdu, self.status)
        if isinstance(pdu, DeliverSm) and self.status == CommandStatus.ESME_ROK:
            self.all.append(pdu)
            self.received.put_nowait(pdu)

    def on_bound(self, conn: SmppConnection) -> None:
        pass

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        pass


@contextlib.asynccontextmanager
async def customer(
    stack: Stack, receiver: Receiver | None = None, **kwargs: Any
) -> AsyncIterator[SmppClient]:
    client = SmppClient(
        "127.0.0.1",
        stack.engine.smpp_port,
        system_id=stack.system_id,
        password=stack.password,
        handler=receiver,
        window=kwargs.pop("window", 50),
        enquire_link_interval=None,
        reconnect_delay=0.1,
        **kwargs,
    )
    client.start()
    try:
        async with asyncio.timeout(WAIT):
            await client.wait_bound()
        yield client
    finally:
        await client.close()


@dataclass
class StackOptions:
    sim: SimulatorConfig = field(default_factory=SimulatorConfig)
    binds: int = 1
    resp_id_format: str = "hex"
    dlr_id_format: str = "hex"
    long_message: str = "udh8"
    balance: int = 100_000_000
    throughput: int = 10_000
    customer_throughput: int = 10_000
    settings: dict[str, Any] = field(default_factory=dict)  # more load_settings overrides ({"mail": {...}})


@contextlib.asynccontextmanager
async def running_stack(
    database_url: str, redis_url: str, options: StackOptions | None = None
) -> AsyncIterator[Stack]:
    opts = options or StackOptions()
    async with CarrierSimulator(opts.sim) as sim:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
        assert pool is not None
        try:
            await add_carrier(
                pool,
                CarrierConnection(
                    carrier="sim", host="127.0.0.1", port=sim.port, system_id="engine", password="pw",
                    binds=opts.binds, window_size=50, throughput=opts.throughput,
                    long_message=opts.long_message, resp_id_format=opts.resp_id_format,
                    dlr_id_format=opts.dlr_id_format,
                ),
            )  # fmt: skip
            await set_rates(pool, "sim", flat_tariff(ALL_PREFIXES, 3_000))
            account = await create_account(pool, "acme")
            await add_funds(pool, account, opts.balance)
            await set_smpp_credentials(pool, account, "acme", "secret", throughput=opts.customer_throughput)
            await set_prices(pool, account, flat_tariff(ALL_PREFIXES, 5_000))
            await add_mo_number(pool, account, "447700100100")
            settings = load_settings(
                None,
                env={},
                **{
                    "smpp": {"port": 0, "enquire_link_interval": 30},
                    "database": {"pool_max": 8},
                    # the tests' webhook and callback receivers listen on loopback
                    "security": {"allowed_private_targets": "127.0.0.1"},
                    **opts.settings,
                },
            )
            async with Engine.start(settings, ServiceUrls(database_url, redis_url)) as engine:
                async with asyncio.timeout(WAIT):
                    await sim.wait_bound(opts.binds)
                    for link in engine.links.values():
                        await link.wait_all_bound()
                engine.refresh_health()
                yield Stack(engine, sim, pool, account)
        finally:
            await pool.close()
