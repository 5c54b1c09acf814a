"""Kannel as a customer: Debian's bearerbox + smsbox bound to the engine as an SMPP transceiver.

A Kannel user's application sends through smsbox's sendsms interface with dlr-mask 31 and a dlr-url;
Kannel submits over SMPP, receives our receipts on the same bind, matches them with its own DLR store
and calls the dlr-url back. Every message must come back final there: that is what the customer sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.infra import metrics
from engine.simulation.config import SimulatorConfig
from tests.debian import debian_tool
from tests.engine.harness import Stack, StackOptions, running_stack
from tests.peers.kannel import Kannel

# Two carrier binds, receipts on either, a realistic outcome mix: what `smsengine run --demo` and the
# README's simulate-carrier line give a new operator.
OPTIONS = StackOptions(
    binds=2,
    sim=SimulatorConfig(outcomes={"DELIVRD": 90, "UNDELIV": 8, "EXPIRED": 2}, receipts_on="other"),
)
FINAL_BITS = 0x01 | 0x02 | 0x10  # delivered, undelivered, rejected by the SMSC


@pytest.fixture(scope="session")
def kannel_binaries() -> Iterator[tuple[str, str]]:
    yield debian_tool("bearerbox", ["kannel"]), debian_tool("smsbox", ["kannel"])


class DlrSink:
    """The Kannel user's dlr-url: records every callback (message number -> receipt types)."""

    def __init__(self) -> None:
        self.types: dict[str, list[str]] = defaultdict(list)
        self.changed = asyncio.Condition()
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/dlr"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode()
                query = parse_qs(urlsplit(target).query)
                async with self.changed:
                    self.types[query["n"][0]].append(query["type"][0])
                    self.changed.notify_all()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        writer.close()

    def finals(self) -> set[str]:
        return {n for n, types in self.types.items() if any(int(t) & FINAL_BITS for t in types)}


@contextlib.asynccontextmanager
async def dlr_sink() -> AsyncIterator[DlrSink]:
    sink = DlrSink()
    sink.server = await asyncio.start_server(sink._serve, "127.0.0.1", 0)
    try:
        yield sink
    finally:
        sink.server.close()
        await sink.server.wait_closed()


async def send_and_wait_for_finals(kannel: Kannel, sink: DlrSink, count: int, within: float) -> None:
    for n in range(count):
        dlr_url = f"{sink.url}?n={n}&type=%d"
        status = await kannel.send(f"+4477009{n:05d}", f"message {n}", sender="Acme", dlr_url=dlr_url)
        assert status == 202, status
    try:
        async with asyncio.timeout(within), sink.changed:
            await sink.changed.wait_for(lambda: len(sink.finals()) == count)
    except TimeoutError:
        missing = sorted(set(map(str, range(count))) - sink.finals(), key=int)
        detail = {n: sink.types.get(n) for n in missing}
        pytest.fail(f"no final receipt at Kannel's dlr-url for {missing}: {detail}\n{kannel.logs()}")


@contextlib.asynccontextmanager
async def kannel_customer(stack: Stack, directory: Path, binaries: tuple[str, str]) -> AsyncIterator[Kannel]:
    bearerbox, smsbox = binaries
    kannel = Kannel(
        directory, bearerbox=bearerbox, smsbox=smsbox, engine_port=stack.engine.smpp_port,
        system_id=stack.system_id, password=stack.password,
    )  # fmt: skip
    try:
        await kannel.start()
        yield kannel
    finally:
        await kannel.stop()


async def test_kannel_gets_a_final_receipt_for_each_of_300_messages(
    database_url: str, redis_url: str, tmp_path: Path, kannel_binaries: tuple[str, str]
) -> None:
    async with (
        running_stack(database_url, redis_url, OPTIONS) as stack,
        dlr_sink() as sink,
        kannel_customer(stack, tmp_path, kannel_binaries) as kannel,
    ):
        await send_and_wait_for_finals(kannel, sink, 300, within=60)


async def test_a_kannel_over_its_throughput_is_paced_and_every_message_still_gets_its_receipt(
    database_url: str, redis_url: str, tmp_path: Path, kannel_binaries: tuple[str, str]
) -> None:
    """The reported loss. Kannel sends as fast as its window allows; an account allowed 20 messages/s
    was answered ESME_RTHROTTLED for each submit beyond a burst of 4, and Kannel puts a throttled
    message back in its queue for sms-resend-freq (60 s by default): groups of consecutive messages got
    no receipt for a minute or more (55 of these 100 within 40 s). Paced instead, none is refused."""
    slow = dataclasses.replace(OPTIONS, customer_throughput=20)
    async with (
        running_stack(database_url, redis_url, slow) as stack,
        dlr_sink() as sink,
        kannel_customer(stack, tmp_path, kannel_binaries) as kannel,
    ):
        throttled_before = throttled()
        await send_and_wait_for_finals(kannel, sink, 100, within=40)
        assert throttled() == throttled_before, "a submit was answered ESME_RTHROTTLED"


def throttled() -> float:
    labels = {"channel": "smpp", "reason": "THROTTLED"}
    return metrics.REGISTRY.get_sample_value("smsengine_messages_refused_total", labels) or 0.0
