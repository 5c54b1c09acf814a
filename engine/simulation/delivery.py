"""At-least-once delivery of the simulator's deliver_sm (receipts and MO), and its batched timers.

A real SMSC keeps a receipt until the ESME acknowledges it: an error answer, a timeout or a dropped
bind puts it back, and it is redelivered later on whichever receiver bind is up. `DeliveryQueue` does
that. Deliveries wait in one ready deque; a bounded pool of sender coroutines (spawned on demand, up to
`max_senders`) takes them, picks a bound RX/TRX connection and awaits `conn.request(deliver_sm)`. A
delivery with no receiver to go to is parked per system_id until one binds. Nothing here is dropped:
it is acknowledged, or it is still pending.

`TimerWheel` batches delayed work by millisecond tick: one `loop.call_at` per tick that has work, never
a task or a timer handle per message (the e2e benchmark pushes >10,000 messages/s through this).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog

from smpp.connection import SmppConnection
from smpp.errors import SmppError
from smpp.pdu import DeliverSm
from smpp.session_table import State

log = structlog.get_logger("engine.simulation.carrier")

RECEIVING = frozenset({State.BOUND_RX, State.BOUND_TRX})


class TimerWheel:
    """Callbacks batched by due tick; each runs at most one tick late, in scheduling order per tick."""

    def __init__(self, loop: asyncio.AbstractEventLoop, tick: float = 0.001) -> None:
        self._loop = loop
        self._tick = tick
        self._per_second = 1.0 / tick
        self._buckets: dict[int, tuple[asyncio.TimerHandle, list[tuple[Callable[[Any], None], Any]]]] = {}

    def call_at(self, when: float, callback: Callable[[Any], None], arg: Any) -> None:
        slot = int(when * self._per_second) + 1
        entry = self._buckets.get(slot)
        if entry is None:
            handle = self._loop.call_at(slot * self._tick, self._fire, slot)
            entry = self._buckets[slot] = (handle, [])
        entry[1].append((callback, arg))

    def __len__(self) -> int:
        return sum(len(items) for _, items in self._buckets.values())

    def _fire(self, slot: int) -> None:
        _, items = self._buckets.pop(slot)
        for callback, arg in items:
            try:
                callback(arg)
            except Exception:  # one bad callback must not lose the rest of the tick
                log.exception("simulator_timer_callback_failed")

    def close(self) -> None:
        for handle, _ in self._buckets.values():
            handle.cancel()
        self._buckets.clear()


class Delivery:
    """One deliver_sm that must be acknowledged: a receipt (for `system_id`) or an MO (any receiver)."""

    __slots__ = ("attempts", "carrier_id", "is_receipt", "on_first_attempt", "origin", "pdu", "system_id")

    def __init__(
        self,
        pdu: DeliverSm,
        *,
        system_id: str | None,
        is_receipt: bool,
        carrier_id: str = "",
        origin: SmppConnection | None = None,
        on_first_attempt: Callable[[], None] | None = None,
    ) -> None:
        self.pdu = pdu
        self.system_id = system_id  # None: any receiver (MO)
        self.is_receipt = is_receipt
        self.carrier_id = carrier_id
        self.origin = origin  # the bind the submit_sm came on; None once a retry may go anywhere
        self.on_first_attempt = on_first_attempt
        self.attempts = 0


class DeliveryQueue:
    """Sends deliveries to bound receivers until each is acknowledged (ROK deliver_sm_resp)."""

    def __init__(
        self,
        *,
        wheel: TimerWheel,
        max_senders: int,
        redelivery_delay: float,
        prefer_other_bind: bool,
        on_sent: Callable[[Delivery], None],
        on_result: Callable[[Delivery, bool], None],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._wheel = wheel
        self._max_senders = max_senders
        self._redelivery_delay = redelivery_delay
        self._prefer_other = prefer_other_bind
        self._on_sent = on_sent
        self._on_result = on_result
        self._ready: deque[Delivery] = deque()
        self._parked: dict[str | None, deque[Delivery]] = {}
        self._idle: deque[asyncio.Future[None]] = deque()
        self._senders: set[asyncio.Task[None]] = set()
        self._receivers: dict[str, list[SmppConnection]] = {}
        self._all_receivers: list[SmppConnection] = []
        self._turn = 0
        self._closed = False

    # ----------------------------------------------------------------------------------- receivers

    def add_receiver(self, conn: SmppConnection) -> None:
        """A bind that can take deliver_sm (RX or TRX) is up: unpark what was waiting for it."""
        self._receivers.setdefault(conn.system_id, []).append(conn)
        self._all_receivers.append(conn)
        for key in (conn.system_id, None):
            parked = self._parked.pop(key, None)
            if parked:
                self._ready.extend(parked)
                for _ in parked:
                    self._wake_one()

    def remove_receiver(self, conn: SmppConnection) -> None:
        pool = self._receivers.get(conn.system_id)
        if pool is not None and conn in pool:
            pool.remove(conn)
            if not pool:
                del self._receivers[conn.system_id]
        if conn in self._all_receivers:
            self._all_receivers.remove(conn)

    @property
    def has_receiver(self) -> bool:
        return bool(self._all_receivers)

    # -------------------------------------------------------------------------------------- intake

    def send(self, delivery: Delivery) -> None:
        """Send as soon as a sender and a receiver are free."""
        self._ready.append(delivery)
        self._wake_one()

    def send_at(self, when: float, delivery: Delivery) -> None:
        """Send at loop time `when` (batched with everything due in the same millisecond)."""
        self._wheel.call_at(when, self.send, delivery)

    @property
    def waiting(self) -> int:
        """Deliveries ready or parked (not yet on the wire, not counting those in the timer wheel)."""
        return len(self._ready) + sum(len(parked) for parked in self._parked.values())

    def _wake_one(self) -> None:
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        if len(self._senders) < self._max_senders and not self._closed:
            task = self._loop.create_task(self._sender())
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)

    # ------------------------------------------------------------------------------------- senders

    async def _sender(self) -> None:
        ready = self._ready
        while True:
            if not ready:
                waiter = self._loop.create_future()
                self._idle.append(waiter)
                await waiter
                continue
            delivery = ready.popleft()
            conn = self._pick(delivery)
            if conn is None:
                self._parked.setdefault(delivery.system_id, deque()).append(delivery)
                self._first_attempt_over(delivery)
                continue
            delivery.attempts += 1
            self._on_sent(delivery)
            try:
                response = await conn.request(delivery.pdu)
                acknowledged = response.command_status == 0
            except SmppError:  # timeout, closed, unbinding: redeliver later
                acknowledged = False
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("simulator_deliver_failed")
                acknowledged = False
            self._first_attempt_over(delivery)
            self._on_result(delivery, acknowledged)
            if not acknowledged and not self._closed:
                delivery.origin = None  # a redelivery goes to any receiver of the system_id
                self.send_at(self._loop.time() + self._redelivery_delay, delivery)

    @staticmethod
    def _first_attempt_over(delivery: Delivery) -> None:
        callback = delivery.on_first_attempt
        if callback is not None:
            delivery.on_first_attempt = None
            callback()

    def _pick(self, delivery: Delivery) -> SmppConnection | None:
        pool = self._all_receivers if delivery.system_id is None else self._receivers.get(delivery.system_id)
        if not pool:
            return None
        origin = delivery.origin
        if origin is not None:
            origin_receives = origin.state in RECEIVING
            if not self._prefer_other and origin_receives:
                return origin
            if self._prefer_other:
                others = [conn for conn in pool if conn is not origin and conn.state in RECEIVING]
                if others:
                    self._turn += 1
                    return others[self._turn % len(others)]
                if origin_receives:
                    return origin
        for _ in range(len(pool)):
            self._turn += 1
            conn = pool[self._turn % len(pool)]
            if conn.state in RECEIVING:
                return conn
        return None

    async def close(self) -> None:
        """Stop sending; deliveries not acknowledged stay counted as pending by the owner."""
        self._closed = True
        for task in list(self._senders):
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
