"""A simulated carrier SMSC: what the demo, the tests and the benchmarks bind the engine's upstream side to.

    async with CarrierSimulator(SimulatorConfig(receipt_delay_ms=50, outcomes={"DELIVRD": 9, "UNDELIV": 1},
                                                id_format="hex", dlr_id_format="dec", seed=1)) as sim:
        client = SmppClient("127.0.0.1", sim.port, ...)          # or the engine's carrier binds
        ...
        await sim.wait_receipts_acked(100)
        sim.received["0000000000AF12"]                           # the SubmitSm accepted under that id

It accepts binds (checking system_id/password when configured), answers every submit_sm (after a latency,
or at once with ESME_RTHROTTLED / a reject status at the configured rates), gives each accepted one an id
from a counter and, when registered_delivery asks, sends a delivery receipt after a delay with an outcome
drawn from the configured mix. Receipts and MO go out as deliver_sm through `DeliveryQueue`, which
redelivers anything the customer refused or lost to a dropped bind: a receipt is acknowledged or pending,
never silently gone. Every random decision comes from seeded random.Random instances, drawn in the order
submit_sm arrive, so a seed and the same traffic give the same decisions.

Per message this costs one decode, one encode of the response and one of the receipt, and a slot in a
millisecond timer bucket: no task, timer handle or log line per message.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import time
from collections.abc import Callable

from engine.simulation.config import SimulatorConfig, format_carrier_id
from engine.simulation.delivery import RECEIVING, Delivery, DeliveryQueue, TimerWheel
from engine.simulation.receipts import ReceiptFactory
from smpp.connection import SmppConnection
from smpp.constants import CommandStatus, EsmClass
from smpp.pdu import DeliverSm, Pdu, SubmitSm
from smpp.server import BindPdu, SmppServer, start_server
from smpp.text import ConcatReferenceAllocator, MessagePlan, build_segments, plan_text

_THROTTLED = CommandStatus.ESME_RTHROTTLED
_UDHI = int(EsmClass.UDHI)
_COUNTERS = (
    "binds", "submits", "accepted", "throttled", "rejected", "receipts_sent", "receipts_acked",
    "receipt_retries", "disconnects", "mo_messages", "mo_sent", "mo_acked", "mo_retries",
)  # fmt: skip


def _ton_npi(address: str) -> tuple[int, int]:
    if address.isdigit():
        return (1, 1) if len(address) > 8 else (3, 0)  # international E.164, or a short code
    return 5, 0  # alphanumeric


class CarrierSimulator:
    """An SMSC standing in for an upstream carrier. Implements smpp.server.SmscHandler."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = cfg = config or SimulatorConfig()
        seed = cfg.seed
        self._random = random.Random(seed)  # submit_sm decisions, in arrival order
        self._disconnect_random = random.Random(None if seed is None else f"{seed}/disconnect")
        self._mo_random = random.Random(None if seed is None else f"{seed}/mo")
        self._outcome_names = [name for name, weight in cfg.outcomes.items() if weight > 0]
        weights = [cfg.outcomes[name] for name in self._outcome_names]
        self._outcome_cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
        self._next_id = cfg.initial_id()
        self._mo_references = ConcatReferenceAllocator(seed=seed or 0)
        self._mo_plans: list[MessagePlan] = []
        self._receipts = ReceiptFactory(cfg)
        self._waiters: list[asyncio.Future[None]] = []
        self._binds: list[SmppConnection] = []
        self._server: SmppServer | None = None
        self._wheel: TimerWheel | None = None
        self._queue: DeliveryQueue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mo_timer: asyncio.TimerHandle | None = None
        self._mo_credit = 0.0
        self._mo_last = 0.0
        self._pending_receipts = 0
        self._pending_mo = 0
        self.received: dict[str, SubmitSm] = {}
        """Accepted submit_sm by the carrier id we answered with (the newest `max_recorded`)."""
        self.submits = 0  # submit_sm received, whatever the answer
        self.accepted = 0
        self.throttled = 0
        self.rejected = 0
        self.receipts_sent = 0  # deliver_sm receipts written, retries included
        self.receipts_acked = 0
        self.receipt_retries = 0
        self.disconnects = 0
        self.mo_messages = 0  # MO messages created (one per text, whatever its part count)
        self.mo_sent = 0  # MO deliver_sm parts written, retries included
        self.mo_acked = 0
        self.mo_retries = 0
        self.binds = 0  # successful binds so far

    # ------------------------------------------------------------------------------------ lifetime

    async def start(self, host: str | None = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (0: a free port, see `.port`)."""
        cfg = self.config
        self._loop = loop = asyncio.get_running_loop()
        self._mo_plans = [plan_text(text) for text in cfg.mo_texts]  # bad texts fail here, not later
        self._wheel = TimerWheel(loop)
        self._queue = DeliveryQueue(
            wheel=self._wheel,
            max_senders=cfg.max_senders,
            redelivery_delay=cfg.redelivery_delay_ms / 1000,
            prefer_other_bind=cfg.receipts_on == "other",
            on_sent=self._on_delivery_sent,
            on_result=self._on_delivery_result,
        )
        self._server = await start_server(
            self,
            host,
            port,
            window=cfg.window,
            max_pending=cfg.max_pending,
            response_timeout=cfg.deliver_timeout,
        )
        if cfg.mo_per_second > 0:
            self._mo_last = loop.time()
            self._mo_timer = loop.call_later(self._mo_interval, self._mo_tick)

    async def stop(self, *, unbind_timeout: float = 2.0) -> None:
        """Unbind every customer (answers still owed go out first), then stop sending."""
        if self._mo_timer is not None:
            self._mo_timer.cancel()
            self._mo_timer = None
        if self._server is not None:
            await self._server.close(unbind_timeout=unbind_timeout)
        if self._queue is not None:
            await self._queue.close()
        if self._wheel is not None:
            self._wheel.close()
        self._notify()

    async def __aenter__(self) -> CarrierSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.port

    @property
    def connections(self) -> list[SmppConnection]:
        """Bound connections, in bind order."""
        return list(self._binds)

    @property
    def receipts_pending(self) -> int:
        """Receipts created and not yet acknowledged by the customer (scheduled, queued or in flight)."""
        return self._pending_receipts

    @property
    def mo_pending(self) -> int:
        """MO parts created and not yet acknowledged."""
        return self._pending_mo

    def stats(self) -> dict[str, int]:
        """Every counter, plus what is still pending (printed by the CLI when it stops)."""
        counters = {name: getattr(self, name) for name in _COUNTERS}
        counters["receipts_pending"] = self._pending_receipts
        counters["mo_pending"] = self._pending_mo
        return counters

    # ------------------------------------------------------------------------------- test helpers

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds; checked after every counter change (bound it with a timeout)."""
        assert self._loop is not None, "start() first"
        while not predicate():
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            await waiter

    async def wait_submits(self, count: int) -> None:
        await self.wait_for(lambda: self.submits >= count)

    async def wait_receipts_acked(self, count: int) -> None:
        await self.wait_for(lambda: self.receipts_acked >= count)

    async def wait_mo_acked(self, count: int) -> None:
        await self.wait_for(lambda: self.mo_acked >= count)

    async def wait_bound(self, count: int = 1) -> None:
        """Wait until at least `count` connections are bound."""
        await self.wait_for(lambda: len(self._binds) >= count)

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------------- SmscHandler: binds

    async def authenticate(self, conn: SmppConnection, bind: BindPdu) -> tuple[int, str]:
        cfg = self.config
        if cfg.system_id and bind.system_id != cfg.system_id:
            return CommandStatus.ESME_RINVSYSID, ""
        if cfg.password and bind.password != cfg.password:
            return CommandStatus.ESME_RINVPASWD, ""
        return CommandStatus.ESME_ROK, cfg.smsc_system_id

    def on_bound(self, conn: SmppConnection) -> None:
        self._binds.append(conn)
        self.binds += 1
        if conn.state in RECEIVING:
            assert self._queue is not None
            self._queue.add_receiver(conn)
        self._notify()

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        if conn in self._binds:
            self._binds.remove(conn)
        if self._queue is not None:
            self._queue.remove_receiver(conn)
        self._notify()

    # --------------------------------------------------------------------- SmscHandler: submit_sm

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        if type(pdu) is not SubmitSm:
            conn.respond(pdu, CommandStatus.ESME_RINVCMDID)  # the simulator only takes submit_sm
            return
        cfg = self.config
        rng = self._random
        self.submits += 1
        draw = rng.random()
        if draw < cfg.throttle_rate:
            self.throttled += 1
            conn.respond(pdu, _THROTTLED)
        elif draw < cfg.throttle_rate + cfg.reject_rate:
            self.rejected += 1
            conn.respond(pdu, cfg.reject_status)
        else:
            latency = cfg.latency_ms
            if cfg.latency_max_ms is not None:
                latency += (cfg.latency_max_ms - latency) * rng.random()
            delay = cfg.receipt_delay_ms
            if cfg.receipt_delay_max_ms is not None:
                delay += (cfg.receipt_delay_max_ms - delay) * rng.random()
            names = self._outcome_names
            if len(names) == 1:
                outcome = names[0]
            else:
                cumulative = self._outcome_cumulative
                outcome = names[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
            accept = self._accept_receipt_first if cfg.receipt_before_resp else self._accept
            job = (conn, pdu, outcome, delay / 1000)
            if latency > 0:
                assert self._wheel is not None and self._loop is not None
                self._wheel.call_at(self._loop.time() + latency / 1000, accept, job)
            else:
                accept(job)
        every = cfg.disconnect_every
        if every and self.submits % every == 0:
            assert self._loop is not None
            self._loop.call_soon(self._disconnect_random_bind)  # after this submit_sm's answer is out
        if self._waiters:
            self._notify()

    def _take_id(self) -> tuple[int, str]:
        value = self._next_id
        self._next_id = value + 1
        cfg = self.config
        return value, format_carrier_id(value, cfg.id_format, cfg.hex_id_width)

    def _record(self, carrier_id: str, pdu: SubmitSm) -> None:
        self.accepted += 1
        limit = self.config.max_recorded
        if limit:
            received = self.received
            received[carrier_id] = pdu
            if len(received) > limit:
                del received[next(iter(received))]

    @staticmethod
    def _wants_receipt(pdu: SubmitSm, outcome: str) -> bool:
        requested = pdu.registered_delivery & 0x03
        return requested == 1 or (requested == 2 and outcome != "DELIVRD")  # 2: on failure only (5.2.17)

    def _accept(self, job: tuple[SmppConnection, SubmitSm, str, float]) -> None:
        conn, pdu, outcome, delay = job
        value, carrier_id = self._take_id()
        if not conn.respond(pdu, 0, message_id=carrier_id):
            self._next_id = value  # the bind is gone: the customer never got this id, nothing happened
            return
        self._record(carrier_id, pdu)
        if not self._wants_receipt(pdu, outcome):
            return
        assert self._queue is not None and self._loop is not None
        delivery = Delivery(
            self._receipts.build(pdu, value, outcome, now=time.time(), delay=delay),
            system_id=conn.system_id,
            is_receipt=True,
            carrier_id=carrier_id,
            origin=conn,
        )
        self._pending_receipts += 1
        if delay > 0:
            self._queue.send_at(self._loop.time() + delay, delivery)
        else:
            self._queue.send(delivery)

    def _accept_receipt_first(self, job: tuple[SmppConnection, SubmitSm, str, float]) -> None:
        conn, pdu, outcome, _ = job
        if conn.session.closed:
            return
        if not self._wants_receipt(pdu, outcome):
            self._accept(job)
            return
        value, carrier_id = self._take_id()
        self._record(carrier_id, pdu)  # the receipt will exist even if the bind drops before the resp

        def respond() -> None:
            conn.respond(pdu, 0, message_id=carrier_id)

        assert self._queue is not None
        self._pending_receipts += 1
        self._queue.send(
            Delivery(
                self._receipts.build(pdu, value, outcome, now=time.time(), delay=0.0),
                system_id=conn.system_id,
                is_receipt=True,
                carrier_id=carrier_id,
                origin=conn,
                on_first_attempt=respond,
            )
        )

    # ----------------------------------------------------------------------------------- delivery

    def _on_delivery_sent(self, delivery: Delivery) -> None:
        retry = delivery.attempts > 1
        if delivery.is_receipt:
            self.receipts_sent += 1
            self.receipt_retries += retry
        else:
            self.mo_sent += 1
            self.mo_retries += retry

    def _on_delivery_result(self, delivery: Delivery, acknowledged: bool) -> None:
        if acknowledged:
            if delivery.is_receipt:
                self.receipts_acked += 1
                self._pending_receipts -= 1
            else:
                self.mo_acked += 1
                self._pending_mo -= 1
        if self._waiters:
            self._notify()

    # ---------------------------------------------------------------------------------------- MO

    def inject_mo(self, source: str, destination: str, text: str, *, system_id: str | None = None) -> int:
        """Send one MO now (queued until a receiver binds); long texts go as UDH-concatenated parts.
        `system_id`: only to binds of that system_id (None: any receiver). Returns the part count."""
        return self._send_mo(source, destination, plan_text(text), system_id)

    def _send_mo(self, source: str, destination: str, plan: MessagePlan, system_id: str | None) -> int:
        assert self._queue is not None, "start() first"
        reference = self._mo_references.allocate(f"{source}>{destination}") if plan.needs_reference else 0
        source_ton, source_npi = _ton_npi(source)
        dest_ton, dest_npi = _ton_npi(destination)
        segments = build_segments(plan, reference)
        for segment in segments:
            pdu = DeliverSm(
                source_addr_ton=source_ton,
                source_addr_npi=source_npi,
                source_addr=source,
                dest_addr_ton=dest_ton,
                dest_addr_npi=dest_npi,
                destination_addr=destination,
                esm_class=_UDHI if segment.udhi else 0,
                data_coding=plan.data_coding,
                short_message=segment.short_message,
            )
            self._pending_mo += 1
            self._queue.send(Delivery(pdu, system_id=system_id, is_receipt=False))
        self.mo_messages += 1
        return len(segments)

    @property
    def _mo_interval(self) -> float:
        return max(1.0 / self.config.mo_per_second, 0.01)

    def _mo_tick(self) -> None:
        assert self._loop is not None and self._queue is not None
        now = self._loop.time()
        self._mo_timer = self._loop.call_at(now + self._mo_interval, self._mo_tick)
        rate = self.config.mo_per_second
        elapsed, self._mo_last = now - self._mo_last, now
        if not self._queue.has_receiver:
            return  # a handset's SMSC would queue; generating into the void only grows memory
        self._mo_credit = min(self._mo_credit + elapsed * rate, max(rate, 1.0))
        cfg, rng = self.config, self._mo_random
        while self._mo_credit >= 1:
            self._mo_credit -= 1
            plan = self._mo_plans[rng.randrange(len(self._mo_plans))]
            self._send_mo(rng.choice(cfg.mo_from), rng.choice(cfg.mo_to), plan, None)

    # -------------------------------------------------------------------------------- disconnects

    def _disconnect_random_bind(self) -> None:
        live = [conn for conn in self._binds if conn.session.is_bound]
        if live:
            live[self._disconnect_random.randrange(len(live))].close("simulated disconnect")
            self.disconnects += 1
            self._notify()

    def disconnect_all(self) -> int:
        """Drop every connection's TCP at once, without an unbind; returns how many."""
        assert self._server is not None, "start() first"
        conns = list(self._server.connections)
        for conn in conns:
            conn.close("simulated disconnect")
        self.disconnects += len(conns)
        self._notify()
        return len(conns)
