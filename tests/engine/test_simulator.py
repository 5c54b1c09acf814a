"""The carrier simulator over real loopback sockets (port 0), driven by our SmppClient and by smpplib."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import msgspec
import pytest
import smpplib.client
import smpplib.consts

from engine.simulation.carrier import CarrierSimulator
from engine.simulation.cli import add_simulator_parser, config_from_args
from engine.simulation.config import SimulatorConfig, format_carrier_id, parse_outcomes, parse_range_ms
from engine.simulation.receipts import ReceiptFactory
from smpp.client import NotBound, SmppClient
from smpp.connection import RequestFailedError, SmppConnection
from smpp.constants import CommandStatus as S
from smpp.constants import MessageState, Tag
from smpp.pdu import DeliverSm, NetworkErrorCode, Pdu, SubmitSm, SubmitSmResp
from smpp.receipt import format_receipt, parse_receipt
from smpp.text import InboundPart, MultipartReassembler, decode_short_message

WAIT = 10.0  # upper bound for any awaited event; never a fixed sleep


class Customer:
    """An EsmeHandler standing in for our engine: records every deliver_sm with the bind it came on.
    `answer` decides the deliver_sm_resp status; None holds the deliver_sm unanswered."""

    def __init__(self, name: str = "", log: list[tuple[str, str]] | None = None) -> None:
        self.name = name
        self.log = log if log is not None else []
        self.answer: Callable[[DeliverSm], int | None] = lambda pdu: 0
        self.delivered: asyncio.Queue[DeliverSm] = asyncio.Queue()
        self.held: list[tuple[SmppConnection, DeliverSm]] = []

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        assert isinstance(pdu, DeliverSm)
        self.log.append((self.name, "deliver_sm"))
        self.delivered.put_nowait(pdu)
        status = self.answer(pdu)
        if status is None:
            self.held.append((conn, pdu))
        else:
            conn.respond(pdu, status)

    def on_bound(self, conn: SmppConnection) -> None:
        pass

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        pass


@pytest.fixture
async def make_sim() -> AsyncIterator[Callable[..., Any]]:
    started: list[CarrierSimulator] = []

    async def make(**options: Any) -> CarrierSimulator:
        options.setdefault("first_id", 0xAF12)
        options.setdefault("redelivery_delay_ms", 20)
        sim = CarrierSimulator(SimulatorConfig(**options))
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.stop()


def client(sim: CarrierSimulator, customer: Customer | None = None, **options: Any) -> SmppClient:
    options.setdefault("system_id", "acme")
    options.setdefault("password", "secret")
    options.setdefault("reconnect_delay", 0.01)
    options.setdefault("max_reconnect_delay", 0.05)
    return SmppClient("127.0.0.1", sim.port, handler=customer or Customer(), **options)


def submit(text: bytes = b"Your code is 123456", registered_delivery: int = 1) -> SubmitSm:
    return SubmitSm(
        source_addr="ACME",
        source_addr_ton=5,
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="447700900123",
        registered_delivery=registered_delivery,
        short_message=text,
    )


async def send(c: SmppClient, pdu: SubmitSm) -> SubmitSmResp:
    response = await c.request(pdu)
    assert isinstance(response, SubmitSmResp)
    return response


# ---------------------------------------------------------------------------------------------- receipts


async def test_receipt_carries_the_hex_id_in_tlvs_and_text_with_the_drawn_state(make_sim: Any) -> None:
    sim = await make_sim(outcomes={"UNDELIV": 1}, receipt_delay_ms=5)
    customer = Customer()
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        response = await send(c, submit(b"Hello \x00 world, a long text"))
        assert response.command_status == 0 and response.message_id == "000000000000AF12"
        receipt = await customer.delivered.get()
        await sim.wait_receipts_acked(1)
    assert receipt.esm_class == 0x04
    assert (receipt.source_addr, receipt.destination_addr) == ("447700900123", "ACME")
    assert (receipt.source_addr_ton, receipt.dest_addr_ton) == (1, 5)
    assert receipt.tlvs[Tag.RECEIPTED_MESSAGE_ID] == "000000000000AF12"
    assert receipt.tlvs[Tag.MESSAGE_STATE] == MessageState.UNDELIVERABLE
    assert receipt.tlvs[Tag.NETWORK_ERROR_CODE] == NetworkErrorCode(3, 1)
    parsed = parse_receipt(receipt.short_message)
    assert parsed is not None and parsed.message_id == "000000000000AF12"
    assert parsed.stat == "UNDELIV" and parsed.state is MessageState.UNDELIVERABLE and parsed.err == "001"
    assert parsed.submitted == 1 and parsed.delivered == 0 and parsed.text == "Hello ? world, a lon"
    assert sim.received["000000000000AF12"].short_message.startswith(b"Hello")
    assert (sim.submits, sim.accepted, sim.receipts_sent, sim.receipts_pending) == (1, 1, 1, 0)


@pytest.mark.parametrize(
    ("id_format", "expected"),
    [("hex", "000000000000AF12"), ("dec", "44818"), ("uuid", "00000000-0000-0000-0000-00000000af12")],
)
async def test_ids_are_written_in_the_configured_format(make_sim: Any, id_format: str, expected: str) -> None:
    sim = await make_sim(id_format=id_format)
    customer = Customer()
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        assert (await send(c, submit())).message_id == expected
        receipt = await customer.delivered.get()
    assert receipt.tlvs[Tag.RECEIPTED_MESSAGE_ID] == expected
    parsed = parse_receipt(receipt.short_message)
    assert parsed is not None and parsed.message_id == expected and parsed.stat == "DELIVRD"


async def test_hex_response_and_decimal_text_only_receipt_is_the_classic_mismatch(make_sim: Any) -> None:
    sim = await make_sim(id_format="hex", dlr_id_format="dec", receipts_in="text", hex_id_width=6)
    customer = Customer()
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        ids = [(await send(c, submit())).message_id for _ in range(3)]
        receipts = [await customer.delivered.get() for _ in range(3)]
    assert ids == ["00AF12", "00AF13", "00AF14"]
    assert all(receipt.tlvs == {} for receipt in receipts)
    texts = [parse_receipt(receipt.short_message) for receipt in receipts]
    assert [t.message_id for t in texts if t is not None] == ["44818", "44819", "44820"]
    assert [int(i, 16) for i in ids] == [44818, 44819, 44820]


async def test_receipts_only_when_registered_delivery_asks(make_sim: Any) -> None:
    sim = await make_sim(outcomes={"DELIVRD": 1})
    customer = Customer()
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        quiet = [await send(c, submit(registered_delivery=rd)) for rd in (0, 2, 0x10)]
        asked = await send(c, submit(registered_delivery=1))
        receipt = await customer.delivered.get()
        await sim.wait_receipts_acked(1)
    assert receipt.tlvs[Tag.RECEIPTED_MESSAGE_ID] == asked.message_id
    assert customer.delivered.empty() and sim.receipts_sent == 1 and sim.receipts_pending == 0
    assert {r.message_id for r in quiet} <= set(sim.received)


async def test_failure_only_receipts_come_for_failures(make_sim: Any) -> None:
    sim = await make_sim(outcomes={"EXPIRED": 1})
    customer = Customer()
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        response = await send(c, submit(registered_delivery=2))
        receipt = await customer.delivered.get()
    assert receipt.tlvs[Tag.RECEIPTED_MESSAGE_ID] == response.message_id
    assert receipt.tlvs[Tag.MESSAGE_STATE] == MessageState.EXPIRED


async def test_outcome_mix_follows_the_weights_deterministically(make_sim: Any) -> None:
    async def run() -> dict[str, int]:
        sim = await make_sim(outcomes={"DELIVRD": 70, "UNDELIV": 20, "EXPIRED": 10}, seed=3)
        customer = Customer()
        async with asyncio.timeout(WAIT), client(sim, customer, window=50) as c:
            await c.wait_bound()
            await asyncio.gather(*(send(c, submit()) for _ in range(500)))
            await sim.wait_receipts_acked(500)
        counts: dict[str, int] = {}
        while not customer.delivered.empty():
            parsed = parse_receipt((await customer.delivered.get()).short_message)
            assert parsed is not None and parsed.stat is not None
            counts[parsed.stat] = counts.get(parsed.stat, 0) + 1
        return counts

    first, second = await run(), await run()
    assert first == second
    assert 300 < first["DELIVRD"] < 400 and 60 < first["UNDELIV"] < 140 and 20 < first["EXPIRED"] < 80


async def test_receipt_before_resp_reaches_the_customer_first(make_sim: Any) -> None:
    sim = await make_sim(receipt_before_resp=True, latency_ms=2)
    log: list[tuple[str, str]] = []
    customer = Customer("trx", log)
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        for _ in range(3):
            response = await send(c, submit())
            log.append(("trx", "submit_sm_resp"))
            receipt = customer.delivered.get_nowait()  # already there when the response came
            assert receipt.tlvs[Tag.RECEIPTED_MESSAGE_ID] == response.message_id
    assert log == [("trx", "deliver_sm"), ("trx", "submit_sm_resp")] * 3


async def test_receipt_before_resp_on_a_transmitter_goes_to_the_receiver_first(make_sim: Any) -> None:
    sim = await make_sim(receipt_before_resp=True)
    log: list[tuple[str, str]] = []
    receiver = Customer("rx", log)
    async with (
        asyncio.timeout(WAIT),
        client(sim, Customer("tx", log), bind_type="transmitter") as tx,
        client(sim, receiver, bind_type="receiver") as rx,
    ):
        await tx.wait_bound()
        await rx.wait_bound()
        await sim.wait_bound(2)
        response = await send(tx, submit())
        log.append(("tx", "submit_sm_resp"))
        assert (await receiver.delivered.get()).tlvs[Tag.RECEIPTED_MESSAGE_ID] == response.message_id
    assert log == [("rx", "deliver_sm"), ("tx", "submit_sm_resp")]


async def test_receipts_on_other_go_to_the_other_bind_of_the_same_system_id(make_sim: Any) -> None:
    sim = await make_sim(receipts_on="other")
    first, second, stranger = Customer("first"), Customer("second"), Customer("stranger")
    async with (
        asyncio.timeout(WAIT),
        client(sim, first) as one,
        client(sim, second) as two,
        client(sim, stranger, system_id="other-co") as three,
    ):
        for c in (one, two, three):
            await c.wait_bound()
        await sim.wait_bound(3)
        from_one = [(await send(one, submit())).message_id for _ in range(3)]
        from_two = [(await send(two, submit())).message_id for _ in range(2)]
        await sim.wait_receipts_acked(5)
    on_second = [second.delivered.get_nowait().tlvs[Tag.RECEIPTED_MESSAGE_ID] for _ in range(3)]
    on_first = [first.delivered.get_nowait().tlvs[Tag.RECEIPTED_MESSAGE_ID] for _ in range(2)]
    assert on_second == from_one and on_first == from_two
    assert second.delivered.empty() and first.delivered.empty() and stranger.delivered.empty()


async def test_receipts_on_same_stay_on_the_submitting_transceiver(make_sim: Any) -> None:
    sim = await make_sim(receipts_on="same")
    first, second = Customer("first"), Customer("second")
    async with asyncio.timeout(WAIT), client(sim, first) as one, client(sim, second) as two:
        await one.wait_bound()
        await two.wait_bound()
        await sim.wait_bound(2)
        ids = [(await send(one, submit())).message_id for _ in range(3)]
        await sim.wait_receipts_acked(3)
    assert [first.delivered.get_nowait().tlvs[Tag.RECEIPTED_MESSAGE_ID] for _ in range(3)] == ids
    assert second.delivered.empty()


# ---------------------------------------------------------------------------- throttling, rejects, binds


async def test_throttle_rate_holds_and_throttled_submits_leave_no_trace(make_sim: Any) -> None:
    async def run() -> tuple[int, list[int]]:
        sim = await make_sim(throttle_rate=0.2, seed=11)
        async with asyncio.timeout(WAIT), client(sim, window=100) as c:
            await c.wait_bound()
            responses = [await send(c, submit()) for _ in range(1000)]
            await sim.wait_receipts_acked(sim.accepted)
        statuses = [r.command_status for r in responses]
        assert statuses.count(S.ESME_RTHROTTLED) == sim.throttled
        assert set(statuses) == {0, S.ESME_RTHROTTLED}
        assert len(sim.received) == sim.accepted == 1000 - sim.throttled == sim.receipts_acked
        return sim.throttled, statuses

    first, second = await run(), await run()
    assert first == second  # same seed, same traffic: the same submit_sm are throttled
    assert 160 <= first[0] <= 240


async def test_reject_rate_answers_the_chosen_status(make_sim: Any) -> None:
    sim = await make_sim(reject_rate=1.0, reject_status=S.ESME_RINVDSTADR)
    customer = Customer()
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        response = await send(c, submit())
    assert response.command_status == S.ESME_RINVDSTADR and response.message_id == ""
    assert sim.rejected == 1 and sim.received == {} and customer.delivered.empty()


async def test_binds_with_the_wrong_credentials_are_refused(make_sim: Any) -> None:
    sim = await make_sim(system_id="acme", password="secret")
    refused = asyncio.Event()
    states: list[Any] = []

    def watch(state: Any) -> None:
        states.append(state)
        if len(states) >= 4:  # connecting, binding, disconnected, connecting ...
            refused.set()

    async with asyncio.timeout(WAIT), client(sim, password="wrong", on_state_change=watch) as bad:
        await refused.wait()
        assert bad.last_bind_status == S.ESME_RINVPASWD
    async with asyncio.timeout(WAIT), client(sim) as good:
        await good.wait_bound()
    assert sim.binds == 1


async def test_latency_delays_the_response(make_sim: Any) -> None:
    sim = await make_sim(latency_ms=30, latency_max_ms=40)
    async with asyncio.timeout(WAIT), client(sim) as c:
        await c.wait_bound()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await send(c, submit())
        assert loop.time() - started >= 0.029


# ------------------------------------------------------------------------------ disconnects, redelivery


async def test_a_refused_receipt_is_retried_until_acknowledged(make_sim: Any) -> None:
    sim = await make_sim()
    customer = Customer()
    answers = iter([S.ESME_RX_T_APPN, S.ESME_RSYSERR, 0])
    customer.answer = lambda pdu: next(answers)
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        response = await send(c, submit())
        await sim.wait_receipts_acked(1)
    seen = [customer.delivered.get_nowait().tlvs[Tag.RECEIPTED_MESSAGE_ID] for _ in range(3)]
    assert seen == [response.message_id] * 3
    assert (sim.receipts_sent, sim.receipt_retries, sim.receipts_acked, sim.receipts_pending) == (3, 2, 1, 0)


async def test_unacked_receipts_are_redelivered_after_the_client_rebinds(make_sim: Any) -> None:
    sim = await make_sim()
    customer = Customer()
    customer.answer = lambda pdu: None  # hold every receipt: the engine has not stored them yet
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        first = await c.wait_bound()
        ids = {(await send(c, submit())).message_id for _ in range(5)}
        while len(customer.held) < 5:
            await customer.delivered.get()
        assert sim.receipts_pending == 5
        customer.answer = lambda pdu: 0
        assert sim.disconnect_all() == 1
        await first.wait_closed()
        await sim.wait_receipts_acked(5)
    redelivered = set()
    while not customer.delivered.empty():
        tlv = customer.delivered.get_nowait().tlvs[Tag.RECEIPTED_MESSAGE_ID]
        assert isinstance(tlv, str)
        redelivered.add(tlv)
    assert redelivered == ids
    assert sim.receipt_retries == 5 and sim.receipts_pending == 0 and sim.disconnects == 1
    assert sim.binds == 2


async def test_disconnect_every_drops_binds_and_no_receipt_is_lost(make_sim: Any) -> None:
    sim = await make_sim(disconnect_every=7, receipt_delay_ms=1, receipt_delay_max_ms=20, seed=5)
    customer = Customer()
    ids: set[str] = set()
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        while len(ids) < 30:
            await c.wait_bound()
            try:
                response = await send(c, submit())
            except (RequestFailedError, NotBound):  # the bind dropped under the request
                continue
            ids.add(response.message_id)
        await sim.wait_for(lambda: sim.receipts_pending == 0)
    assert sim.disconnects >= 4 and sim.binds >= 5
    acked = set()
    while not customer.delivered.empty():
        acked.add(customer.delivered.get_nowait().tlvs[Tag.RECEIPTED_MESSAGE_ID])
    assert ids <= acked and sim.receipts_acked == sim.accepted


async def test_receipts_wait_for_a_receiver_to_bind(make_sim: Any) -> None:
    sim = await make_sim()
    receiver = Customer()
    async with asyncio.timeout(WAIT), client(sim, bind_type="transmitter") as tx:
        await tx.wait_bound()
        response = await send(tx, submit())
        assert sim.receipts_pending == 1
        async with client(sim, receiver, bind_type="receiver") as rx:
            await rx.wait_bound()
            await sim.wait_receipts_acked(1)
    assert receiver.delivered.get_nowait().tlvs[Tag.RECEIPTED_MESSAGE_ID] == response.message_id


# -------------------------------------------------------------------------------------------------- MO


async def test_multipart_mo_arrives_with_udh_and_reassembles(make_sim: Any) -> None:
    sim = await make_sim()
    customer = Customer()
    long_text = "Hello from the handset! " * 12 + "Ünïcödé ✓ at the end"
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        parts = sim.inject_mo("447700900555", "447700100100", long_text)
        assert parts > 1
        received = [await customer.delivered.get() for _ in range(parts)]
        await sim.wait_mo_acked(parts)
    reassembler = MultipartReassembler()
    messages = []
    for pdu in received:
        assert pdu.esm_class & 0x40 and pdu.source_addr == "447700900555" and pdu.source_addr_ton == 1
        content = decode_short_message(pdu.short_message, pdu.data_coding, udhi=True)
        assert content.concatenation is not None and content.concatenation.total == parts
        messages += reassembler.add(InboundPart(pdu.source_addr, pdu.destination_addr, content), 0.0)
    assert len(messages) == 1 and messages[0].complete and messages[0].text == long_text
    assert (sim.mo_messages, sim.mo_sent, sim.mo_acked, sim.mo_pending) == (1, parts, parts, 0)


async def test_generated_mo_uses_the_configured_numbers_and_texts(make_sim: Any) -> None:
    sim = await make_sim(mo_per_second=200, mo_from=("447700900777",), mo_to=("12345",), mo_texts=("hi",))
    customer = Customer()
    async with asyncio.timeout(WAIT), client(sim, customer) as c:
        await c.wait_bound()
        await sim.wait_mo_acked(10)
    pdu = await customer.delivered.get()
    assert (pdu.source_addr, pdu.destination_addr, pdu.short_message) == ("447700900777", "12345", b"hi")
    assert pdu.esm_class == 0 and pdu.dest_addr_ton == 3


# ----------------------------------------------------------------------------------- independent peer


def _smpplib_session(port: int) -> tuple[str, list[Any]]:
    """smpplib (blocking, in a thread) binds as a transceiver, submits one message, reads its receipt."""
    peer = smpplib.client.Client("127.0.0.1", port, timeout=WAIT, allow_unknown_opt_params=True)
    responses: list[Any] = []
    receipts: list[Any] = []
    peer.set_message_sent_handler(lambda pdu: responses.append(pdu))
    peer.set_message_received_handler(lambda pdu: receipts.append(pdu))
    peer.connect()
    try:
        peer.bind_transceiver(system_id="peer", password="pw")
        peer.send_message(
            source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
            source_addr="ACME",
            dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
            dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
            destination_addr="447700900123",
            short_message=b"hello from smpplib",
            registered_delivery=1,
        )
        while not (responses and receipts):
            peer.read_once()
        peer.unbind()
    finally:
        peer.disconnect()
    return responses[0].message_id.decode(), receipts


async def test_an_independent_esme_gets_its_receipt(make_sim: Any) -> None:
    sim = await make_sim(id_format="dec", outcomes={"DELIVRD": 1})
    async with asyncio.timeout(WAIT):
        message_id, receipts = await asyncio.to_thread(_smpplib_session, sim.port)
        await sim.wait_receipts_acked(1)
    assert message_id == "44818"
    receipt = receipts[0]
    assert receipt.receipted_message_id.decode() == "44818"
    assert receipt.message_state == MessageState.DELIVERED
    parsed = parse_receipt(receipt.short_message)
    assert parsed is not None and parsed.message_id == "44818" and parsed.text == "hello from smpplib"


# ------------------------------------------------------------------------------------- config and CLI


def test_config_rejects_what_makes_no_sense() -> None:
    for bad in (
        {"outcomes": {"LOST": 1}},
        {"outcomes": {"DELIVRD": 0}},
        {"throttle_rate": 1.5},
        {"throttle_rate": 0.6, "reject_rate": 0.6},
        {"latency_ms": 10, "latency_max_ms": 5},
        {"disconnect_every": -1},
    ):
        with pytest.raises(ValueError):
            SimulatorConfig(**bad)
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(bad, SimulatorConfig)


def test_id_formats_and_option_parsers() -> None:
    assert format_carrier_id(0xAF12, "hex", 6) == "00AF12"
    assert format_carrier_id(0xAF12, "dec") == "44818"
    assert parse_range_ms("5") == (5.0, None) and parse_range_ms("2-10") == (2.0, 10.0)
    assert parse_outcomes("delivrd=90, UNDELIV=8,EXPIRED=2") == {"DELIVRD": 90, "UNDELIV": 8, "EXPIRED": 2}
    with pytest.raises(ValueError):
        parse_range_ms("fast")


def test_cli_options_become_the_config() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_simulator_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["simulate-carrier", "--latency-ms", "1-5", "--outcomes", "DELIVRD=90,UNDELIV=8,EXPIRED=2",
         "--id-format", "hex", "--dlr-id-format", "dec", "--receipts-on", "other", "--receipt-before-resp",
         "--throttle-rate", "0.1", "--disconnect-every", "100", "--mo-per-second", "2", "--seed", "7",
         "--mo-to", "12345"]
    )  # fmt: skip
    config = config_from_args(args)
    assert (config.latency_ms, config.latency_max_ms) == (1.0, 5.0)
    assert config.outcomes == {"DELIVRD": 90, "UNDELIV": 8, "EXPIRED": 2}
    assert (config.id_format, config.receipt_id_format, config.receipts_on) == ("hex", "dec", "other")
    assert config.receipt_before_resp and config.throttle_rate == 0.1 and config.disconnect_every == 100
    assert config.mo_per_second == 2 and config.seed == 7 and config.mo_to == ("12345",)
    assert callable(args.func)


async def test_cli_serves_until_sigint_and_prints_its_counters() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.simulation.cli", "--port", "0", "--seed", "1",
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(WAIT):
            line = (await process.stdout.readline()).decode()
            assert line.startswith("simulate-carrier listening on 127.0.0.1:")
            port = int(line.rsplit(":", 1)[1])
            customer = Customer()
            async with SmppClient("127.0.0.1", port, system_id="a", password="b", handler=customer) as c:
                await c.wait_bound()
                assert (await send(c, submit())).command_status == 0
                await customer.delivered.get()
            process.send_signal(signal.SIGINT)
            tail = (await process.stdout.read()).decode()
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stats = json.loads(tail.split("stopped ", 1)[1])
    assert stats["submits"] == 1 and stats["receipts_acked"] == 1 and stats["receipts_pending"] == 0


def test_receipt_text_is_exactly_what_format_receipt_writes() -> None:
    factory = ReceiptFactory(SimulatorConfig(dlr_id_format="dec", outcomes={"EXPIRED": 1}))
    now = datetime(2026, 3, 1, 12, 34, 56).timestamp()
    message = submit("Grüße 😀".encode("utf-16-be"))
    message.data_coding = 8
    receipt = factory.build(message, 44818, "EXPIRED", now=now, delay=120.0)
    expected = format_receipt(
        "44818",
        MessageState.EXPIRED,
        submit_date=datetime(2026, 3, 1, 12, 34),
        done_date=datetime(2026, 3, 1, 12, 36),
        err=27,
        text="Gr??e ?",  # one character, one "?" (the emoji is one character, two UTF-16 units)
    )
    assert receipt.short_message == expected.encode("ascii")
