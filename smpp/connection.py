"""The asyncio adapter around one `Session`: the only place where SMPP meets sockets, clocks and futures.

An `asyncio.Protocol` (callbacks, not streams: one call per read, no task per PDU) that feeds bytes to
the session, hands requests to its owner, resolves the futures of the requests we sent, writes what the
session produced in one `transport.write` per batch, and keeps one `loop.call_at` timer armed at
`session.get_timer()`.

Backpressure: at most `max_pending` received requests may wait for the application's answer. At that
point the adapter stops pulling events from the session (unread PDUs stay in the session's buffer) and
pauses the transport; the first answer that brings the count back under the limit resumes it. Reading is
also paused while the transport's write buffer is over its high-water mark (a peer that does not read
our responses). Memory stays bounded either way.

The owner (`smpp.server`, `smpp.client`) supplies `ConnectionOwner` callbacks. Callbacks run inside the
adapter and must not block; the application answers a request whenever it is ready with `respond()`.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, cast

import structlog

from smpp.errors import SmppError
from smpp.pdu import Pdu
from smpp.session import Session
from smpp.session_events import (
    Bound,
    ConnectionClosed,
    ProtocolViolation,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
)
from smpp.session_table import State

log = structlog.get_logger("smpp.connection")
_CLOSED = State.CLOSED


class RequestFailedError(SmppError):
    """A request we sent got no response: `reason` is "timeout", "closed" or "malformed_response"."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


ResponseCallback = Callable[["Pdu | RequestFailedError"], None]
"""Called once with the response PDU (any command_status, or a generic_nack), or with the error that says
why none will come. Runs inside the adapter: it must not block."""


class ConnectionOwner(Protocol):
    """What the server or client wrapping a connection is told. Called synchronously; never block."""

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        """A request the application must answer with conn.respond() (or that has no response)."""

    def on_bound(self, conn: SmppConnection) -> None: ...

    def on_closed(self, conn: SmppConnection, reason: str) -> None: ...


