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
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from engine.campaigns.runner import CampaignRunner
from engine.carriers.fleet import CarrierFleet
from engine.carriers.inbound import CarrierInbound
from engine.carriers.link import CarrierLink
from engine.carriers.receipts import ReceiptMatcher
from engine.core.accept import Acceptor
from engine.core.group_commit import GroupCommitter
from engine.core.ids import MessageIdGenerator
from engine.core.intake import Intake, PreparedMessage
from engine.core.lifecycle import Lifecycle
from engine.core.messages import SMS
from engine.core.nodes import NodeLease, claim_number, default_name
from engine.core.recovery import Taker, adopt, receipts_taker, recover, sms_taker
from engine.customers.bind_budget import BindBudget
from engine.customers.bind_guard import BindGuard
from engine.customers.smpp_front import CustomerSmpp
from engine.dispatch.clock import LoopClock
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.marks import DispatchMarks
from engine.dispatch.sms import KIND
from engine.dispatch.whatsapp import KIND as WHATSAPP_KIND
from engine.dispatch.whatsapp import CloudApiTarget
from engine.identity.service import Identity
from engine.infra.notifications import Notifications
from engine.infra.schema import apply_migrations
from engine.infra.services import ServiceUrls
from engine.infra.settings import Settings
from engine.outbox.forwarder import CHANNEL as DELIVERIES_CHANNEL
from engine.outbox.forwarder import Forwarder
from engine.outbox.url_guard import TargetPolicy
from engine.outbox.webhook_store import WebhookStore
from engine.outbox.webhooks import WebhookSender
from engine.payments.service import Payments
from engine.payments.stripe_provider import StripeProvider
from engine.senders.directory import SenderDirectory
from engine.social.jobs.model import KIND as SOCIAL_KIND
from engine.social.jobs.model import TABLE as SOCIAL_TABLE
from engine.social.jobs.model import PreparedSocialJob
from engine.social.jobs.recovery import social_taker
from engine.social.jobs.schema import SOCIAL
from engine.social.runtime import SocialLayer
from engine.whatsapp.inbound import WhatsAppInbound
from engine.whatsapp.outcomes import WhatsAppOutcomes
from engine.whatsapp.recovery import whatsapp_taker
from engine.whatsapp.schema import WHATSAPP, PreparedWhatsApp
from engine.whatsapp.service import WhatsApp
from engine.xquik import autotopup as xquik_autotopup
from engine.xquik import runtime as xquik_data
from engine.xquik.monitors.runtime import MonitorsLayer
from routing.live import LiveRoutingTable
from routing.model import CarrierHealth, HealthSnapshot
from routing.storage import PgRoutingStore
from smpp.server import SmppServer, start_server

log = structlog.get_logger("engine")


_LIVE_NODES = """
SELECT node FROM engine_nodes
WHERE heartbeat_at > now() - make_interval(secs => lease_seconds) AND stopped_at IS NULL
"""


async def _keep_session(conn: asyncpg.Connection) -> None:
    return None


