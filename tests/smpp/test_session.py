"""The sans-IO session, with no sockets and a fake clock: two sessions driven against each other
(h11's ConnectionPair), and one session fed raw PDUs from a scripted peer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smpp.codec import PduReader, decode, encode
from smpp.constants import CommandId, CommandStatus, Tag
from smpp.errors import LocalProtocolError, RemoteProtocolError
from smpp.pdu import (
    AlertNotification,
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    CancelSm,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    ReplaceSm,
    SmeAddress,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
)
from smpp.session import MAX_SEQUENCE, Session, WindowFull
from smpp.session_events import (
    Bound,
    ConnectionClosed,
    Event,
    ProtocolViolation,
    RequestFailed,
    RequestReceived,
    ResponseReceived,
    Unbound,
)
from smpp.session_table import Role, State

T0 = 1_000.0
C = CommandId
S = CommandStatus


def new_session(role: Role, **options: float | int | None) -> Session:
    settings: dict[str, float | int | None] = {
        "window": 10,
        "response_timeout": 5.0,
        "enquire_link_interval": None,
        "inactivity_timeout": None,
    }
    settings.update(options)
    return Session(role, now=T0, **settings)  # type: ignore[arg-type]


def drain(session: Session) -> list[Event]:
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


def written(session: Session) -> list[Pdu]:
    """Decode what the session wants to send."""
    reader = PduReader()
    reader.feed(session.data_to_send())
    out = []
    while (pdu := reader.next_pdu()) is not None:
        out.append(pdu)
    return out


def feed(session: Session, *pdus: Pdu | bytes, now: float = T0) -> list[Event]:
    session.receive_data(b"".join(p if isinstance(p, bytes) else encode(p) for p in pdus), now)
    return drain(session)


class ConnectionPair:
    """An ESME session and an SMSC session wired back to back, as h11's tests/helpers.py does."""

    def __init__(self, **options: float | int | None) -> None:
        self.esme = new_session(Role.ESME, **options)
        self.smsc = new_session(Role.SMSC, **options)
        self.now = T0

    def peer(self, session: Session) -> Session:
        return self.smsc if session is self.esme else self.esme

    def send(self, session: Session) -> list[Event]:
        """Deliver what `session` wrote to its peer; the peer's events."""
        peer = self.peer(session)
        peer.receive_data(session.data_to_send(), self.now)
        return drain(peer)

    def bind(self, cls: type[Pdu] = BindTransceiver) -> None:
        self.esme.send_request(cls(system_id="acme", password="secret"), self.now)  # type: ignore[call-arg]
        (received,) = self.send(self.esme)
        assert isinstance(received, RequestReceived)
        self.smsc.send_response(received.pdu, 0, system_id="carrier")
        assert drain(self.smsc) == [Bound(self.smsc.state, "acme")]
        events = self.send(self.smsc)
        assert [type(e) for e in events] == [Bound, ResponseReceived]


# ------------------------------------------------------------------------------------------ binding


@pytest.mark.parametrize(
    ("bind", "state"),
    [(BindTransmitter, State.BOUND_TX), (BindReceiver, State.BOUND_RX), (BindTransceiver, State.BOUND_TRX)],
)
def test_each_bind_type_moves_both_sides_to_its_bound_state(bind: type[Pdu], state: State) -> None:
    pair = ConnectionPair()
    pair.bind(bind)
    assert pair.esme.state is state and pair.smsc.state is state
    assert pair.esme.peer_system_id == "carrier" and pair.smsc.peer_system_id == "acme"


def test_refused_bind_leaves_the_session_open_for_another_bind() -> None:
    pair = ConnectionPair()
    pair.esme.send_request(BindTransmitter(system_id="acme", password="wrong"), T0)
    (received,) = pair.send(pair.esme)
    pair.smsc.send_response(received.pdu, S.ESME_RINVPASWD)  # type: ignore[union-attr]
    (event,) = pair.send(pair.smsc)
    assert isinstance(event, ResponseReceived) and event.response.command_status == S.ESME_RINVPASWD
    assert pair.esme.state is State.OPEN and pair.smsc.state is State.OPEN
    pair.bind(BindTransmitter)
    assert pair.esme.state is State.BOUND_TX


