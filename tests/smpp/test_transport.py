"""Our SMPP client against our SMPP server over real loopback sockets (port 0), default asyncio loop."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from smpp.client import ClientState, SmppClient
from smpp.codec import PduReader, encode
from smpp.connection import RequestFailedError, SmppConnection
from smpp.constants import CommandStatus as S
from smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    BindTransmitterResp,
    DeliverSm,
    GenericNack,
    Pdu,
    SubmitSm,
    SubmitSmResp,
)
from smpp.server import SmppServer, start_server
from smpp.session_table import State

WAIT = 10.0  # upper bound for any awaited event; never a fixed sleep


class Intake:
    """A test SmscHandler: binds with password "secret", answers at once or queues for the test."""

    def __init__(self, *, answer_at_once: bool = True, refuse_first: int = 0) -> None:
        self.answer_at_once = answer_at_once
        self.refuse_first = refuse_first
        self.bind_attempts = 0
        self.requests: asyncio.Queue[tuple[SmppConnection, Pdu]] = asyncio.Queue()
        self.bound: asyncio.Queue[SmppConnection] = asyncio.Queue()
        self.closed: asyncio.Queue[str] = asyncio.Queue()
        self.issued = 0

    async def authenticate(
        self, conn: SmppConnection, bind: BindTransmitter | BindReceiver | BindTransceiver
    ) -> tuple[int, str]:
        self.bind_attempts += 1
        if self.bind_attempts <= self.refuse_first or bind.password != "secret":
            return S.ESME_RINVPASWD, ""
        return S.ESME_ROK, "smsengine"

    def on_bound(self, conn: SmppConnection) -> None:
        self.bound.put_nowait(conn)

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        if self.answer_at_once:
            self.issued += 1
            conn.respond(pdu, 0, message_id=f"msg-{self.issued}")
        else:
            self.requests.put_nowait((conn, pdu))

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        self.closed.put_nowait(reason)


class Receipts:
    """A test EsmeHandler: stores every deliver_sm, answers ROK."""

    def __init__(self) -> None:
        self.delivered: asyncio.Queue[Pdu] = asyncio.Queue()

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        self.delivered.put_nowait(pdu)
        conn.respond(pdu, 0)

    def on_bound(self, conn: SmppConnection) -> None:
        pass

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        pass


@pytest.fixture
async def intake() -> Intake:
    return Intake()


@pytest.fixture
async def server(intake: Intake) -> AsyncIterator[SmppServer]:
    server = await start_server(intake, "127.0.0.1", 0, window=10, max_pending=100)
    yield server
    await server.close(unbind_timeout=2)


def client_for(server: SmppServer, **options: Any) -> SmppClient:
    options.setdefault("system_id", "acme")
    options.setdefault("password", "secret")
    options.setdefault("reconnect_delay", 0.01)
    return SmppClient("127.0.0.1", server.port, **options)


async def test_client_binds_submits_gets_the_message_id_and_receives_a_deliver_sm(
    server: SmppServer, intake: Intake
) -> None:
    receipts = Receipts()
    async with asyncio.timeout(WAIT), client_for(server, handler=receipts) as client:
        conn = await client.wait_bound()
        assert conn.state is State.BOUND_TRX and conn.system_id == "smsengine"
        response = await client.request(SubmitSm(destination_addr="447700900123", short_message=b"hi"))
        assert response.command_status == 0 and response.message_id == "msg-1"  # type: ignore[attr-defined]
        server_side = await intake.bound.get()
        assert server_side.system_id == "acme"
        answer = await server_side.request(DeliverSm(source_addr="447700900123", short_message=b"reply"))
        assert answer.command_status == 0
        delivered = await receipts.delivered.get()
        assert delivered.short_message == b"reply"  # type: ignore[attr-defined]


async def test_answers_given_later_and_out_of_order_reach_the_right_caller(server: SmppServer) -> None:
    intake: Intake = server.handler  # type: ignore[assignment]
    intake.answer_at_once = False
    async with asyncio.timeout(WAIT), client_for(server, window=5) as client:
        await client.wait_bound()
        texts = [b"one", b"two", b"three"]
        calls = [asyncio.create_task(client.request(SubmitSm(short_message=t))) for t in texts]
        held = [await intake.requests.get() for _ in texts]
        for conn, pdu in reversed(held):
            conn.respond(pdu, 0, message_id="id-" + pdu.short_message.decode())  # type: ignore[attr-defined]
        ids = [r.message_id for r in await asyncio.gather(*calls)]  # type: ignore[attr-defined]
        assert ids == ["id-one", "id-two", "id-three"]


async def test_a_full_window_makes_callers_wait_for_a_slot(server: SmppServer, intake: Intake) -> None:
    intake.answer_at_once = False
    async with asyncio.timeout(WAIT), client_for(server, window=2) as client:
        conn = await client.wait_bound()
        calls = [asyncio.create_task(client.request(SubmitSm(short_message=bytes([i])))) for i in range(5)]
        first = [await intake.requests.get() for _ in range(2)]
        assert conn.session.in_flight == 2 and intake.requests.empty()
        for i, (server_conn, pdu) in enumerate(first):
            server_conn.respond(pdu, 0, message_id=str(i))
        for i in range(2, 5):
            server_conn, pdu = await intake.requests.get()
            server_conn.respond(pdu, 0, message_id=str(i))
        assert [r.message_id for r in await asyncio.gather(*calls)] == ["0", "1", "2", "3", "4"]  # type: ignore[attr-defined]


async def test_the_server_stops_reading_beyond_max_pending_unanswered_requests() -> None:
    intake = Intake(answer_at_once=False)
    server = await start_server(intake, "127.0.0.1", 0, max_pending=3)
    try:
        async with asyncio.timeout(WAIT), client_for(server, window=10) as client:
            await client.wait_bound()
            calls = [
                asyncio.create_task(client.request(SubmitSm(short_message=bytes([i])))) for i in range(10)
            ]
            held = [await intake.requests.get() for _ in range(3)]
            server_conn = held[0][0]
            # the third request filled max_pending: the same callback paused the socket before returning
            assert server_conn._reading_paused
            assert intake.requests.empty() and server_conn.session.awaiting_answer == 3
            answered = 0
            while answered < 10:
                conn, pdu = held.pop(0) if held else await intake.requests.get()
                assert conn.session.awaiting_answer <= 3
                conn.respond(pdu, 0, message_id=str(pdu.short_message[0]))  # type: ignore[attr-defined]
                answered += 1
            assert [r.message_id for r in await asyncio.gather(*calls)] == [str(i) for i in range(10)]  # type: ignore[attr-defined]
            assert not server_conn._reading_paused
    finally:
        await server.close()


async def test_client_rebinds_by_itself_after_the_connection_drops(
    server: SmppServer, intake: Intake
) -> None:
    states: asyncio.Queue[ClientState] = asyncio.Queue()
    async with asyncio.timeout(WAIT), client_for(server, on_state_change=states.put_nowait) as client:
        first = await client.wait_bound()
        server_side = await intake.bound.get()
        server_side.close("test cuts the line")
        seen = []
        while len(seen) < 5 or seen[-1] is not ClientState.BOUND:
            seen.append(await states.get())
        assert seen == [
            ClientState.CONNECTING,
            ClientState.BINDING,
            ClientState.BOUND,
            ClientState.DISCONNECTED,
            ClientState.CONNECTING,
            ClientState.BINDING,
            ClientState.BOUND,
        ]
        second = await client.wait_bound()
        assert second is not first
        response = await client.request(SubmitSm(short_message=b"after"))
        assert response.command_status == 0


async def test_a_refused_bind_is_retried_with_backoff_until_it_succeeds() -> None:
    intake = Intake(refuse_first=2)
    server = await start_server(intake, "127.0.0.1", 0)
    try:
        async with asyncio.timeout(WAIT), client_for(server) as client:
            await client.wait_bound()
            assert intake.bind_attempts == 3
            assert client.last_bind_status == S.ESME_RINVPASWD
    finally:
        await server.close()


async def test_a_request_nobody_answers_fails_with_timeout(server: SmppServer, intake: Intake) -> None:
    intake.answer_at_once = False
    async with asyncio.timeout(WAIT), client_for(server, response_timeout=0.2) as client:
        await client.wait_bound()
        with pytest.raises(RequestFailedError) as failure:
            await client.request(SubmitSm(short_message=b"void"))
        assert failure.value.reason == "timeout"
        assert client.state is ClientState.BOUND


async def test_client_close_unbinds_after_its_in_flight_request_is_answered(
    server: SmppServer, intake: Intake
) -> None:
    intake.answer_at_once = False
    async with asyncio.timeout(WAIT):
        client = client_for(server)
        client.start()
        await client.wait_bound()
        call = asyncio.create_task(client.request(SubmitSm(short_message=b"last")))
        server_conn, pdu = await intake.requests.get()
        closing = asyncio.create_task(client.close())
        server_conn.respond(pdu, 0, message_id="kept")
        assert (await call).message_id == "kept"  # type: ignore[attr-defined]
        await closing
        assert client.state is ClientState.CLOSED
        assert await intake.closed.get() == "unbound"


async def test_server_close_drains_requests_the_application_still_owes(
    server: SmppServer, intake: Intake
) -> None:
    intake.answer_at_once = False
    async with asyncio.timeout(WAIT), client_for(server) as client:
        await client.wait_bound()
        call = asyncio.create_task(client.request(SubmitSm(short_message=b"owed")))
        server_conn, pdu = await intake.requests.get()
        closing = asyncio.create_task(server.close())
        await asyncio.sleep(0)
        server_conn.respond(pdu, 0, message_id="owed-id")
        assert (await call).message_id == "owed-id"  # type: ignore[attr-defined]
        await closing


async def test_every_socket_has_tcp_nodelay(server: SmppServer, intake: Intake) -> None:
    async with asyncio.timeout(WAIT), client_for(server) as client:
        conn = await client.wait_bound()
        server_conn = await intake.bound.get()
        for side in (conn, server_conn):
            sock = side._transport.get_extra_info("socket")  # type: ignore[union-attr]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


# ----------------------------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a self-signed certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


async def test_bind_and_submit_over_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    intake = Intake()
    server = await start_server(intake, "127.0.0.1", 0, ssl=server_context)
    try:
        async with (
            asyncio.timeout(WAIT),
            client_for(server, ssl=client_context, server_hostname="localhost") as client,
        ):
            conn = await client.wait_bound()
            assert conn._transport.get_extra_info("ssl_object") is not None  # type: ignore[union-attr]
            response = await client.request(SubmitSm(short_message=b"secret"))
            assert response.message_id == "msg-1"  # type: ignore[attr-defined]
    finally:
        await server.close()


async def test_a_client_that_does_not_trust_the_certificate_never_binds(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server = await start_server(Intake(), "127.0.0.1", 0, ssl=server_context)
    states: list[ClientState] = []
    failed = asyncio.Event()

    def record(state: ClientState) -> None:
        states.append(state)
        if states.count(ClientState.DISCONNECTED) >= 2:
            failed.set()

    try:
        client = client_for(server, ssl=ssl.create_default_context(), server_hostname="localhost",
                            on_state_change=record)  # fmt: skip
        async with asyncio.timeout(WAIT), client:
            await failed.wait()
        assert ClientState.BOUND not in states
    finally:
        await server.close()


async def test_garbage_on_the_wire_is_answered_and_the_connection_stays_up(server: SmppServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    pdus = PduReader()

    async def read(count: int) -> list[Pdu]:
        answers: list[Pdu] = []
        while len(answers) < count:
            pdus.feed(await reader.read(4096))
            while (pdu := pdus.next_pdu()) is not None:
                answers.append(pdu)
        return answers

    try:
        async with asyncio.timeout(WAIT):
            writer.write(encode(BindTransmitter(1, system_id="acme", password="secret")))
            assert await read(1) == [BindTransmitterResp(1, system_id="smsengine", tlvs={0x0210: 0x34})]
            unknown = (16).to_bytes(4, "big") + (0x99).to_bytes(4, "big") + bytes(4) + (7).to_bytes(4, "big")
            short = (5).to_bytes(4, "big") + bytes(12)
            writer.write(unknown + encode(SubmitSm(8, short_message=b"still here")) + short)
            assert await read(3) == [
                GenericNack(7, S.ESME_RINVCMDID),
                SubmitSmResp(8, message_id="msg-1"),
                GenericNack(0, S.ESME_RINVCMDLEN),
            ]
            writer.write(encode(SubmitSm(9, short_message=b"and still")))
            assert await read(1) == [SubmitSmResp(9, message_id="msg-2")]
    finally:
        writer.close()
        await writer.wait_closed()
