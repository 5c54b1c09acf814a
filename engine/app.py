"""The composition root: `async with Engine.start(settings, urls) as engine:` runs everything.

Start: pool and migrations, node number, routing snapshot (kept live), carrier binds, the lifecycle,
dispatch, accept and forwarding machinery, restart recovery, then the customer SMPP server last (so no
customer is accepted before the engine can carry its messages). Stop, in reverse: refuse new messages,
unbind customers (their in-flight submits drain), finish the commits, let dispatch drain what it can,
close carrier binds, close the pool. Everything that runs has an owner here and a way to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import asyncpg
import structlog

from engine.campaigns.runner import CampaignRunner
from engine.carriers.inbound import CarrierInbound
from engine.carriers.link import CarrierConnection, CarrierLink
from engine.core.accept import Acceptor
from engine.core.ids import MessageIdGenerator
from engine.core.intake import CarrierProfile, Intake, PreparedMessage
from engine.core.lifecycle import Lifecycle
from engine.core.recovery import recover
from engine.customers.smpp_front import CustomerSmpp
from engine.dispatch.dispatcher import Dispatcher, DispatchJob
from engine.infra.schema import apply_migrations
from engine.infra.services import ServiceUrls
from engine.infra.settings import Settings
from engine.outbox.forwarder import Forwarder
from engine.outbox.webhooks import WebhookSender
from engine.payments.service import Payments
from engine.payments.stripe_provider import StripeProvider
from engine.senders.directory import SenderDirectory
from routing.live import LiveRoutingTable
from routing.model import CarrierHealth, HealthSnapshot
from routing.storage import PgRoutingStore
from smpp.server import SmppServer, start_server

log = structlog.get_logger("engine")


def job_of(m: PreparedMessage) -> DispatchJob:
    r = m.request
    return DispatchJob(
        message_id=m.id,
        source=r.source,
        source_ton=r.source_ton,
        source_npi=r.source_npi,
        destination=m.destination,
        segments=m.segments,
        route=m.route,
        route_costs=m.route_costs,
        parts=m.parts,
        expires_at=r.expires_at,
        scheduled_at=r.scheduled_at,
    )


@dataclass
class Engine:
    settings: Settings
    pool: asyncpg.Pool
    routing: LiveRoutingTable
    links: dict[str, CarrierLink]
    lifecycle: Lifecycle
    dispatcher: Dispatcher
    acceptor: Acceptor
    intake: Intake
    customers: CustomerSmpp
    forwarder: Forwarder
    inbound: CarrierInbound
    server: SmppServer | None = None
    webhooks: WebhookSender | None = None  # the outbox sender: emit / wake (engine/outbox/webhooks.py)
    campaigns: CampaignRunner | None = None
    senders: SenderDirectory | None = None  # approved sender IDs, asked by intake (engine/senders)
    payments: Payments | None = None  # checkout, settling, auto top-up (engine/payments)
    node: int = 0
    recovered: int = 0
    opt_outs: dict[int, set[str]] = field(default_factory=dict)
    _health: HealthSnapshot = field(default_factory=lambda: HealthSnapshot({}))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def smpp_port(self) -> int:
        return self.server.port if self.server else 0

    def health(self) -> HealthSnapshot:
        return self._health

    def refresh_health(self) -> None:
        self._health = HealthSnapshot({name: link.health() for name, link in self.links.items()})

    @property
    def all_up(self) -> HealthSnapshot:
        """Every connected carrier counted healthy: the fallback when none is (see Intake)."""
        return HealthSnapshot({name: CarrierHealth(bound=True) for name in self.links})

    def is_opted_out(self, account_id: int, number: str) -> bool:
        numbers = self.opt_outs.get(account_id)
        return numbers is not None and number in numbers

    def set_opt_out(self, account_id: int, number: str, opted_out: bool) -> None:
        numbers = self.opt_outs.setdefault(account_id, set())
        (numbers.add if opted_out else numbers.discard)(number)

    def enqueue_committed(self, messages: Sequence[PreparedMessage]) -> None:
        for m in messages:
            self.dispatcher.enqueue(job_of(m))

    async def wait_idle(self, within: float) -> bool:
        """Wait until nothing is queued, in flight or uncommitted; False if that took longer than `within`."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not (self.dispatcher.backlog or self.acceptor.pending or self.lifecycle.pending):
                return True
            await asyncio.sleep(0.05)
        return False

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, settings: Settings, urls: ServiceUrls) -> AsyncIterator[Engine]:
        pool = await asyncpg.create_pool(
            urls.database_url, min_size=settings.database.pool_min, max_size=settings.database.pool_max
        )
        assert pool is not None
        try:
            async with pool.acquire() as conn:
                await apply_migrations(conn)
                node = int(await conn.fetchval("SELECT nextval('engine_node_seq')"))
            engine = await cls._assemble(settings, pool, node)
            try:
                yield engine
            finally:
                await engine._stop()
        finally:
            await pool.close()

    @classmethod
    async def _assemble(cls, settings: Settings, pool: asyncpg.Pool, node: int) -> Engine:
        routing = LiveRoutingTable(PgRoutingStore(pool))
        await routing.load()
        rows = await pool.fetch("SELECT * FROM carrier_connections WHERE enabled")
        configs = [CarrierConnection(**{k: r[k] for k in r.keys()}) for r in rows]
        profiles: dict[str, CarrierProfile] = {c.carrier: c.profile for c in configs}
        # The parts call each other in a cycle (receipts -> forwarder -> customer binds -> forwarder);
        # callbacks reach the others through the engine, bound once it exists.
        ref: list[Engine] = []

        def late() -> Engine:
            return ref[0]

        webhooks = WebhookSender(pool)
        senders = SenderDirectory(pool)
        await senders.start()
        lifecycle = Lifecycle(pool, on_deliveries=lambda d: late().forwarder.push(d), webhooks=webhooks)
        links = {
            c.carrier: CarrierLink(
                c,
                lambda link, conn, pdu: late().inbound.on_deliver(link, conn, pdu),
                lambda: late().refresh_health() if ref else None,
                response_timeout=settings.smpp.response_timeout,
                enquire_link_interval=settings.smpp.enquire_link_interval,
            )
            for c in configs
        }
        dispatcher = Dispatcher(links, lifecycle)
        acceptor = Acceptor(
            pool, on_committed=lambda ms: late().enqueue_committed(ms), on_low_balance=webhooks.low_balance
        )
        intake = Intake(
            routing=routing,
            health=lambda: late().health(),
            all_up=lambda: late().all_up,
            profile=profiles.get,
            is_opted_out=lambda a, n: late().is_opted_out(a, n),
            ids=MessageIdGenerator(node),
            sender_allowed=senders.allowed,
        )
        customers = CustomerSmpp(
            pool,
            intake,
            acceptor,
            backlog=lambda: dispatcher.backlog,
            on_receiver_bound=lambda account: late().forwarder.wake(account),
        )
        forwarder = Forwarder(pool, customers.receiver)
        inbound = CarrierInbound(
            pool,
            lifecycle,
            on_deliveries=forwarder.push,
            on_opt_out=lambda a, n, o: late().set_opt_out(a, n, o),
            webhooks=webhooks,
        )
        ref.append(
            cls(settings, pool, routing, links, lifecycle, dispatcher, acceptor, intake, customers, forwarder,
                inbound, node=node, webhooks=webhooks, senders=senders)
        )  # fmt: skip
        engine = ref[0]
        for row in await pool.fetch("SELECT account_id, number FROM opt_outs"):
            engine.set_opt_out(row["account_id"], row["number"], True)
        webhooks.start()
        lifecycle.start()
        acceptor.start()
        inbound.start()
        forwarder.start()
        for link in links.values():
            link.start()
        engine.refresh_health()
        dispatcher.start()
        engine._tasks.append(asyncio.get_running_loop().create_task(routing.run()))
        await inbound.restore()
        engine.recovered = await recover(pool, dispatcher.enqueue)
        if engine.recovered:
            log.info("recovered messages", count=engine.recovered)
        # After recovery, so campaign messages committed before a restart are queued before new ones.
        engine.campaigns = CampaignRunner(
            pool,
            intake,
            acceptor,
            admit=lambda: customers.accepting and dispatcher.backlog < 100_000,
            webhooks=webhooks,
        )
        engine.campaigns.start()
        pay = settings.payments
        provider = (
            StripeProvider(
                pay.stripe_api_key, api_base=pay.stripe_api_base, webhook_secret=pay.stripe_webhook_secret
            )
            if pay.stripe_api_key
            else None
        )
        engine.payments = Payments(pool, provider, pay)
        engine.payments.start()
        tls = None
        if settings.smpp.tls_cert:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(settings.smpp.tls_cert, settings.smpp.tls_key)
        engine.server = await start_server(
            customers,
            settings.smpp.host,
            settings.smpp.port,
            ssl=tls,
            window=settings.smpp.window,
            response_timeout=settings.smpp.response_timeout,
            enquire_link_interval=settings.smpp.enquire_link_interval,
            inactivity_timeout=settings.smpp.inactivity_timeout,
        )
        log.info("smpp server listening", host=settings.smpp.host, port=engine.smpp_port, node=node)
        return engine

    async def _stop(self) -> None:
        self.customers.accepting = False
        if self.server is not None:
            await self.server.close()  # unbinds customers; their in-flight submits are answered first
        if self.campaigns is not None:
            await self.campaigns.close()  # before the acceptor: it submits through it
        await self.acceptor.close()
        await self.wait_idle(within=10.0)
        await self.dispatcher.close()
        await self.lifecycle.close()
        await self.inbound.close()
        if self.webhooks is not None:
            await self.webhooks.close()  # after everything that emits events
        await self.forwarder.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(link.close() for link in self.links.values()), return_exceptions=True)
        if self.senders is not None:
            await self.senders.close()
        if self.payments is not None:
            await self.payments.close()