def test_a_second_bind_while_the_first_is_being_authenticated_is_already_bound() -> None:
    smsc = new_session(Role.SMSC)
    (first,) = feed(smsc, BindTransmitter(1, system_id="a"))
    assert feed(smsc, BindTransmitter(2, system_id="a")) == []
    assert written(smsc) == [BindTransmitterResp(2, S.ESME_RALYBND)]
    smsc.send_response(first.pdu, 0, system_id="x")  # type: ignore[union-attr]
    assert smsc.state is State.BOUND_TX


def test_submit_sm_answered_later_and_out_of_order_reaches_the_right_request() -> None:
    pair = ConnectionPair()
    pair.bind()
    first = SubmitSm(destination_addr="447700900001", short_message=b"one")
    second = SubmitSm(destination_addr="447700900002", short_message=b"two")
    pair.esme.send_request(first, T0)
    pair.esme.send_request(second, T0)
    received = [e.pdu for e in pair.send(pair.esme)]  # type: ignore[union-attr]
    assert [p.short_message for p in received] == [b"one", b"two"]  # type: ignore[attr-defined]
    pair.smsc.send_response(received[1], 0, message_id="id-2")
    pair.smsc.send_response(received[0], 0, message_id="id-1")
    events = pair.send(pair.smsc)
    assert [(e.request.short_message, e.response.message_id) for e in events] == [  # type: ignore[union-attr]
        (b"two", "id-2"),
        (b"one", "id-1"),
    ]
    assert pair.esme.in_flight == 0 and pair.smsc.awaiting_answer == 0


def test_answering_twice_or_something_never_received_is_a_local_error() -> None:
    pair = ConnectionPair()
    pair.bind()
    pair.esme.send_request(SubmitSm(short_message=b"x"), T0)
    (event,) = pair.send(pair.esme)
    pair.smsc.send_response(event.pdu, 0, message_id="1")  # type: ignore[union-attr]
    with pytest.raises(LocalProtocolError):
        pair.smsc.send_response(event.pdu, 0, message_id="1")  # type: ignore[union-attr]
    with pytest.raises(LocalProtocolError):
        pair.smsc.respond(SubmitSm(77), SubmitSmResp(77))


# --------------------------------------------------------------------------- the whole state table

SAMPLES: dict[int, Pdu] = {
    C.BIND_TRANSMITTER: BindTransmitter(system_id="acme", password="pw"),
    C.BIND_RECEIVER: BindReceiver(system_id="acme", password="pw"),
    C.BIND_TRANSCEIVER: BindTransceiver(system_id="acme", password="pw"),
    C.OUTBIND: Outbind(system_id="carrier", password="pw"),
    C.SUBMIT_SM: SubmitSm(destination_addr="447700900123", short_message=b"hello"),
    C.DELIVER_SM: DeliverSm(source_addr="447700900123", short_message=b"hi"),
    C.SUBMIT_MULTI: SubmitMulti(dest_addresses=[SmeAddress(1, 1, "447700900123")], short_message=b"x"),
    C.DATA_SM: DataSm(destination_addr="447700900123", tlvs={Tag.MESSAGE_PAYLOAD: b"payload"}),
    C.QUERY_SM: QuerySm(message_id="abc"),
    C.CANCEL_SM: CancelSm(message_id="abc"),
    C.REPLACE_SM: ReplaceSm(message_id="abc", short_message=b"new"),
    C.ALERT_NOTIFICATION: AlertNotification(source_addr="447700900123", esme_addr="acme"),
    C.UNBIND: Unbind(),
    C.ENQUIRE_LINK: EnquireLink(),
}
_MESSAGES = {C.SUBMIT_SM, C.SUBMIT_MULTI, C.DATA_SM, C.QUERY_SM, C.CANCEL_SM, C.REPLACE_SM}
_BINDS = {C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER}
_ALWAYS = {C.ENQUIRE_LINK}
# Written from the specification's table 2-1, independently of smpp.session_table.
MAY_SEND: dict[Role, dict[State, set[int]]] = {
    Role.ESME: {
        State.OPEN: _BINDS | _ALWAYS,
        State.BOUND_TX: _MESSAGES | {C.UNBIND} | _ALWAYS,
        State.BOUND_RX: {C.UNBIND} | _ALWAYS,
        State.BOUND_TRX: _MESSAGES | {C.UNBIND} | _ALWAYS,
        State.UNBOUND: {C.UNBIND} | _ALWAYS,
    },
    Role.SMSC: {
        State.OPEN: {C.OUTBIND} | _ALWAYS,
        State.BOUND_TX: {C.UNBIND} | _ALWAYS,
        State.BOUND_RX: {C.DELIVER_SM, C.DATA_SM, C.ALERT_NOTIFICATION, C.UNBIND} | _ALWAYS,
        State.BOUND_TRX: {C.DELIVER_SM, C.DATA_SM, C.ALERT_NOTIFICATION, C.UNBIND} | _ALWAYS,
        State.UNBOUND: {C.UNBIND} | _ALWAYS,
    },
}
_TARGET = {
    C.BIND_TRANSMITTER: State.BOUND_TX,
    C.BIND_RECEIVER: State.BOUND_RX,
    C.BIND_TRANSCEIVER: State.BOUND_TRX,
}
_BIND_FOR = {State.BOUND_TX: BindTransmitter, State.BOUND_RX: BindReceiver, State.BOUND_TRX: BindTransceiver}
_BIND_RESP = {
    BindTransmitter: BindTransmitterResp,
    BindReceiver: BindReceiverResp,
    BindTransceiver: BindTransceiverResp,
}


