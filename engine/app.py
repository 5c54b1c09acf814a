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
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from engine.campaigns.runner import CampaignRunner
from engine.carriers.inbound import CarrierInbound
from engine.carriers.link import CarrierConnection, CarrierLink
from engine.carriers.receipts import ReceiptMatcher
from engine.core.accept import Acceptor
from engine.core.group_commit import GroupCommitter
from engine.core.ids import MessageIdGenerator
from engine.core.intake import CarrierProfile, Intake, PreparedMessage
from engine.core.lifecycle import Lifecycle
from engine.core.messages import SMS
from engine.core.recovery import recover
from engine.customers.smpp_front import CustomerSmpp
from engine.dispatch.clock import LoopClock
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.marks import DispatchMarks
from engine.dispatch.sms import KIND, CarrierTarget
from engine.identity.service import Identity
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

_REGISTER_NODE = """
INSERT INTO engine_nodes (node, host, pid) VALUES ($1, $2, $3)
ON CONFLICT (node) DO UPDATE SET started_at = now(), heartbeat_at = now(), dispatched_upto = 0,
    host = EXCLUDED.host, pid = EXCLUDED.pid
"""


async def _keep_session(conn: asyncpg.Connection) -> None:
    return None


@dataclass
class Engine:
    settings: Settings
    pool: asyncpg.Pool
    routing: LiveRoutingTable
    links: dict[str, CarrierLink]
    lifecycle: Lifecycle
    dispatcher: Dispatcher
    marks: DispatchMarks
    matcher: ReceiptMatcher
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
    identity: Identity | None = None  # people who sign in: users, tokens, mail (engine/identity/service.py)
    node: int = 0
    recovered: int = 0
    opt_outs: dict[int, set[str]] = field(default_factory=dict)
    _health: HealthSnapshot = field(default_factory=lambda: HealthSnapshot({}))
    _all_up: HealthSnapshot | None = None
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
        if self._all_up is None:  # built once: during an outage every message asks for it
            self._all_up = HealthSnapshot({name: CarrierHealth(bound=True) for name in self.links})
        return self._all_up

    def is_opted_out(self, account_id: int, number: str) -> bool:
        numbers = self.opt_outs.get(account_id)
        return numbers is not None and number in numbers

    def set_opt_out(self, account_id: int, number: str, opted_out: bool) -> None:
        numbers = self.opt_outs.setdefault(account_id, set())
        (numbers.add if opted_out else numbers.discard)(number)

    @property
    def busy(self) -> bool:
        """Anything queued, in flight or not yet committed."""
        return bool(
            self.dispatcher.backlog or self.acceptor.pending or self.lifecycle.pending or self.marks.pending
        )

    async def wait_idle(self, within: float) -> bool:
        """Wait until nothing is queued, in flight or uncommitted; False if that took longer than `within`."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.busy:
                return True
            await asyncio.sleep(0.05)
        return False

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, settings: Settings, urls: ServiceUrls) -> AsyncIterator[Engine]:
        # No reset query between uses of a connection: engine code never changes session state (no SET,
        # LISTEN or session advisory lock on a pooled connection), and the reset would cost every group
        # commit one more round trip. An open transaction is still rolled back on release.
        pool = await asyncpg.create_pool(
            urls.database_url,
            min_size=settings.database.pool_min,
            max_size=settings.database.pool_max,
            reset=_keep_session,
        )
        assert pool is not None
        try:
            async with pool.acquire() as conn:
                await apply_migrations(conn)
                node = int(await conn.fetchval("SELECT nextval('engine_node_seq')"))
            async with Identity.start(settings, pool) as identity:  # users, tokens, mail: stops last
                engine = await cls._assemble(settings, pool, node)
                engine.identity = identity
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
        ids = MessageIdGenerator(node)
        clock = LoopClock()
        webhooks = WebhookSender(pool)
        senders = SenderDirectory(pool)
        await senders.start()
        matcher = ReceiptMatcher()
        lifecycle = Lifecycle(pool, new_id=ids.next_id, webhooks=webhooks)
        links = {
            c.carrier: CarrierLink(
                c,
                response_timeout=settings.smpp.response_timeout,
                enquire_link_interval=settings.smpp.enquire_link_interval,
            )
            for c in configs
        }
        marks = DispatchMarks(pool, ids, tables={KIND: "messages"})
        targets = {name: CarrierTarget(link, matcher, clock) for name, link in links.items()}
        dispatcher = Dispatcher(targets, {KIND: lifecycle}, marks, clock)
        acceptor = Acceptor(
            pool,
            schemas={PreparedMessage: SMS},
            new_batch_id=ids.next_id,
            on_jobs=dispatcher.enqueue_many,
            on_low_balance=webhooks.low_balance,
        )
        engine_ref: list[Engine] = []
        intake = Intake(
            routing=routing,
            health=lambda: engine_ref[0].health(),
            all_up=lambda: engine_ref[0].all_up,
            profile=profiles.get,
            is_opted_out=lambda a, n: engine_ref[0].is_opted_out(a, n),
            ids=ids,
            sender_allowed=senders.allowed,
        )
        customers = CustomerSmpp(pool, intake, acceptor, backlog=lambda: dispatcher.backlog)
        forwarder = Forwarder(pool, customers.receiver)
        inbound = CarrierInbound(
            pool,
            lifecycle,
            matcher,
            new_id=ids.next_id,
            on_deliveries=forwarder.push,
            on_opt_out=lambda a, n, o: engine_ref[0].set_opt_out(a, n, o),
            webhooks=webhooks,
        )
        # The one cycle of the parts (receipts -> deliveries -> customer binds -> deliveries), closed here.
        lifecycle.on_deliveries = forwarder.push
        customers.on_receiver_bound = forwarder.wake
        engine = cls(settings, pool, routing, links, lifecycle, dispatcher, marks, matcher, acceptor, intake,
                     customers, forwarder, inbound, node=node, webhooks=webhooks,
                     senders=senders)  # fmt: skip
        engine_ref.append(engine)
        for link in links.values():
            link.on_deliver = inbound.on_deliver
            link.on_health_change = engine.refresh_health
        for row in await pool.fetch("SELECT account_id, number FROM opt_outs"):
            engine.set_opt_out(row["account_id"], row["number"], True)
        webhooks.start()
        lifecycle.start()
        marks.start()
        acceptor.start()
        inbound.start()
        forwarder.start()
        for link in links.values():
            link.start()
        engine.refresh_health()
        engine._tasks.append(asyncio.get_running_loop().create_task(routing.run()))
        await inbound.restore()
        # Recovery reads every node's watermark before this node's row is (re)written: a node number
        # taken again after 1,024 starts must not erase what its last holder had dispatched.
        engine.recovered = await recover(pool, dispatcher.enqueue)
        await pool.execute(_REGISTER_NODE, node, socket.gethostname(), os.getpid())
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

    def commit_stats(self) -> dict[str, dict[str, float]]:
        """Per committer: batches, items, items per batch (what the group commits did since start)."""
        committers: list[GroupCommitter[Any, Any]] = [
            self.acceptor.committer,
            *self.lifecycle.lanes,
            self.marks.committer,
        ]
        out = {}
        for c in committers:
            out[c.name] = {
                "batches": c.batches,
                "items": c.committed,
                "per_batch": round(c.committed / c.batches, 1) if c.batches else 0.0,
                "retries": c.retries,
                "isolated": c.isolated,
            }
        return out

    async def _stop(self) -> None:
        log.info("pipeline stats", committers=self.commit_stats(), dispatched=self.dispatcher.sent,
                 failed=self.dispatcher.failed, matched_in_memory=self.matcher.matched,
                 receipts_stored_first=self.lifecycle.receipts_stored)  # fmt: skip
        self.customers.accepting = False
        if self.server is not None:
            await self.server.close()  # unbinds customers; their in-flight submits are answered first
        if self.campaigns is not None:
            await self.campaigns.close()  # before the acceptor: it submits through it
        await self.acceptor.close()
        await self.wait_idle(within=10.0)
        self.dispatcher.close()
        await self.marks.close()
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
