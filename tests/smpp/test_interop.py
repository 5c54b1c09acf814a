"""Independent ESMEs (aiosmpplib, smpplib) bind to our SMPP server over loopback, submit, read the
message id we issued, and receive a deliver_sm we send: what a customer's software would notice."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiosmpplib
import pytest
import smpplib.client
import smpplib.consts
from aiosmpplib import BindMode, PhoneNumber
from aiosmpplib.hook import AbstractHook

from smpp.constants import EsmClass
from smpp.pdu import DeliverSm
from smpp.server import SmppServer, start_server
from smpp.session_table import State
from tests.smpp.test_transport import Intake

WAIT = 15.0


@pytest.fixture
async def intake() -> Intake:
    return Intake()


@pytest.fixture
async def server(intake: Intake) -> AsyncIterator[SmppServer]:
    server = await start_server(intake, "127.0.0.1", 0, enquire_link_interval=None)
    yield server
    await server.close(unbind_timeout=2)


# ------------------------------------------------------------------------------------------ aiosmpplib


class RecordingHook(AbstractHook):
    """aiosmpplib tells its hook about every PDU it reads; the test awaits them from a queue."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[Any] = asyncio.Queue()
        self.errors: list[Exception] = []

    async def sending(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        pass

    async def received(self, smpp_message: Any, pdu: bytes, client_id: str) -> None:
        if smpp_message is not None:
            self.messages.put_nowait(smpp_message)

    async def send_error(self, smpp_message: Any, error: Exception, client_id: str) -> None:
        self.errors.append(error)

    async def next(self, kind: type) -> Any:
        while True:
            message = await self.messages.get()
            if isinstance(message, kind):
                return message


@pytest.mark.parametrize(
    ("mode", "state"),
    [
        (BindMode.TRANSMITTER, State.BOUND_TX),
        (BindMode.RECEIVER, State.BOUND_RX),
        (BindMode.TRANSCEIVER, State.BOUND_TRX),
    ],
)
async def test_aiosmpplib_binds_submits_and_receives_a_deliver_sm(
    server: SmppServer, intake: Intake, mode: BindMode, state: State
) -> None:
    hook = RecordingHook()
    esme = aiosmpplib.ESME(
        smsc_host="127.0.0.1",
        smsc_port=server.port,
        system_id="acme",
        password="secret",
        bind_mode=mode,
        hook=hook,
        log_level="WARNING",
        socket_timeout=5.0,
    )
    runner = asyncio.create_task(esme.start())
    try:
        async with asyncio.timeout(WAIT):
            conn = await intake.bound.get()
            assert conn.state is state and conn.system_id == "acme"
            await hook.next(aiosmpplib.BindTransceiverResp)
            if state is not State.BOUND_RX:
                await esme.broker.enqueue(
                    aiosmpplib.SubmitSm(
                        short_message="Hello from aiosmpplib",
                        source=PhoneNumber("ACME"),
                        destination=PhoneNumber("447700900123"),
                        log_id="order-1",
                    )
                )
                response = await hook.next(aiosmpplib.SubmitSmResp)
                assert response.message_id == "msg-1" and response.log_id == "order-1"
            if state is not State.BOUND_TX:
                answer = await conn.request(
                    DeliverSm(source_addr="447700900123", destination_addr="ACME", short_message=b"Hi back")
                )
                assert answer.command_status == 0
                delivered = await hook.next(aiosmpplib.DeliverSm)
                assert delivered.short_message == "Hi back"
    finally:
        writer = esme._writer
        await esme.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        if writer is not None:  # aiosmpplib writes EOF and drops its StreamWriter without closing it
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    assert hook.errors == []


# --------------------------------------------------------------------------------------------- smpplib


def run_smpplib(
    port: int, bind: str, delivered_ready: threading.Event, deliver_sent: threading.Event
) -> dict[str, Any]:
    """A synchronous smpplib ESME (in a worker thread): bind, submit, read the id, read a deliver_sm."""
    seen: dict[str, Any] = {}
    client = smpplib.client.Client("127.0.0.1", port, timeout=WAIT, allow_unknown_opt_params=True)
    client.set_message_sent_handler(lambda pdu: seen.__setitem__("message_id", pdu.message_id))
    client.set_message_received_handler(lambda pdu: seen.__setitem__("delivered", pdu.short_message))
    client.connect()
    try:
        getattr(client, f"bind_{bind}")(system_id="acme", password="secret")
        if bind != "receiver":
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                source_addr="ACME",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                destination_addr="447700900123",
                short_message=b"Hello from smpplib",
            )
            while "message_id" not in seen:
                client.read_once(auto_send_enquire_link=False)
        delivered_ready.set()
        if bind != "transmitter":
            deliver_sent.wait(WAIT)
            while "delivered" not in seen:
                client.read_once(auto_send_enquire_link=False)
        client.unbind()
    finally:
        client.disconnect()
    return seen


@pytest.mark.parametrize("bind", ["transmitter", "receiver", "transceiver"])
async def test_smpplib_binds_submits_and_receives_a_deliver_sm(
    server: SmppServer, intake: Intake, bind: str
) -> None:
    ready, sent = threading.Event(), threading.Event()
    worker = asyncio.create_task(asyncio.to_thread(run_smpplib, server.port, bind, ready, sent))
    async with asyncio.timeout(WAIT):
        conn = await intake.bound.get()
        assert conn.system_id == "acme"
        if bind != "transmitter":
            await asyncio.to_thread(ready.wait, WAIT)
            receipt = DeliverSm(
                source_addr="447700900123",
                destination_addr="ACME",
                esm_class=EsmClass.DELIVERY_RECEIPT,
                short_message=b"id:msg-1 sub:001 dlvrd:001 submit date:2611230800 "
                b"done date:2611230801 stat:DELIVRD err:000 text:Hello",
            )
            sent.set()
            assert (await conn.request(receipt)).command_status == 0
        seen = await worker
        assert await intake.closed.get() == "unbound"
    if bind != "receiver":
        assert seen["message_id"] == b"msg-1"
    if bind != "transmitter":
        assert seen["delivered"].startswith(b"id:msg-1 ")