def session_in(role: Role, state: State) -> Session:
    """A session of `role` brought to `state` by a scripted peer."""
    session = new_session(role)
    if state is State.OPEN:
        return session
    bind = _BIND_FOR.get(state, BindTransceiver)
    if role is Role.SMSC:
        (event,) = feed(session, bind(1, system_id="acme"))
        session.send_response(event.pdu, 0, system_id="carrier")  # type: ignore[union-attr]
    else:
        sequence = session.send_request(bind(system_id="acme"), T0)
        feed(session, _BIND_RESP[bind](sequence, system_id="carrier"))
    if state is State.UNBOUND:  # the peer unbinds while the application still owes it an answer
        pending = SubmitSm(2, short_message=b"x") if role is Role.SMSC else DeliverSm(2, short_message=b"x")
        feed(session, pending, Unbind(3))
    drain(session)
    session.data_to_send()
    assert session.state is state
    return session


@pytest.mark.parametrize("command_id", sorted(SAMPLES), ids=lambda c: CommandId(c).name.lower())
@pytest.mark.parametrize("state", [s for s in State if s is not State.CLOSED], ids=lambda s: s.value)
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_every_request_in_every_state_is_accepted_or_rejected_and_the_session_carries_on(
    role: Role, state: State, command_id: int
) -> None:
    session = session_in(role, state)
    request = SAMPLES[command_id]
    request = type(request)(**{**{f: getattr(request, f) for f in request.__struct_fields__}})
    request.sequence_number = 42
    events = feed(session, request)
    answers = written(session)
    allowed = command_id in MAY_SEND[role.peer][state]
    if not allowed:
        never = all(command_id not in ids for ids in MAY_SEND[role.peer].values())
        bound = state in (State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX)
        status = (
            S.ESME_RINVCMDID
            if never
            else S.ESME_RALYBND
            if command_id in _BINDS and bound
            else S.ESME_RINVBNDSTS
        )
        response = decode(encode(request)).command_id | 0x80000000
        expected_class = GenericNack if command_id in (C.OUTBIND, C.ALERT_NOTIFICATION) else None
        assert events == []
        (answer,) = answers
        assert answer.sequence_number == 42 and answer.command_status == status
        assert type(answer) is expected_class if expected_class else answer.command_id == response
        assert session.state is state
    elif command_id == C.ENQUIRE_LINK:
        assert events == [] and answers == [EnquireLinkResp(42)]
    elif command_id == C.UNBIND:
        if state is State.UNBOUND:  # crosses the first: answered once the application has answered
            assert events == [] and answers == []
        else:
            assert events == [Unbound(by_peer=True), ConnectionClosed("unbound")]
            assert answers == [UnbindResp(42)]
            return
    else:
        assert events == [RequestReceived(request)] and answers == []
        if command_id in (C.OUTBIND, C.ALERT_NOTIFICATION):
            assert session.awaiting_answer == 0
        else:
            session.send_response(events[0].pdu, 0)  # type: ignore[union-attr]
            assert written(session)[0].command_id == command_id | 0x80000000
            if command_id in _BINDS:
                assert drain(session) == [Bound(_TARGET[command_id], "acme")]
    # still usable: an enquire_link is answered
    assert feed(session, EnquireLink(99)) == []
    assert EnquireLinkResp(99) in written(session)