class SmppConnection(asyncio.Protocol):
    """One SMPP connection, either role. Create it with the loop's create_server/create_connection."""

    def __init__(self, session: Session, owner: ConnectionOwner, *, max_pending: int = 1000) -> None:
        self.session = session
        self.max_pending = max_pending
        self._owner = owner
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        # A request we sent waits for its response as a future (request()) or a callback (send()).
        self._waiters: dict[int, asyncio.Future[Pdu] | ResponseCallback] = {}
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._closed: asyncio.Future[str] = self._loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._processing = False
        self._flush_scheduled = False
        self._backlogged = False  # max_pending answers outstanding
        self._write_paused = False
        self._reading_paused = False
        self.peername: Any = None

    # ------------------------------------------------------------------------------ public interface

    @property
    def state(self) -> State:
        return self.session.state

    @property
    def system_id(self) -> str:
        """The peer's system_id once bound."""
        return self.session.peer_system_id

    async def request(self, pdu: Pdu) -> Pdu:
        """Send a request and wait for its response (any command_status, or a generic_nack).

        Waits for a window slot first when the window is full. Raises RequestFailedError when no
        response will come, LocalProtocolError when the session state forbids the request."""
        session = self.session
        if self._slot_waiters or session.in_flight >= session.window:  # first come, first served
            while True:
                await self._wait_for_slot()
                if session.closed or session.in_flight < session.window:
                    break
        if session.closed:
            raise RequestFailedError(f"{pdu.name}: connection closed", reason="closed")
        sequence = session.send_request(pdu, self._loop.time())
        future: asyncio.Future[Pdu] = self._loop.create_future()
        self._waiters[sequence] = future
        self._schedule_flush()
        self._rearm()
        return await future

    @property
    def free_slots(self) -> int:
        """Requests that may be sent now without waiting for the window."""
        session = self.session
        if session.closed or self._slot_waiters:
            return 0
        return max(0, session.window - session.in_flight)

    def send(self, pdu: Pdu, on_response: ResponseCallback) -> bool:
        """Send a request now if the window has room; `on_response` gets its response or the failure.

        The callback form of request() for the application's hot paths (no coroutine or future per PDU).
        Returns False, sending nothing, when the window is full or the connection is closed.
        Raises LocalProtocolError when the session state forbids the request."""
        session = self.session
        if session.closed or self._slot_waiters or session.in_flight >= session.window:
            return False
        sequence = session.send_request(pdu, self._loop.time())
        self._waiters[sequence] = on_response
        self._schedule_flush()
        self._rearm()
        return True

    async def _wait_for_slot(self) -> None:
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._slot_waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # pass the slot we were given on to the next waiter
            else:
                self._slot_waiters.remove(waiter)
            raise

    def respond(self, request: Pdu, status: int = 0, **fields: Any) -> bool:
        """Answer a request received earlier, in any order. False when the connection is gone."""
        session = self.session
        if session.state is _CLOSED:
            return False
        session.send_response(request, status, **fields)
        if not self._processing:
            self._after_answer()
        return True

    def respond_pdu(self, request: Pdu, response: Pdu) -> bool:
        """Answer with a ready-made response PDU (e.g. a generic_nack). False when the connection is gone."""
        if self.session.closed:
            return False
        self.session.respond(request, response)
        self._after_answer()
        return True

    def _after_answer(self) -> None:
        if self._processing:
            return  # the loop in _process() writes once it is done
        if self._backlogged or self.session.has_events:  # Bound, ConnectionClosed after unbind_resp
            self._process()
        else:
            self._schedule_flush()

    async def unbind(self, grace: float | None = None) -> None:
        """Unbind cleanly (in-flight requests drain first) and wait until the connection is closed;
        after `grace` seconds (None: no limit) close it regardless."""
        session = self.session
        if session.is_bound:
            session.unbind(self._loop.time())
            self._process()
        elif session.state is State.OPEN:
            self.close("closed before bind")
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), grace)
        except TimeoutError:
            self.close("unbind timed out")

    def close(self, reason: str = "closed locally") -> None:
        """Close now: in-flight requests fail with reason "closed"."""
        self.session.close(reason)
        self._process()

    async def wait_closed(self) -> str:
        """Wait until the connection is closed; returns why."""
        return await asyncio.shield(self._closed)

    # ------------------------------------------------------------------------- asyncio.Protocol side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport = cast(asyncio.Transport, transport)
        self.peername = transport.get_extra_info("peername")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:  # asyncio and uvloop set it on TCP already; be explicit, SMPP is all small writes
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
        self._rearm()

    def data_received(self, data: bytes) -> None:
        self.session.receive_data(data, self._loop.time())
        self._process()

    def eof_received(self) -> bool | None:
        self.session.receive_data(b"", self._loop.time())
        self._process()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.session.close("connection lost" if exc is None else f"connection lost: {exc}")
        self._process()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    # ------------------------------------------------------------------------------------- internals

    def _process(self) -> None:
        """Drain the session's events, then write once and re-arm the timer."""
        if self._processing:
            return
        self._processing = True
        session = self.session
        owner = self._owner
        waiters = self._waiters
        max_pending = self.max_pending
        try:
            while True:
                if session.awaiting_answer >= max_pending:
                    self._backlogged = True
                    break
                event = session.next_event()
                if event is None:
                    self._backlogged = False
                    break
                if type(event) is RequestReceived:
                    owner.on_request(self, event.pdu)
                elif type(event) is ResponseReceived:
                    waiter = waiters.pop(event.request.sequence_number, None)
                    self._release_slot()
                    if waiter is None:
                        pass
                    elif isinstance(waiter, asyncio.Future):
                        if not waiter.done():
                            waiter.set_result(event.response)
                    else:
                        waiter(event.response)
                elif type(event) is RequestFailed:
                    self._fail(event)
                elif type(event) is Bound:
                    owner.on_bound(self)
                elif type(event) is ProtocolViolation:
                    log.warning("smpp_protocol_violation", peer=self.peername, error=str(event.error))
                elif type(event) is ConnectionClosed:
                    self._on_closed(event.reason)
        finally:
            self._processing = False
        self._flush()
        self._update_reading()
        self._rearm()

    def _fail(self, event: RequestFailed) -> None:
        waiter = self._waiters.pop(event.request.sequence_number, None)
        self._release_slot()
        error = RequestFailedError(f"{event.request.name}: {event.reason}", reason=event.reason)
        if waiter is None:
            return
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_exception(error)
        else:
            waiter(error)

    def _release_slot(self) -> None:
        waiters = self._slot_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _on_closed(self, reason: str) -> None:
        self._flush()  # a last unbind_resp or generic_nack
        if self._transport is not None:
            self._transport.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for waiter in self._slot_waiters:
            if not waiter.done():
                waiter.set_result(None)  # request() sees the session closed and raises
        self._slot_waiters.clear()
        if not self._closed.done():
            self._closed.set_result(reason)
            self._owner.on_closed(self, reason)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and not self._processing:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.session.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None:
            return
        pause = self._backlogged or self._write_paused
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def _rearm(self) -> None:
        when = self.session.get_timer()
        timer = self._timer
        if when is None:
            if timer is not None:
                timer.cancel()
                self._timer = None
            return
        if timer is not None:
            if self._timer_when <= when:
                return  # fires first; _on_timer re-arms for what is then due
            timer.cancel()
        self._timer_when = when
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        # The loop may run a timer a hair early; it is due, so never pass a time before its deadline.
        self.session.handle_timer(max(self._loop.time(), self._timer_when))
        self._process()
