"""The sans-IO SMPP session: bytes in, events out, clock passed in (after h11 and aioquic).

    session = Session(Role.SMSC, window=100, response_timeout=30, enquire_link_interval=30,
                      inactivity_timeout=120, now=clock())
    session.receive_data(data, clock())
    while (event := session.next_event()) is not None: ...     # RequestReceived, ResponseReceived ...
    session.send_response(request, status=0, message_id="...")  # whenever the application is ready
    sock.send(session.data_to_send()); timer = session.get_timer(); ... session.handle_timer(clock())

What the session does on its own, without the application: answers enquire_link; answers a request the
state forbids (ESME_RINVBNDSTS, a second bind ESME_RALYBND, a request from the wrong side ESME_RINVCMDID);
answers a bad command_length / unknown command_id with generic_nack and a body that does not decode with
the command's own response; ignores (and reports) a response that matches no request; sends enquire_link
after `enquire_link_interval` of silence; closes after `inactivity_timeout` of silence; fails requests
unanswered after `response_timeout`. It survives every one of those. Unbind drains: a local unbind goes
out once our in-flight requests are answered; a peer's unbind is answered once the application has
answered every request it received; the session is CLOSED when both directions are empty.

The state table lives in `smpp.session_table`. This module never does I/O and never reads a clock.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Any

from smpp.codec import MAX_PDU_LENGTH, decode, encode
from smpp.constants import HEADER_LENGTH, RESPONSE_BIT, CommandId, CommandStatus
from smpp.errors import InvalidBody, InvalidCommandLength, LocalProtocolError, RemoteProtocolError
from smpp.pdu import EnquireLink, EnquireLinkResp, GenericNack, Pdu, Unbind, UnbindResp, response_class
from smpp.session_events import (
    Bound,
    ConnectionClosed,
    Event,
    FailReason,
    ProtocolViolation,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
    Unbound,
)
from smpp.session_table import BIND_TARGET, BOUND_STATES, Role, State, receive_table, send_allowed

MAX_SEQUENCE = 0x7FFFFFFF
_U32 = struct.Struct(">I")
_GENERIC_NACK = CommandId.GENERIC_NACK
_ENQUIRE_LINK = CommandId.ENQUIRE_LINK
_UNBIND = CommandId.UNBIND
# Requests the session must look at before (or instead of) handing them to the application.
_SPECIAL = frozenset({_ENQUIRE_LINK, _UNBIND, *BIND_TARGET, CommandId.OUTBIND, CommandId.ALERT_NOTIFICATION})
_RESPONSE_CLASSES: dict[int, type[Pdu]] = {
    command_id: cls
    for command_id in CommandId
    if not command_id & RESPONSE_BIT and (cls := response_class(command_id)) is not None
}
# Requests that get no response at all (4.1.7, 4.12.1).
_NO_RESPONSE = frozenset({CommandId.OUTBIND, CommandId.ALERT_NOTIFICATION})


class WindowFull(LocalProtocolError):
    """`window` requests already await their responses; wait for one before sending another."""


class Session:
    """One SMPP session, either role. Not thread-safe; owned by exactly one I/O adapter."""

    def __init__(
        self,
        role: Role,
        *,
        window: int = 10,
        response_timeout: float = 30.0,
        enquire_link_interval: float | None = 30.0,
        inactivity_timeout: float | None = 120.0,
        now: float,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.role = role
        self.state = State.OPEN
        self.window = window
        self.response_timeout = response_timeout
        self.enquire_link_interval = enquire_link_interval
        self.inactivity_timeout = inactivity_timeout
        self.peer_system_id = ""  # the bind's system_id (SMSC role) or the bind_resp's (ESME role)
        self.close_reason = ""
        # Unread bytes are _buffer[_position:]. Framing is done here, not with codec.PduReader, because a
        # bytes buffer read at an offset saves two copies per PDU (~1.4 us, 15% of the per-PDU cost of
        # the session); the errors raised are PduReader's, byte for byte (tests/smpp/test_session.py).
        self._buffer = b""
        self._position = 0
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        # Requests we sent, seq -> (request, deadline). Deadlines grow with insertion order, so the
        # first entry is always the next to expire.
        self._sent: dict[int, tuple[Pdu, float]] = {}
        self._received: dict[int, Pdu] = {}  # requests the application still has to answer
        self._in_flight = 0  # application requests in _sent (the window counts only these)
        self._next_sequence = 1
        self._now = now
        self._last_received = now
        self._bind_sequence: int | None = None  # a bind sent (ESME) or awaiting our answer (SMSC)
        self._enquire_sequence: int | None = None
        self._unbind_wanted = False  # unbind() called; the unbind waits for our in-flight requests
        self._unbind_sequence: int | None = None
        self._peer_unbind: Pdu | None = None  # its unbind_resp waits for the application's answers
        self._unbind_done = False
        self._receive_table = receive_table(role, State.OPEN)

    # ------------------------------------------------------------------------------------ properties

    @property
    def in_flight(self) -> int:
        """Requests we sent that still await a response (enquire_link and unbind excluded)."""
        return self._in_flight

    @property
    def awaiting_answer(self) -> int:
        """Requests received that the application has not answered yet."""
        return len(self._received)

    @property
    def has_events(self) -> bool:
        """Events are queued that next_event() returns without reading more bytes."""
        return bool(self._events)

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    @property
    def is_bound(self) -> bool:
        return self.state in BOUND_STATES

    # ------------------------------------------------------------------------------------- receiving

    def receive_data(self, data: bytes, now: float) -> None:
        """Buffer bytes from the peer; b"" means the peer closed the connection."""
        if self.state is State.CLOSED:
            return
        self._now = now
        if not data:
            self.close("connection closed by peer")
            return
        self._last_received = now
        if self._position >= len(self._buffer):
            self._buffer = bytes(data)
        else:
            self._buffer = self._buffer[self._position :] + data
        self._position = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet decoded (backpressure leaves them here)."""
        return len(self._buffer) - self._position

    def _next_pdu(self) -> Pdu | None:
        buffer, position = self._buffer, self._position
        available = len(buffer) - position
        if available < 4:
            return None
        length = _U32.unpack_from(buffer, position)[0]
        if length < HEADER_LENGTH or length > MAX_PDU_LENGTH:
            # No frame boundary can be trusted any more: drop what is buffered, as PduReader does.
            sequence = _U32.unpack_from(buffer, position + 12)[0] if available >= HEADER_LENGTH else 0
            self._buffer, self._position = b"", 0
            raise InvalidCommandLength(f"command_length {length} out of range", sequence_number=sequence)
        if available < length:
            return None
        self._position = position + length
        return decode(buffer[position : position + length])

    def next_event(self) -> Event | None:
        """The next event, or None when more bytes are needed. Decodes lazily: unread bytes stay
        buffered, so an owner that stops calling this (backpressure) stops the session's intake too."""
        events = self._events
        if events:
            return events.popleft()
        next_pdu = self._next_pdu
        table = self._receive_table
        while self.state is not State.CLOSED:
            try:
                pdu = next_pdu()
            except RemoteProtocolError as exc:
                self._answer_malformed(exc)
            else:
                if pdu is None:
                    return None
                command_id = pdu.command_id
                if command_id & RESPONSE_BIT:
                    self._on_response(pdu)
                elif command_id not in _SPECIAL and table.get(command_id) == 0:
                    sequence = pdu.sequence_number
                    if sequence in self._received:
                        events.append(ProtocolViolation(_violation(pdu, "sequence_number reused")))
                    self._received[sequence] = pdu
                    return RequestReceived(pdu)
                else:
                    self._on_special_request(pdu, table.get(command_id, 0))
                    table = self._receive_table  # the state may have changed
            if events:
                return events.popleft()
        return events.popleft() if events else None

    def _on_special_request(self, pdu: Pdu, status: int) -> None:
        command_id = pdu.command_id
        if status:
            self._reject(pdu, status)
        elif command_id == _ENQUIRE_LINK:
            self._out.append(encode(EnquireLinkResp(pdu.sequence_number)))
        elif command_id == _UNBIND:
            self._unbind_wanted = False
            if self._peer_unbind is None:
                self._peer_unbind = pdu
            if self.state is not State.UNBOUND:
                self._set_state(State.UNBOUND)
                self._events.append(Unbound(by_peer=True))
            self._maybe_finish()
        elif command_id in BIND_TARGET:  # SMSC role, OPEN: the application authenticates it
            if self._bind_sequence is not None:
                self._reject(pdu, CommandStatus.ESME_RALYBND)  # a bind is already being processed
                return
            self._bind_sequence = pdu.sequence_number
            self._received[pdu.sequence_number] = pdu
            self._events.append(RequestReceived(pdu))
        else:  # outbind, alert_notification: no response exists
            self._events.append(RequestReceived(pdu))

    def _reject(self, pdu: Pdu, status: int) -> None:
        cls = response_class(pdu.command_id)
        answer = GenericNack(pdu.sequence_number, status) if cls is None else cls(pdu.sequence_number, status)
        self._out.append(encode(answer))

    def _answer_malformed(self, exc: RemoteProtocolError) -> None:
        self._events.append(ProtocolViolation(exc))
        command_id = exc.command_id
        if isinstance(exc, InvalidBody) and command_id is not None:
            if command_id & RESPONSE_BIT:  # never answer a response; fail what it answers instead
                entry = self._sent.pop(exc.sequence_number, None)
                if entry is not None:
                    self._settle(exc.sequence_number, entry[0], None, "malformed_response")
                return
            cls = response_class(command_id)
            if cls is not None and command_id not in _NO_RESPONSE:
                self._out.append(encode(cls(exc.sequence_number, exc.status)))
                return
        self._out.append(encode(GenericNack(exc.sequence_number, exc.status)))

    def _on_response(self, pdu: Pdu) -> None:
        sequence = pdu.sequence_number
        entry = self._sent.pop(sequence, None)
        if entry is None:
            self._events.append(ProtocolViolation(_violation(pdu, "response matches no request")))
            return
        request = entry[0]
        if pdu.command_id != request.command_id | RESPONSE_BIT and pdu.command_id != _GENERIC_NACK:
            self._events.append(ProtocolViolation(_violation(pdu, f"does not answer {request.name}")))
            self._settle(sequence, request, None, "malformed_response")
            return
        self._settle(sequence, request, pdu, "closed")

    def _settle(self, sequence: int, request: Pdu, response: Pdu | None, reason: FailReason) -> None:
        """Book-keeping once a request we sent is answered (`response`) or given up (`reason`)."""
        if sequence == self._enquire_sequence:
            self._enquire_sequence = None
            if response is None:
                self.close("enquire_link unanswered")
            return
        if sequence == self._unbind_sequence:
            self._unbind_sequence = None
            self._unbind_done = True
            self._maybe_finish()
            return
        self._in_flight -= 1
        if sequence == self._bind_sequence:
            self._bind_sequence = None
            if response is not None and response.command_status == 0 and self.state is State.OPEN:
                self.peer_system_id = getattr(response, "system_id", "")
                self._set_state(BIND_TARGET[request.command_id])
                self._events.append(Bound(self.state, self.peer_system_id))
        if response is None:
            self._events.append(RequestFailed(request, reason))
        else:
            self._events.append(ResponseReceived(request, response))
        if self._unbind_wanted:
            self._send_unbind_if_drained()
        elif self.state is State.UNBOUND:
            self._maybe_finish()

    # --------------------------------------------------------------------------------------- sending

    def send_request(self, pdu: Pdu, now: float) -> int:
        """Queue a request; returns the sequence number it was given (also set on `pdu`).

        Raises WindowFull when `window` requests await responses, LocalProtocolError when the state or
        role forbids the command (nothing is queued then)."""
        command_id = pdu.command_id
        if command_id & RESPONSE_BIT:
            raise LocalProtocolError(f"{pdu.name} is a response: use send_response()/respond()")
        if command_id == _UNBIND:
            raise LocalProtocolError("use unbind(): it waits for in-flight requests")
        state = self.state
        if self._unbind_wanted or not send_allowed(self.role, state, command_id):
            raise LocalProtocolError(f"{self.role.value} may not send {pdu.name} in state {state.value}")
        self._now = now
        if command_id in _NO_RESPONSE:
            self._send(pdu, track=False)
            return pdu.sequence_number
        is_bind = command_id in BIND_TARGET
        if is_bind and self._bind_sequence is not None:
            raise LocalProtocolError("a bind is already in progress")
        if self._in_flight >= self.window:
            raise WindowFull(f"{self._in_flight} requests in flight (window {self.window})")
        sequence = self._send(pdu, track=True)
        self._in_flight += 1
        if is_bind:
            self._bind_sequence = sequence
        return sequence

    def _send(self, pdu: Pdu, *, track: bool) -> int:
        sequence = self._next_sequence
        sent = self._sent
        while sequence in sent:  # only after 2**31 requests with one never answered
            sequence = sequence % MAX_SEQUENCE + 1
        pdu.sequence_number = sequence
        self._out.append(encode(pdu))  # raises LocalProtocolError before anything is recorded
        self._next_sequence = sequence % MAX_SEQUENCE + 1
        if track:
            sent[sequence] = (pdu, self._now + self.response_timeout)
        return sequence

    def send_response(self, request: Pdu, status: int = 0, **fields: Any) -> None:
        """Answer a RequestReceived with its response class, `status` and body `fields`."""
        # The hot path of an SMSC (one call per submit_sm), so it does not go through respond().
        sequence = request.sequence_number
        received = self._received
        if received.get(sequence) is not request:
            raise LocalProtocolError(f"{request.name} #{sequence} is not awaiting an answer")
        cls = _RESPONSE_CLASSES.get(request.command_id)
        if cls is None:
            raise LocalProtocolError(f"{request.name} has no response")
        self._out.append(encode(cls(sequence, status, **fields)))
        del received[sequence]
        if self._bind_sequence is not None or self._peer_unbind is not None:
            self._answered(request, status)

    def respond(self, request: Pdu, response: Pdu) -> None:
        """Answer a RequestReceived with a ready-made response (its own _resp or a generic_nack)."""
        sequence = request.sequence_number
        if self._received.get(sequence) is not request:
            raise LocalProtocolError(f"{request.name} #{sequence} is not awaiting an answer")
        if response.command_id != request.command_id | RESPONSE_BIT and response.command_id != _GENERIC_NACK:
            raise LocalProtocolError(f"{response.name} does not answer {request.name}")
        response.sequence_number = sequence
        self._out.append(encode(response))
        del self._received[sequence]
        self._answered(request, response.command_status)

    def _answered(self, request: Pdu, status: int) -> None:
        if request.sequence_number == self._bind_sequence and request.command_id in BIND_TARGET:
            self._bind_sequence = None
            if status == 0 and self.state is State.OPEN:
                self.peer_system_id = getattr(request, "system_id", "")
                self._set_state(BIND_TARGET[request.command_id])
                self._events.append(Bound(self.state, self.peer_system_id))
        if self._peer_unbind is not None:
            self._maybe_finish()

    def unbind(self, now: float) -> None:
        """Start a clean unbind: no new requests; the unbind goes out once in-flight ones are answered."""
        if self.state not in BOUND_STATES:
            raise LocalProtocolError(f"cannot unbind in state {self.state.value}")
        self._now = now
        self._unbind_wanted = True
        self._send_unbind_if_drained()

    def _send_unbind_if_drained(self) -> None:
        if self._in_flight or self.state not in BOUND_STATES:
            return
        self._unbind_wanted = False
        self._unbind_sequence = self._send(Unbind(), track=True)
        self._set_state(State.UNBOUND)
        self._events.append(Unbound(by_peer=False))

    def _maybe_finish(self) -> None:
        if self.state is not State.UNBOUND:
            return
        if self._peer_unbind is not None and not self._received:
            self._out.append(encode(UnbindResp(self._peer_unbind.sequence_number)))
            self._peer_unbind = None
            self._unbind_done = True
        if self._unbind_done and not self._sent and not self._received:
            self.close("unbound")

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call, as one buffer (one write)."""
        out = self._out
        if not out:
            return b""
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        return data

    def close(self, reason: str = "closed") -> None:
        """The connection is gone (or must go): fail what is in flight and emit ConnectionClosed."""
        if self.state is State.CLOSED:
            return
        for sequence, (request, _) in self._sent.items():
            if sequence != self._enquire_sequence and sequence != self._unbind_sequence:
                self._events.append(RequestFailed(request, "closed"))
        self._sent.clear()
        self._received.clear()
        self._in_flight = 0
        self.close_reason = reason
        self._set_state(State.CLOSED)
        self._events.append(ConnectionClosed(reason))

    def _set_state(self, state: State) -> None:
        self.state = state
        self._receive_table = receive_table(self.role, state)

    # ---------------------------------------------------------------------------------------- timers

    def get_timer(self) -> float | None:
        """When handle_timer() must next be called (None: never)."""
        if self.state is State.CLOSED:
            return None
        # Called after every batch of PDUs: no list, no min() over one.
        when: float | None = None
        if self._sent:
            when = next(iter(self._sent.values()))[1]
        if self.inactivity_timeout is not None:
            idle = self._last_received + self.inactivity_timeout
            if when is None or idle < when:
                when = idle
        if self._enquire_due():
            assert self.enquire_link_interval is not None
            enquire = self._last_received + self.enquire_link_interval
            if when is None or enquire < when:
                when = enquire
        return when

    def _enquire_due(self) -> bool:
        return (
            self.enquire_link_interval is not None
            and self._enquire_sequence is None
            and self.state in BOUND_STATES
        )

    def handle_timer(self, now: float) -> None:
        """Fire whatever is due at `now`: response timeouts, inactivity, enquire_link."""
        if self.state is State.CLOSED:
            return
        self._now = now
        sent = self._sent
        while sent and not self.closed:
            sequence, (request, deadline) = next(iter(sent.items()))
            if deadline > now:
                break
            del sent[sequence]
            self._settle(sequence, request, None, "timeout")
        if self.closed:
            return
        if self.inactivity_timeout is not None and now - self._last_received >= self.inactivity_timeout:
            self.close("inactivity timeout")
            return
        interval = self.enquire_link_interval
        if self._enquire_due() and interval is not None and now - self._last_received >= interval:
            self._enquire_sequence = self._send(EnquireLink(), track=True)


def _violation(pdu: Pdu, why: str) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"{pdu.name} #{pdu.sequence_number}: {why}",
        status=0,
        command_id=pdu.command_id,
        sequence_number=pdu.sequence_number,
    )