@pytest.mark.parametrize("state", [s for s in State if s is not State.CLOSED], ids=lambda s: s.value)
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_sending_a_request_the_state_forbids_raises_and_queues_nothing(role: Role, state: State) -> None:
    for command_id, sample in SAMPLES.items():
        session = session_in(role, state)
        pdu = type(sample)(**{f: getattr(sample, f) for f in sample.__struct_fields__})
        if command_id == C.UNBIND:
            continue  # unbind() has its own test
        if command_id in MAY_SEND[role][state]:
            session.send_request(pdu, T0)
            assert written(session)[0].command_id == command_id
        else:
            with pytest.raises(LocalProtocolError):
                session.send_request(pdu, T0)
            assert session.data_to_send() == b""
            assert session.state is state


# ------------------------------------------------------------------------------------- window, timers


def test_window_full_is_a_distinct_error_and_a_response_frees_a_slot() -> None:
    pair = ConnectionPair(window=2)
    pair.bind()
    pair.esme.send_request(SubmitSm(short_message=b"1"), T0)
    pair.esme.send_request(SubmitSm(short_message=b"2"), T0)
    with pytest.raises(WindowFull):
        pair.esme.send_request(SubmitSm(short_message=b"3"), T0)
    first = pair.send(pair.esme)[0]
    pair.smsc.send_response(first.pdu, 0, message_id="a")  # type: ignore[union-attr]
    pair.send(pair.smsc)
    pair.esme.send_request(SubmitSm(short_message=b"3"), T0)
    assert pair.esme.in_flight == 2


def test_response_timeout_fails_the_request_at_its_deadline_and_a_late_response_is_ignored() -> None:
    pair = ConnectionPair(response_timeout=5.0)
    pair.bind()
    request = SubmitSm(short_message=b"slow")
    pair.esme.send_request(request, T0 + 1)
    (received,) = pair.send(pair.esme)
    assert pair.esme.get_timer() == T0 + 6
    pair.esme.handle_timer(T0 + 5.9)
    assert drain(pair.esme) == []
    pair.esme.handle_timer(T0 + 6)
    assert drain(pair.esme) == [RequestFailed(request, "timeout")]
    assert pair.esme.in_flight == 0
    pair.smsc.send_response(received.pdu, 0, message_id="late")  # type: ignore[union-attr]
    (event,) = pair.send(pair.smsc)
    assert isinstance(event, ProtocolViolation)
    assert pair.esme.is_bound


def test_enquire_link_goes_out_after_the_interval_of_silence_and_its_answer_keeps_the_session() -> None:
    pair = ConnectionPair(enquire_link_interval=30.0, response_timeout=5.0)
    pair.bind()
    assert pair.esme.get_timer() == T0 + 30
    pair.esme.handle_timer(T0 + 29)
    assert pair.esme.data_to_send() == b""
    pair.now = T0 + 30
    pair.esme.handle_timer(T0 + 30)
    assert pair.send(pair.esme) == []  # the SMSC answers by itself
    assert pair.send(pair.smsc) == []  # the ESME swallows the answer: no event for the application
    assert pair.esme.get_timer() == T0 + 60
    assert pair.esme.is_bound


def test_an_unanswered_enquire_link_closes_the_session() -> None:
    esme = session_in(Role.ESME, State.BOUND_TX)
    esme.enquire_link_interval, esme.response_timeout = 30.0, 5.0
    esme.handle_timer(T0 + 30)
    assert written(esme) == [EnquireLink(esme._next_sequence - 1)]
    esme.handle_timer(T0 + 35)
    assert drain(esme) == [ConnectionClosed("enquire_link unanswered")]
    assert esme.get_timer() is None


