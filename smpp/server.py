"""The SMSC role over asyncio: a listener that customers' ESMEs bind to, one `Session` per connection.

The application (the engine) implements `SmscHandler`:

    class Intake:
        async def authenticate(self, conn, bind) -> tuple[int, str]:   # (command_status, our system_id)
            return (CommandStatus.ESME_ROK, "smsengine") if ok else (CommandStatus.ESME_RINVPASWD, "")
        def on_bound(self, conn): ...                       # conn.system_id, conn.state
        def on_request(self, conn, pdu): queue(pdu)   # later: conn.respond(pdu, 0, message_id=...)
        def on_closed(self, conn, reason): ...

    server = await start_server(Intake(), "0.0.0.0", 2775, window=100, max_pending=5000)
    ...
    await conn.request(DeliverSm(...))                      # to a bound receiver/transceiver
    await server.close()                                    # unbinds every connection cleanly

Answers may come in any order and much later (after a durable group commit). A connection admits at most
`max_pending` requests not yet answered and stops reading beyond that (see `smpp.connection`); the
handler can also answer ESME_RMSGQFUL itself when its own intake is full. Never imports the engine.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from typing import Protocol

import structlog

from smpp.connection import SmppConnection
from smpp.constants import INTERFACE_VERSION, CommandStatus, Tag
from smpp.pdu import BindReceiver, BindTransceiver, BindTransmitter, Pdu
from smpp.session import Session
from smpp.session_table import BIND_TARGET, Role

log = structlog.get_logger("smpp.server")

BindPdu = BindTransmitter | BindReceiver | BindTransceiver


class SmscHandler(Protocol):
    """What the SMPP server asks of the application. Sync methods are called on the loop: never block."""

    async def authenticate(self, conn: SmppConnection, bind: BindPdu) -> tuple[int, str]:
        """(command_status, system_id for the bind_resp). ESME_ROK binds; anything else refuses."""
        ...

    def on_bound(self, conn: SmppConnection) -> None:
        """The bind succeeded: conn.system_id and conn.state say who and how."""

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        """submit_sm, submit_multi, data_sm, query_sm, cancel_sm, replace_sm: answer with conn.respond()."""

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        """The connection is gone; requests not answered yet can no longer be answered."""


class SmppServer:
    """Owns the listener and every connection it accepted."""

    def __init__(
        self,
        handler: SmscHandler,
        *,
        window: int = 100,
        max_pending: int = 1000,
        response_timeout: float = 30.0,
        enquire_link_interval: float | None = 30.0,
        inactivity_timeout: float | None = 120.0,
    ) -> None:
        self.handler = handler
        self.window = window
        self.max_pending = max_pending
        self.response_timeout = response_timeout
        self.enquire_link_interval = enquire_link_interval
        self.inactivity_timeout = inactivity_timeout
        self.connections: set[SmppConnection] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(
        self, host: str | None, port: int, *, ssl: _ssl.SSLContext | None = None, reuse_port: bool = False
    ) -> None:
        """reuse_port: SO_REUSEPORT, so that several processes listen on one port (the kernel spreads
        new connections over them)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection, host, port, ssl=ssl, reuse_port=reuse_port or None
        )

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        assert self._server is not None and self._server.sockets
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def _new_connection(self) -> SmppConnection:
        loop = asyncio.get_running_loop()
        session = Session(
            Role.SMSC,
            window=self.window,
            response_timeout=self.response_timeout,
            enquire_link_interval=self.enquire_link_interval,
            inactivity_timeout=self.inactivity_timeout,
            now=loop.time(),
        )
        conn = SmppConnection(session, self, max_pending=self.max_pending)
        self.connections.add(conn)
        return conn

    # ConnectionOwner callbacks -------------------------------------------------------------------

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        if pdu.command_id in BIND_TARGET:
            assert isinstance(pdu, BindTransmitter | BindReceiver | BindTransceiver)
            task = asyncio.get_running_loop().create_task(self._authenticate(conn, pdu))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self.handler.on_request(conn, pdu)

    def on_bound(self, conn: SmppConnection) -> None:
        self.handler.on_bound(conn)

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        self.connections.discard(conn)
        self.handler.on_closed(conn, reason)

    async def _authenticate(self, conn: SmppConnection, bind: BindPdu) -> None:
        try:
            status, system_id = await self.handler.authenticate(conn, bind)
        except Exception:
            log.exception("smpp_authenticate_failed", system_id=bind.system_id)
            status, system_id = CommandStatus.ESME_RBINDFAIL, ""
        if status:
            conn.respond(bind, status)
        else:
            conn.respond(bind, 0, system_id=system_id, tlvs={Tag.SC_INTERFACE_VERSION: INTERFACE_VERSION})

    # lifetime ------------------------------------------------------------------------------------

    async def close(self, *, unbind_timeout: float = 5.0) -> None:
        """Stop listening, unbind every bound connection (in-flight requests drain), close the rest."""
        if self._server is not None:
            self._server.close()
        conns = list(self.connections)
        await asyncio.gather(*(conn.unbind(grace=unbind_timeout) for conn in conns))
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> SmppServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start_server(
    handler: SmscHandler,
    host: str | None,
    port: int,
    *,
    ssl: _ssl.SSLContext | None = None,
    window: int = 100,
    max_pending: int = 1000,
    response_timeout: float = 30.0,
    enquire_link_interval: float | None = 30.0,
    inactivity_timeout: float | None = 120.0,
    reuse_port: bool = False,
) -> SmppServer:
    """Listen on host:port (port 0: any free port, see `.port`) and serve SMPP with `handler`;
    reuse_port: share the port with other processes doing the same (SO_REUSEPORT)."""
    server = SmppServer(
        handler,
        window=window,
        max_pending=max_pending,
        response_timeout=response_timeout,
        enquire_link_interval=enquire_link_interval,
        inactivity_timeout=inactivity_timeout,
    )
    await server.listen(host, port, ssl=ssl, reuse_port=reuse_port)
    return server