@dataclass
class Engine:
    settings: Settings
    pool: asyncpg.Pool
    routing: LiveRoutingTable
    fleet: CarrierFleet
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
    url_policy: TargetPolicy = field(default_factory=TargetPolicy)  # where deliveries may go (SSRF guard)
    identity: Identity | None = None  # people who sign in: users, tokens, mail (engine/identity/service.py)
    social: SocialLayer | None = None  # accounts, connectors, social jobs (engine/social/runtime.py)
    xquik_monitors: MonitorsLayer | None = None  # Xquik monitors, events, trends (engine/xquik/monitors/)
    # WhatsApp Business (engine/whatsapp/): None when no Cloud API access token is configured
    whatsapp: WhatsApp | None = None
    whatsapp_inbound: WhatsAppInbound | None = None  # Meta's signed webhook events in
    whatsapp_outcomes: WhatsAppOutcomes | None = None
    whatsapp_target: CloudApiTarget | None = None
    node: int = 0
    recovered: int = 0
    takers: Sequence[Taker] = ()  # each job kind's part of recovery and take-over (engine/core/recovery.py)
    lease: NodeLease | None = None
    notifications: Notifications | None = None
    taken_over: asyncio.Event = field(default_factory=asyncio.Event)  # another node has our messages
    opt_outs: dict[int, set[str]] = field(default_factory=dict)
    _health: HealthSnapshot = field(default_factory=lambda: HealthSnapshot({}))
    _all_up: HealthSnapshot | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def webhook_store(self) -> WebhookStore:
        """Webhook endpoints and their delivery log, for every surface (engine/outbox/webhook_store.py)."""
        return WebhookStore(self.pool, self.url_policy, self.webhooks)

    @property
    def smpp_port(self) -> int:
        return self.server.port if self.server else 0

    @property
    def links(self) -> dict[str, CarrierLink]:
        return self.fleet.links

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
        """Anything queued, in flight or not yet committed (a message scheduled for later is neither)."""
        return bool(
            self.dispatcher.due
            or self.acceptor.pending
            or self.lifecycle.pending
            or self.marks.pending
            or (self.whatsapp_outcomes is not None and self.whatsapp_outcomes.pending)
            or (self.social is not None and self.social.outcomes.pending > 0)
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
    async def start(
        cls, settings: Settings, urls: ServiceUrls, *, reuse_port: bool = False
    ) -> AsyncIterator[Engine]:
        """reuse_port: the SMPP port is shared with sibling processes (smsengine run --workers)."""
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
            name = settings.node.name or default_name(settings.smpp.port, settings.data_dir)
            node, _ = await claim_number(pool, name, settings.node.lease_seconds)
            async with Identity.start(settings, pool) as identity:  # users, tokens, mail: stops last
                engine = await cls._assemble(
                    settings, pool, node, urls.database_url, reuse_port, redis_url=urls.redis_url
                )
                engine.identity = identity
                try:
                    yield engine
                finally:
                    await engine._stop()
        finally:
            await pool.close()

    @classmethod
    async def _assemble(
        cls,
        settings: Settings,
        pool: asyncpg.Pool,
        node: int,
        database_url: str,
        reuse_port: bool,
        *,
        redis_url: str = "",
    ) -> Engine:
        routing = LiveRoutingTable(PgRoutingStore(pool))
        await routing.load()
        ids = MessageIdGenerator(node)
        clock = LoopClock()
        security = settings.security
        url_policy = TargetPolicy.parse(security.allowed_private_targets)  # where webhooks/callbacks may go
        webhooks = WebhookSender(pool, targets=url_policy)
        senders = SenderDirectory(pool)
        await senders.start()
        matcher = ReceiptMatcher()
        lifecycle = Lifecycle(pool, new_id=ids.next_id, webhooks=webhooks)
        fleet = CarrierFleet(
            pool,
            matcher,
            clock,
            node=node,
            response_timeout=settings.smpp.response_timeout,
            enquire_link_interval=settings.smpp.enquire_link_interval,
        )
        await fleet.set_members(
            [int(r["node"]) for r in await pool.fetch(_LIVE_NODES)] or [node]
        )  # before the links exist: each starts with its share
        await fleet.load()
        tables = {KIND: "messages", WHATSAPP_KIND: "whatsapp_messages", SOCIAL_KIND: SOCIAL_TABLE}
        marks = DispatchMarks(pool, ids, tables=tables)
        dispatcher = Dispatcher(fleet.targets, {KIND: lifecycle}, marks, clock)
        fleet.attach(dispatcher)
        wa = settings.whatsapp
        whatsapp = whatsapp_outcomes = whatsapp_target = None
        if wa.access_token:  # the WhatsApp kind: one Cloud API target and its outcome sink on the same loop
            whatsapp = WhatsApp(pool, wa, new_id=ids.next_id)
            whatsapp_outcomes = WhatsAppOutcomes(pool, new_id=ids.next_id, webhooks=webhooks)
            whatsapp_target = CloudApiTarget(
                whatsapp.api, clock, throughput=wa.throughput, in_flight=wa.in_flight
            )
            dispatcher.add_target(whatsapp_target)
            dispatcher.add_sink(WHATSAPP_KIND, whatsapp_outcomes)
        # Social jobs: a kind of the same loop, accepted by the same group commit (engine/social/jobs/).
        social = SocialLayer.build(
            settings, pool, dispatcher=dispatcher, ids=ids, clock=clock, webhooks=webhooks,
            redis_url=redis_url, database_url=database_url,
        )  # fmt: skip
        acceptor = Acceptor(
            pool,
            schemas={PreparedMessage: SMS, PreparedWhatsApp: WHATSAPP, PreparedSocialJob: SOCIAL},
            new_batch_id=ids.next_id,
            on_jobs=social.jobs.admit,
            on_low_balance=webhooks.low_balance,
        )
        engine_ref: list[Engine] = []
        intake = Intake(
            routing=routing,
            health=lambda: engine_ref[0].health(),
            all_up=lambda: engine_ref[0].all_up,
            profile=fleet.profiles.get,
            is_opted_out=lambda a, n: engine_ref[0].is_opted_out(a, n),
            ids=ids,
            sender_allowed=senders.allowed,
        )
        budget = BindBudget(pool, node)
        await budget.forget_previous_run()
        customers = CustomerSmpp(
            pool, intake, acceptor, budget=budget, backlog=lambda: dispatcher.backlog,
            throttle_hold=settings.smpp.throttle_hold,
            bind_guard=BindGuard(
                delay_after=security.bind_failures_before_delay, step=security.bind_failure_delay,
                block_after=security.bind_failures_before_block, block_seconds=security.bind_block_seconds,
                window=security.bind_failure_window,
            ),
        )  # fmt: skip
        forwarder = Forwarder(pool, customers.receiver, node=node, targets=url_policy)
        inbound = CarrierInbound(
            pool,
            lifecycle,
            matcher,
            new_id=ids.next_id,
            node=node,
            outbox=forwarder,
            on_opt_out=lambda a, n, o: engine_ref[0].set_opt_out(a, n, o),
            webhooks=webhooks,
        )
        # The one cycle of the parts (receipts -> deliveries -> customer binds -> deliveries), closed here.
        lifecycle.outbox = forwarder
        customers.on_receiver_bound = forwarder.wake
        engine = cls(settings, pool, routing, fleet, lifecycle, dispatcher, marks, matcher, acceptor, intake,
                     customers, forwarder, inbound, node=node, webhooks=webhooks,
                     senders=senders, url_policy=url_policy, whatsapp=whatsapp,
                     whatsapp_inbound=WhatsAppInbound(pool, new_id=ids.next_id, webhooks=webhooks),
                     whatsapp_outcomes=whatsapp_outcomes, whatsapp_target=whatsapp_target,
                     social=social)  # fmt: skip
        social.jobs.acceptor = acceptor
        engine.xquik_monitors = MonitorsLayer.build(settings, pool, social, webhooks)
        engine_ref.append(engine)
        fleet.on_deliver = inbound.on_deliver
        fleet.on_health_change = engine.refresh_health
        for link in fleet.links.values():
            link.on_deliver = inbound.on_deliver
            link.on_health_change = engine.refresh_health
        notifications = engine.notifications = Notifications(database_url)
        notifications.on(DELIVERIES_CHANNEL, forwarder.notified)
        notifications.on_reconnect(forwarder.sweep_soon)
        notifications.on("smsengine_opt_outs", engine._opt_out_notified)
        notifications.on_reconnect(engine._reload_opt_outs_soon)
        notifications.on("smsengine_carriers", lambda _: engine._reload_carriers_soon())
        notifications.on("routing_changed", lambda _: routing.notify())
        for row in await pool.fetch("SELECT account_id, number FROM opt_outs"):
            engine.set_opt_out(row["account_id"], row["number"], True)
        webhooks.start()
        lifecycle.start()
        marks.start()
        social.start()
        engine.xquik_monitors.start()
        if whatsapp_outcomes is not None:
            whatsapp_outcomes.start()
        acceptor.start()
        inbound.start()
        forwarder.start()
        fleet.start()
        notifications.start()
        engine.refresh_health()
        engine._tasks.append(asyncio.get_running_loop().create_task(routing.run()))
        engine.takers = (
            sms_taker(dispatcher.enqueue, inbound.restore),
            *([whatsapp_taker(dispatcher.enqueue)] if whatsapp is not None else []),
            social_taker(social.jobs.admit),
            receipts_taker(forwarder.sweep_soon),
        )
        engine.recovered = await recover(pool, node, engine.takers)
        if engine.recovered:
            log.info("recovered messages", count=engine.recovered)
        engine.lease = NodeLease(
            pool,
            node,
            lease_seconds=settings.node.lease_seconds,
            heartbeat_seconds=settings.node.heartbeat_seconds,
            on_fenced=dispatcher.hold,
            on_adopted=engine._taken_over,
            on_adopt=lambda dead: engine._adopt(dead),
            on_members=engine._members_changed,
            on_beat=budget.refresh,
        )
        engine.lease.start()
        # After recovery, so campaign messages committed before a restart are queued before new ones.
        engine.campaigns = CampaignRunner(
            pool,
            intake,
            acceptor,
            admit=lambda: customers.accepting and dispatcher.backlog < 100_000,
            webhooks=webhooks,
        )
        engine.campaigns.start()
        xquik_data.start(engine)  # Xquik extraction jobs: this node polls their table (xquik/runtime.py)
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
        if provider is not None:  # Xquik credits top up from the saved card below their threshold
            xquik_autotopup.install(pool, engine.payments)
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
            reuse_port=reuse_port,
        )
        log.info("smpp server listening", host=settings.smpp.host, port=engine.smpp_port, node=node)
        return engine

    async def _adopt(self, dead: int) -> int | None:
        """Take over a dead node: its open jobs of every kind, with the claim, in one transaction."""
        return await adopt(self.pool, self.node, dead, self.takers)

    def commit_stats(self) -> dict[str, dict[str, float]]:
        """Per committer: batches, items, items per batch (what the group commits did since start)."""
        committers: list[GroupCommitter[Any, Any]] = [
            self.acceptor.committer,
            *self.lifecycle.lanes,
            self.marks.committer,
            *([self.whatsapp_outcomes.committer] if self.whatsapp_outcomes is not None else []),
        ]
        if self.social is not None:
            committers.append(self.social.outcomes.committer)
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

    # ------------------------------------------------------------------------------ what other nodes change

    def _opt_out_notified(self, payload: str) -> None:
        """A row of opt_outs changed (on any node): account:number:1 (opted out) or :0."""
        account, _, rest = payload.partition(":")
        number, _, flag = rest.rpartition(":")
        if account.isdigit() and number:
            self.set_opt_out(int(account), number, flag == "1")

    def _reload_opt_outs_soon(self) -> None:
        self._background(self._reload_opt_outs())

    async def _reload_opt_outs(self) -> None:
        fresh: dict[int, set[str]] = {}
        for row in await self.pool.fetch("SELECT account_id, number FROM opt_outs"):
            fresh.setdefault(row["account_id"], set()).add(row["number"])
        self.opt_outs = fresh

    def _reload_carriers_soon(self) -> None:
        self._background(self._reload_carriers())

    async def _reload_carriers(self) -> None:
        await self.fleet.reload()
        for link in self.fleet.links.values():
            link.on_deliver = self.inbound.on_deliver
        self._all_up = None
        self.refresh_health()

    def _members_changed(self, members: Sequence[int]) -> None:
        self._background(self.fleet.set_members(members))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.append(task)
        task.add_done_callback(self._done_background)

    def _done_background(self, task: asyncio.Task[None]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", error=repr(task.exception()))

    def _taken_over(self, by: int) -> None:
        """Another node took this one over while it could not reach the database: stop sending for good;
        the process should exit (smsengine run does) and start again as a fresh run."""
        self.dispatcher.hold(True)
        self.customers.accepting = False
        self.taken_over.set()

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
        if self.whatsapp_target is not None:
            await self.whatsapp_target.close()  # requests under way report their outcomes
        if self.whatsapp_outcomes is not None:
            await self.whatsapp_outcomes.close()
        if self.whatsapp is not None:
            await self.whatsapp.close()
        if self.lease is not None:
            await self.lease.close()
        await self.marks.close()
        if self.xquik_monitors is not None:
            await self.xquik_monitors.close()  # before the social layer's X client closes
        if self.social is not None:
            await self.social.close()
        await self.lifecycle.close()
        await self.inbound.close()
        if self.webhooks is not None:
            await self.webhooks.close()  # after everything that emits events
        await self.forwarder.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.notifications.close() if self.notifications is not None else None
        await self.fleet.close()
        if self.senders is not None:
            await self.senders.close()
        if self.payments is not None:
            xquik_autotopup.uninstall(self.pool)
            await self.payments.close()