def test_inactivity_timeout_closes_and_traffic_postpones_it() -> None:
    smsc = new_session(Role.SMSC, inactivity_timeout=60.0)
    assert smsc.get_timer() == T0 + 60
    feed(smsc, EnquireLink(1), now=T0 + 50)
    smsc.handle_timer(T0 + 60)
    assert smsc.state is State.OPEN
    smsc.handle_timer(T0 + 110)
    assert drain(smsc) == [ConnectionClosed("inactivity timeout")]
    with pytest.raises(LocalProtocolError):
        smsc.send_request(EnquireLink(), T0 + 111)


def test_closing_fails_every_request_in_flight() -> None:
    pair = ConnectionPair()
    pair.bind()
    requests = [SubmitSm(short_message=bytes([i])) for i in range(3)]
    for request in requests:
        pair.esme.send_request(request, T0)
    pair.esme.receive_data(b"", T0)  # EOF
    assert drain(pair.esme) == [
        *(RequestFailed(r, "closed") for r in requests),
        ConnectionClosed("connection closed by peer"),
    ]


# ------------------------------------------------------------------------------------- unbind drains


def test_local_unbind_waits_for_in_flight_requests_then_closes_both_sides() -> None:
    pair = ConnectionPair()
    pair.bind()
    pair.esme.send_request(SubmitSm(short_message=b"a"), T0)
    pair.esme.send_request(SubmitSm(short_message=b"b"), T0)
    received = [e.pdu for e in pair.send(pair.esme)]  # type: ignore[union-attr]
    pair.esme.unbind(T0)
    assert pair.esme.data_to_send() == b""  # the unbind waits for the two answers
    with pytest.raises(LocalProtocolError):
        pair.esme.send_request(SubmitSm(), T0)
    pair.smsc.send_response(received[0], 0, message_id="1")
    assert [type(e) for e in pair.send(pair.smsc)] == [ResponseReceived]
    pair.smsc.send_response(received[1], 0, message_id="2")
    assert [type(e) for e in pair.send(pair.smsc)] == [ResponseReceived, Unbound]
    assert pair.esme.state is State.UNBOUND
    assert pair.send(pair.esme) == [Unbound(by_peer=True), ConnectionClosed("unbound")]
    assert pair.send(pair.smsc) == [ConnectionClosed("unbound")]


def test_peer_unbind_is_answered_only_after_the_application_answers_what_it_received() -> None:
    smsc = session_in(Role.SMSC, State.BOUND_TRX)
    events = feed(smsc, SubmitSm(7, short_message=b"a"), SubmitSm(8, short_message=b"b"), Unbind(9))
    assert [type(e) for e in events] == [RequestReceived, RequestReceived, Unbound]
    assert written(smsc) == []
    assert feed(smsc, SubmitSm(10)) == []  # no new requests once unbound
    assert written(smsc) == [SubmitSmResp(10, S.ESME_RINVBNDSTS)]
    smsc.send_response(events[1].pdu, 0, message_id="b")  # type: ignore[union-attr]
    smsc.send_response(events[0].pdu, 0, message_id="a")  # type: ignore[union-attr]
    assert written(smsc) == [SubmitSmResp(8, message_id="b"), SubmitSmResp(7, message_id="a"), UnbindResp(9)]
    assert drain(smsc) == [ConnectionClosed("unbound")]


# ------------------------------------------------------------------------------------ bad input


def test_bad_command_length_gets_generic_nack_and_the_session_stays_up() -> None:
    smsc = session_in(Role.SMSC, State.BOUND_TX)
    events = feed(smsc, b"\x00\x00\x00\x05\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x11")
    assert [type(e) for e in events] == [ProtocolViolation]
    assert written(smsc) == [GenericNack(0x11, S.ESME_RINVCMDLEN)]
    (event,) = feed(smsc, SubmitSm(12, short_message=b"ok"))
    assert isinstance(event, RequestReceived)


