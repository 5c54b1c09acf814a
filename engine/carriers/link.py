"""Upstream carriers: each a set of SMPP client binds with one throughput cap and one health record.

A `CarrierLink` owns `binds` self-healing SmppClients (transceivers, so receipts and MO come back on the
same binds) and the health routing reads: bound or not, a recent error rate, a failover cooldown after a
connection failure. Its throughput budget is the dispatch target's (engine/dispatch/sms.py). Incoming
deliver_sm (receipts and MO) are handed to `on_deliver` with the link they came on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import msgspec
import structlog

from engine.core.intake import CarrierProfile
from routing.model import CarrierHealth
from smpp.client import ClientState, SmppClient
from smpp.connection import SmppConnection
from smpp.constants import CommandStatus
from smpp.pdu import Pdu
from smpp.text import Carriage

log = structlog.get_logger("engine.carriers.link")

_CARRIAGE = {
    "udh8": (Carriage.UDH, 8),
    "udh16": (Carriage.UDH, 16),
    "sar": (Carriage.SAR, 8),
    "payload": (Carriage.PAYLOAD, 8),
}


class CarrierConnection(msgspec.Struct, frozen=True, kw_only=True):
    """A row of carrier_connections: how to reach one carrier."""

    carrier: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    binds: int = 1
    window_size: int = 50
    throughput: int = 1000
    long_message: str = "udh8"
    packed_gsm: bool = False
    resp_id_format: str = "text"
    dlr_id_format: str = "text"
    tls: bool = False
    enabled: bool = True

    @property
    def profile(self) -> CarrierProfile:
        carriage, bits = _CARRIAGE[self.long_message]
        return CarrierProfile(carriage=carriage, reference_bits=bits, packed=self.packed_gsm)


DeliverCallback = Callable[["CarrierLink", SmppConnection, Pdu], None]


class CarrierLink:
    """One carrier: its binds, throughput, health."""

    ERROR_DECAY = 0.05  # weight of each new outcome in the moving error rate
    COOLDOWN = 10.0  # seconds a carrier is skipped by routing after losing all its binds

    def __init__(
        self,
        config: CarrierConnection,
        on_deliver: DeliverCallback | None = None,
        on_health_change: Callable[[], None] = lambda: None,
        *,
        response_timeout: float = 30.0,
        enquire_link_interval: float = 30.0,
        reconnect_delay: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.name = config.carrier
        self.profile = config.profile
        self.on_deliver = on_deliver  # receipts and MO, with the link they came on
        self.on_health_change = on_health_change
        self._clock = clock
        self.error_rate = 0.0
        self.cooldown_until = 0.0
        self._next = 0
        self._listeners: list[Callable[[], None]] = []
        self._bound_count = 0
        self._bound_event = asyncio.Event()
        self.clients = [
            SmppClient(
                config.host,
                config.port,
                system_id=config.system_id,
                password=config.password,
                system_type=config.system_type,
                bind_type="transceiver",
                handler=self,
                window=config.window_size,
                response_timeout=response_timeout,
                enquire_link_interval=enquire_link_interval,
                reconnect_delay=reconnect_delay,
                max_reconnect_delay=30.0,
                on_state_change=self._state_changed,
            )
            for _ in range(config.binds)
        ]

    # ------------------------------------------------------------------------------ lifetime, health

    def start(self) -> None:
        for client in self.clients:
            client.start()

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)

    @property
    def bound(self) -> int:
        return self._bound_count

    def health(self) -> CarrierHealth:
        return CarrierHealth(
            bound=self.bound > 0, cooldown_until=self.cooldown_until, error_rate=self.error_rate
        )

    def note(self, ok: bool) -> None:
        """Count one submit outcome into the moving error rate (a throttle is not an error)."""
        before = self.error_rate >= 0.5
        self.error_rate += self.ERROR_DECAY * ((0.0 if ok else 1.0) - self.error_rate)
        if before != (self.error_rate >= 0.5):
            self.on_health_change()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called whenever a bind comes up or goes down (the dispatch target pumps its queue)."""
        self._listeners.append(listener)

    def _state_changed(self, state: ClientState) -> None:
        self._bound_count = sum(1 for c in self.clients if c.state is ClientState.BOUND)
        if state is ClientState.BOUND:
            self._bound_event.set()
            self.cooldown_until = 0.0  # it is back: no reason to keep routing around it
        elif self.bound == 0:
            self._bound_event.clear()
            if state is ClientState.DISCONNECTED:
                self.cooldown_until = self._clock() + self.COOLDOWN
        self.on_health_change()
        for listener in self._listeners:
            listener()

    # ------------------------------------------------------------------------------ sending

    def free_slots(self) -> int:
        """Submits that may go now: free window slots over every bound bind."""
        free = 0
        for client in self.clients:
            conn = client.connection
            if conn is not None and client.state is ClientState.BOUND:
                free += conn.free_slots
        return free

    def pick_with_slot(self) -> SmppConnection | None:
        """The next bound connection with a free window slot, round robin; None when there is none."""
        clients = self.clients
        count = len(clients)
        for _ in range(count):
            client = clients[self._next % count]
            self._next += 1
            conn = client.connection
            if conn is not None and client.state is ClientState.BOUND and conn.free_slots > 0:
                return conn
        return None

    def pick(self) -> SmppClient | None:
        """The next bound client, round robin; None when no bind is up."""
        clients = self.clients
        for _ in range(len(clients)):
            client = clients[self._next % len(clients)]
            self._next += 1
            if client.state is ClientState.BOUND:
                return client
        return None

    async def wait_all_bound(self) -> None:
        """Until every bind of this carrier is up (tests and start-up checks)."""
        while self.bound < len(self.clients):
            self._bound_event.clear()
            await self._bound_event.wait()

    async def wait_bound(self, within: float) -> bool:
        """Whether a bind is up, waiting up to `within` seconds for one."""
        if self.bound:
            return True
        try:
            async with asyncio.timeout(within):
                await self._bound_event.wait()
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------------------------ EsmeHandler

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        if self.on_deliver is None:  # nobody to store it yet: the carrier keeps it and sends it again
            conn.respond(pdu, CommandStatus.ESME_RX_T_APPN)
            return
        self.on_deliver(self, conn, pdu)

    def on_bound(self, conn: SmppConnection) -> None:
        log.info("carrier bound", carrier=self.name, bound=self.bound)

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        log.info("carrier bind closed", carrier=self.name, reason=reason)
