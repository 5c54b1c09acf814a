"""What a `Session` reports to its owner: one frozen Struct per kind of event.

Events describe what happened on the wire; they never carry futures, sockets or callbacks (the asyncio
adapter in `smpp.connection` maps them onto those).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from smpp.errors import RemoteProtocolError
from smpp.pdu import Pdu
from smpp.session_table import State

FailReason = Literal["timeout", "closed", "malformed_response"]


class RequestReceived(msgspec.Struct, frozen=True, gc=False):
    """The peer sent a request the application must answer (Session.send_response / respond)."""

    pdu: Pdu


class ResponseReceived(msgspec.Struct, frozen=True, gc=False):
    """The answer to a request we sent; `response` may be a generic_nack and carry any command_status."""

    request: Pdu
    response: Pdu


class RequestFailed(msgspec.Struct, frozen=True, gc=False):
    """A request we sent will never get a usable answer."""

    request: Pdu
    reason: FailReason


class Bound(msgspec.Struct, frozen=True, gc=False):
    """The bind succeeded. `system_id` is the peer's: from the bind (SMSC) or the bind_resp (ESME)."""

    state: State
    system_id: str


class Unbound(msgspec.Struct, frozen=True, gc=False):
    """An unbind went out (`by_peer=False`) or came in: no new requests; in-flight ones still drain."""

    by_peer: bool


class ConnectionClosed(msgspec.Struct, frozen=True, gc=False):
    """The session is over; the owner should write data_to_send() one last time and close the socket."""

    reason: str


class ProtocolViolation(msgspec.Struct, frozen=True, gc=False):
    """The peer broke the protocol; the session already answered it where SMPP says to. For logging."""

    error: RemoteProtocolError


Event = (
    RequestReceived
    | ResponseReceived
    | RequestFailed
    | Bound
    | Unbound
    | ConnectionClosed
    | ProtocolViolation
)
