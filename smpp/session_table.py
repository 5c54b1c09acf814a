"""The SMPP 3.4 session state machine as one table (specification section 2.3 and 2.4).

Which request each side may send in which state is written down once, in `REQUESTS`; `Session` asks
`rejection_status()` what to answer when the peer sends a request, and `send_allowed()` whether the
application may send one. Responses are not in the table: a response is valid exactly when it answers a
request still awaiting one, in any state but CLOSED (that is how unbind drains in-flight requests).

Both peers of a session are in the same state, so the table is keyed by the *sender's* role: the SMSC
session receiving a submit_sm looks up (ESME, submit_sm), the ESME session sending one does too.

This module holds data and pure functions only.
"""

from __future__ import annotations

import enum

from smpp.constants import CommandId, CommandStatus


class Role(enum.Enum):
    """Which end of the bind we are. SMSC: customers bind to us. ESME: we bind to a carrier."""

    SMSC = "smsc"
    ESME = "esme"

    # Members are singletons compared by identity: hash them by identity too, in C. Enum's own __hash__
    # is Python code, and sessions look states up in sets and tables several times per PDU.
    __hash__ = object.__hash__

    @property
    def peer(self) -> Role:
        return Role.ESME if self is Role.SMSC else Role.SMSC


class State(enum.Enum):
    """Session states (2.3). OUTBOUND is not modelled: an outbind is a request received in OPEN."""

    OPEN = "open"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBOUND = "unbound"  # an unbind went one way; only responses (and enquire_link) still flow
    CLOSED = "closed"

    __hash__ = object.__hash__  # as Role: identity, in C


C = CommandId
S = State
_TX = frozenset({S.BOUND_TX, S.BOUND_TRX})
_RX = frozenset({S.BOUND_RX, S.BOUND_TRX})
BOUND_STATES = frozenset({S.BOUND_TX, S.BOUND_RX, S.BOUND_TRX})
_OPEN_ONLY = frozenset({S.OPEN})
_LIVE = frozenset({S.OPEN, *BOUND_STATES, S.UNBOUND})
# An unbind may cross ours on the wire: it is answered, not rejected.
_UNBINDABLE = frozenset({*BOUND_STATES, S.UNBOUND})

# (role of the sender, request command_id) -> states in which that side may send it (table 2-1).
REQUESTS: dict[tuple[Role, int], frozenset[State]] = {
    (Role.ESME, C.BIND_TRANSMITTER): _OPEN_ONLY,
    (Role.ESME, C.BIND_RECEIVER): _OPEN_ONLY,
    (Role.ESME, C.BIND_TRANSCEIVER): _OPEN_ONLY,
    (Role.ESME, C.SUBMIT_SM): _TX,
    (Role.ESME, C.SUBMIT_MULTI): _TX,
    (Role.ESME, C.DATA_SM): _TX,
    (Role.ESME, C.QUERY_SM): _TX,
    (Role.ESME, C.CANCEL_SM): _TX,
    (Role.ESME, C.REPLACE_SM): _TX,
    (Role.ESME, C.UNBIND): _UNBINDABLE,
    (Role.ESME, C.ENQUIRE_LINK): _LIVE,
    (Role.SMSC, C.OUTBIND): _OPEN_ONLY,
    (Role.SMSC, C.DELIVER_SM): _RX,
    (Role.SMSC, C.DATA_SM): _RX,
    (Role.SMSC, C.ALERT_NOTIFICATION): _RX,
    (Role.SMSC, C.UNBIND): _UNBINDABLE,
    (Role.SMSC, C.ENQUIRE_LINK): _LIVE,
}

# A successful bind_*_resp moves both sides to this state.
BIND_TARGET: dict[int, State] = {
    C.BIND_TRANSMITTER: S.BOUND_TX,
    C.BIND_RECEIVER: S.BOUND_RX,
    C.BIND_TRANSCEIVER: S.BOUND_TRX,
}

REQUEST_IDS: tuple[int, ...] = tuple(
    sorted({command_id for (_, command_id) in REQUESTS} | {int(c) for c in C if not c & 0x80000000})
)


def rejection_status(sender: Role, state: State, command_id: int) -> int:
    """0 when `sender` may send request `command_id` in `state`, else the command_status to answer.

    - a request this side never sends (an SMSC sending submit_sm, an ESME sending deliver_sm):
      ESME_RINVCMDID, the command is not valid from that peer;
    - a bind on a session that is already bound: ESME_RALYBND;
    - any other request in the wrong state: ESME_RINVBNDSTS.
    """
    states = REQUESTS.get((sender, command_id))
    if states is None:
        return CommandStatus.ESME_RINVCMDID
    if state in states:
        return 0
    if command_id in BIND_TARGET and state in BOUND_STATES:
        return CommandStatus.ESME_RALYBND
    return CommandStatus.ESME_RINVBNDSTS


def receive_table(role: Role, state: State) -> dict[int, int]:
    """For a session of `role` in `state`: request command_id -> status to answer (0: accept it)."""
    return {command_id: rejection_status(role.peer, state, command_id) for command_id in REQUEST_IDS}


def send_allowed(role: Role, state: State, command_id: int) -> bool:
    return state in REQUESTS.get((role, command_id), ())
