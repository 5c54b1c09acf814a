"""The ESME role over asyncio: one bind to a carrier's SMSC, kept up for as long as the client runs.

    client = SmppClient("smsc.example", 2775, system_id="acme", password="secret", bind_type="transceiver",
                        handler=Receipts(), window=100, on_state_change=print)
    async with client:                          # connects and binds in the background
        await client.wait_bound()
        resp = await client.request(SubmitSm(...))  # waits for a window slot, then for submit_sm_resp
        resp.command_status, resp.message_id

The client reconnects and re-binds by itself after a disconnect or a refused bind, with exponential
backoff (`reconnect_delay` doubling up to `max_reconnect_delay`, reset by a successful bind). Every state
change is reported through `on_state_change`; `wait_bound()` waits for the next bound connection.
Incoming deliver_sm / data_sm / alert_notification go to the `EsmeHandler`, answered with
`conn.respond(pdu, status)` whenever the application is ready (after the receipt is stored).
"""

from __future__ import annotations

import asyncio
import enum
import ssl as _ssl
from collections.abc import Callable
from typing import Literal, Protocol

import structlog

from smpp.connection import RequestFailedError, SmppConnection
from smpp.constants import CommandId, CommandStatus
from smpp.errors import SmppError
from smpp.pdu import BindReceiver, BindTransceiver, BindTransmitter, Pdu
from smpp.session import Session
from smpp.session_table import Role

log = structlog.get_logger("smpp.client")

BindType = Literal["transmitter", "receiver", "transceiver"]
_BIND_CLASSES: dict[str, type[BindTransmitter | BindReceiver | BindTransceiver]] = {
    "transmitter": BindTransmitter,
    "receiver": BindReceiver,
    "transceiver": BindTransceiver,
}


class ClientState(enum.Enum):
    DISCONNECTED = "disconnected"  # waiting out the backoff delay (or not started)
    CONNECTING = "connecting"
    BINDING = "binding"
    BOUND = "bound"
    CLOSED = "closed"  # close() was called; the client will not reconnect

    __hash__ = object.__hash__  # singletons compared by identity: hash them in C


class NotBound(SmppError):
    """The client has no bound connection to send on."""


class EsmeHandler(Protocol):
    """What the SMPP client asks of the application. Called on the loop: never block."""

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        """deliver_sm, data_sm (answer with conn.respond()), alert_notification (no answer)."""

    def on_bound(self, conn: SmppConnection) -> None: ...

    def on_closed(self, conn: SmppConnection, reason: str) -> None: ...


class SmppClient:
    """A self-healing bind to one SMSC."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        system_id: str,
        password: str,
        system_type: str = "",
        bind_type: BindType = "transceiver",
        handler: EsmeHandler | None = None,
        ssl: _ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        window: int = 10,
        max_pending: int = 1000,
        response_timeout: float = 30.0,
        enquire_link_interval: float | None = 30.0,
        inactivity_timeout: float | None = 120.0,
        connect_timeout: float = 10.0,
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 60.0,
        on_state_change: Callable[[ClientState], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.system_id, self.password, self.system_type = system_id, password, system_type
        self.bind_type = bind_type
        self.handler = handler
        self.ssl, self.server_hostname = ssl, server_hostname
        self.window, self.max_pending = window, max_pending
        self.response_timeout = response_timeout
        self.enquire_link_interval = enquire_link_interval
        self.inactivity_timeout = inactivity_timeout
        self.connect_timeout = connect_timeout
        self.reconnect_delay, self.max_reconnect_delay = reconnect_delay, max_reconnect_delay
        self.on_state_change = on_state_change
        self.state = ClientState.DISCONNECTED
        self.connection: SmppConnection | None = None
        self.last_bind_status: int | None = None  # the command_status of the last refused bind
        self._bound = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------- lifetime

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def wait_bound(self) -> SmppConnection:
        """The bound connection, once there is one (wrap in asyncio.timeout() to bound the wait)."""
        while True:
            await self._bound.wait()
            conn = self.connection
            if conn is not None and conn.session.is_bound:
                return conn
            self._bound.clear()

    async def request(self, pdu: Pdu) -> Pdu:
        """Send on the bound connection and wait for the response. Raises NotBound when not bound."""
        conn = self.connection
        if conn is None or self.state is not ClientState.BOUND:
            raise NotBound(f"client is {self.state.value}")
        return await conn.request(pdu)

    async def close(self, *, unbind_timeout: float = 5.0) -> None:
        """Unbind cleanly (in-flight requests drain) and stop reconnecting."""
        self._stop.set()
        conn = self.connection
        if conn is not None:
            await conn.unbind(grace=unbind_timeout)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._set_state(ClientState.CLOSED)

    async def __aenter__(self) -> SmppClient:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------------------ supervisor

    async def _run(self) -> None:
        delay = self.reconnect_delay
        while not self._stop.is_set():
            if await self._connect_and_bind():
                delay = self.reconnect_delay
                assert self.connection is not None
                reason = await self.connection.wait_closed()
                log.info("smpp_client_disconnected", host=self.host, port=self.port, reason=reason)
            self._set_state(ClientState.DISCONNECTED)
            if self._stop.is_set():
                break
            try:  # an interruptible backoff: close() ends it at once
                await asyncio.wait_for(self._stop.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, self.max_reconnect_delay)

    async def _connect_and_bind(self) -> bool:
        loop = asyncio.get_running_loop()
        self._set_state(ClientState.CONNECTING)
        session = Session(
            Role.ESME,
            window=self.window,
            response_timeout=self.response_timeout,
            enquire_link_interval=self.enquire_link_interval,
            inactivity_timeout=self.inactivity_timeout,
            now=loop.time(),
        )
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: SmppConnection(session, self, max_pending=self.max_pending),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.server_hostname if self.ssl else None,
                ),
                self.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            log.info("smpp_client_connect_failed", host=self.host, port=self.port, error=str(exc))
            return False
        self.connection = conn
        self._set_state(ClientState.BINDING)
        bind = _BIND_CLASSES[self.bind_type](
            system_id=self.system_id, password=self.password, system_type=self.system_type
        )
        try:
            response = await conn.request(bind)
        except RequestFailedError as exc:
            log.info("smpp_client_bind_failed", host=self.host, reason=exc.reason)
            conn.close("bind failed")
            return False
        if response.command_status != CommandStatus.ESME_ROK:
            self.last_bind_status = response.command_status
            log.info("smpp_client_bind_refused", host=self.host, status=response.command_status)
            conn.close("bind refused")
            return False
        return True

    def _set_state(self, state: ClientState) -> None:
        if state is self.state:
            return
        self.state = state
        if state is ClientState.BOUND:
            self._bound.set()
        else:
            self._bound.clear()
        if self.on_state_change is not None:
            self.on_state_change(state)

    # ------------------------------------------------------------------------ ConnectionOwner callbacks

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        if self.handler is not None:
            self.handler.on_request(conn, pdu)
        elif pdu.command_id in (CommandId.DELIVER_SM, CommandId.DATA_SM):  # the others get no answer
            # Nobody to store it: a temporary error makes the SMSC retry instead of losing it.
            conn.respond(pdu, CommandStatus.ESME_RX_T_APPN)

    def on_bound(self, conn: SmppConnection) -> None:
        self._set_state(ClientState.BOUND)
        if self.handler is not None:
            self.handler.on_bound(conn)

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        if self.state is ClientState.BOUND:
            self._set_state(ClientState.DISCONNECTED)
        if self.handler is not None:
            self.handler.on_closed(conn, reason)