def test_unknown_command_id_gets_generic_nack_and_the_session_stays_up() -> None:
    smsc = session_in(Role.SMSC, State.BOUND_TX)
    frame = (16).to_bytes(4, "big") + (0x00000099).to_bytes(4, "big") + bytes(4) + (5).to_bytes(4, "big")
    assert [type(e) for e in feed(smsc, frame, SubmitSm(6))] == [ProtocolViolation, RequestReceived]
    assert written(smsc) == [GenericNack(5, S.ESME_RINVCMDID)]


def test_a_body_that_does_not_decode_gets_its_own_response_with_the_error_status() -> None:
    smsc = session_in(Role.SMSC, State.BOUND_TX)
    good = encode(SubmitSm(8, source_addr="ACME", short_message=b"x"))
    bad = bytearray(good)
    bad[17:22] = b"A" * 5  # service_type and source_addr run together: source_addr unterminated in 21
    bad_frame = bytes(bad[:16]) + b"\0" + b"\x01\x01" + b"9" * 30 + b"\0" + bytes(20)
    bad_frame = len(bad_frame).to_bytes(4, "big") + bad_frame[4:]
    events = feed(smsc, bad_frame, SubmitSm(9))
    assert [type(e) for e in events] == [ProtocolViolation, RequestReceived]
    (answer,) = written(smsc)
    assert type(answer) is SubmitSmResp and answer.sequence_number == 8
    assert answer.command_status == S.ESME_RINVSRCADR


def test_vendor_and_unknown_command_status_pass_through_as_ints() -> None:
    pair = ConnectionPair()
    pair.bind()
    for status in (0x400, 0x4FF, 0x12345):
        request = SubmitSm(short_message=b"v")
        pair.esme.send_request(request, T0)
        (received,) = pair.send(pair.esme)
        pair.smsc.send_response(received.pdu, status)  # type: ignore[union-attr]
        (event,) = pair.send(pair.smsc)
        assert isinstance(event, ResponseReceived) and event.response.command_status == status
    sequence = pair.esme.send_request(SubmitSm(), T0)
    (event,) = feed(pair.esme, GenericNack(sequence, 0x401))
    assert event == ResponseReceived(event.request, GenericNack(sequence, 0x401))  # type: ignore[union-attr]


def test_a_response_that_matches_nothing_is_reported_and_ignored() -> None:
    esme = session_in(Role.ESME, State.BOUND_TX)
    events = feed(esme, SubmitSmResp(555, message_id="x"), DeliverSmResp(556))
    assert [type(e) for e in events] == [ProtocolViolation, ProtocolViolation]
    assert esme.data_to_send() == b""
    assert esme.is_bound


def test_sequence_numbers_wrap_from_0x7fffffff_to_1() -> None:
    esme = session_in(Role.ESME, State.BOUND_TX)
    esme._next_sequence = MAX_SEQUENCE
    assert esme.send_request(SubmitSm(), T0) == MAX_SEQUENCE
    assert esme.send_request(SubmitSm(), T0) == 1


def test_events_are_the_same_whether_bytes_arrive_whole_or_one_at_a_time() -> None:
    stream = b"".join(encode(SubmitSm(i, short_message=b"m%d" % i)) for i in range(2, 7))
    whole, trickle = session_in(Role.SMSC, State.BOUND_TX), session_in(Role.SMSC, State.BOUND_TX)
    expected = feed(whole, stream)
    got: list[Event] = []
    for i in range(len(stream)):
        got += feed(trickle, stream[i : i + 1])
    assert got == expected and len(got) == 5


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_session_framing_splits_and_rejects_exactly_like_the_codec_reader(chunks: list[bytes]) -> None:
    reader = PduReader()
    session = new_session(Role.SMSC)

    def outcomes(next_pdu: object) -> list[object]:
        out: list[object] = []
        for _ in range(100):
            try:
                pdu = next_pdu()  # type: ignore[operator]
            except RemoteProtocolError as exc:
                out.append((type(exc), exc.status, exc.sequence_number, exc.framing_lost))
                continue
            if pdu is None:
                break
            out.append(pdu)
        return out

    for chunk in [*chunks, encode(EnquireLink(3))]:
        reader.feed(chunk)
        if chunk:  # b"" means end of stream to a session
            session.receive_data(chunk, T0)
        assert outcomes(session._next_pdu) == outcomes(reader.next_pdu)
