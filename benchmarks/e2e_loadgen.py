"""The end-to-end load generator: customer transceiver binds that submit with receipts requested.

One `asyncio.Protocol` per bind, no task or future per message: it keeps `window` submit_sm in flight,
records each submit_sm_resp's latency and message id, answers every deliver_sm at once, and counts the
receipts whose receipted_message_id (or Appendix B id) is one of its accepted ids. The same generator
drives the simulator directly (the ceiling) and the engine in between, so their ratio compares like with
like. `rate` paces submissions (messages per second over all binds); 0 sends as fast as windows allow.

    stats = await run_load("127.0.0.1", port, binds=4, window=100, messages=50_000, rate=0)
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import cast

from smpp.codec import PduReader, encode
from smpp.constants import CommandStatus, Tag
from smpp.pdu import (
    BindTransceiver,
    BindTransceiverResp,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    response_class,
)
from smpp.receipt import parse_receipt

TEXT = b"Your verification code is 492031."


@dataclass
class LoadStats:
    messages: int
    accepted: int = 0
    refused: int = 0
    receipts: int = 0
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    last_resp: float = 0.0
    last_receipt: float = 0.0

    @property
    def accept_rate(self) -> float:
        return self.accepted / max(1e-9, self.last_resp - self.started)

    @property
    def e2e_rate(self) -> float:
        return self.receipts / max(1e-9, self.last_receipt - self.started)

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else 0.0


class _Shared:
    """What the binds of one run share: the message counter, pacing, accepted ids, completion."""

    def __init__(self, stats: LoadStats, rate: float, done: asyncio.Future[None]) -> None:
        self.stats = stats
        self.rate = rate
        self.done = done
        self.next_index = 0
        self.ids: set[str] = set()
        self.answered = 0

    def take(self) -> int | None:
        if self.next_index >= self.stats.messages:
            return None
        n = self.next_index
        self.next_index += 1
        return n

    def check_done(self) -> None:
        s = self.stats
        if self.answered >= s.messages and s.receipts >= s.accepted and not self.done.done():
            self.done.set_result(None)


class _Bind(asyncio.Protocol):
    def __init__(self, shared: _Shared, window: int, system_id: str, password: str) -> None:
        self.shared = shared
        self.window = window
        self.system_id, self.password = system_id, password
        self.reader = PduReader()
        self.sequence = 1
        self.sent_at: dict[int, float] = {}
        self.bound = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.pacing: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(encode(BindTransceiver(self._seq(), system_id=self.system_id,
                                                    password=self.password)))  # fmt: skip

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.bound.done():
            self.bound.set_exception(ConnectionError("closed before bind"))

    def _seq(self) -> int:
        self.sequence += 1
        return self.sequence

    def fill(self) -> None:
        """Keep the window full (or as full as the pace allows)."""
        self.pacing = None
        shared, out = self.shared, []
        now = time.perf_counter()
        while len(self.sent_at) < self.window:
            if shared.rate:
                due = shared.stats.started + shared.next_index / shared.rate
                if due > now:
                    self.pacing = self.loop.call_later(due - now, self.fill)
                    break
            n = shared.take()
            if n is None:
                break
            seq = self._seq()
            pdu = SubmitSm(seq, source_addr="Bench", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                           destination_addr=f"44770{n % 10_000_000:07d}", registered_delivery=1,
                           short_message=TEXT)  # fmt: skip
            out.append(encode(pdu))
            self.sent_at[seq] = now
        if out and self.transport is not None:
            self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        reader, shared, stats = self.reader, self.shared, self.shared.stats
        reader.feed(data)
        replies = []
        now = time.perf_counter()
        while (pdu := reader.next_pdu()) is not None:
            if isinstance(pdu, SubmitSmResp):
                sent = self.sent_at.pop(pdu.sequence_number, None)
                if sent is None:
                    continue
                stats.latencies.append(now - sent)
                stats.last_resp = now
                shared.answered += 1
                if pdu.command_status == CommandStatus.ESME_ROK:
                    stats.accepted += 1
                    shared.ids.add(pdu.message_id)
                else:
                    stats.refused += 1
            elif isinstance(pdu, DeliverSm):
                replies.append(encode(DeliverSmResp(pdu.sequence_number)))
                rid = pdu.tlvs.get(Tag.RECEIPTED_MESSAGE_ID)
                if not isinstance(rid, str):
                    parsed = parse_receipt(pdu.short_message)
                    rid = parsed.message_id if parsed is not None else None
                if rid is not None and rid in shared.ids:
                    shared.ids.discard(rid)
                    stats.receipts += 1
                    stats.last_receipt = now
            elif isinstance(pdu, BindTransceiverResp):
                if not self.bound.done():
                    self.bound.set_result(pdu.command_status)
            elif (cls := response_class(pdu.command_id)) is not None:  # enquire_link, unbind: answer
                replies.append(encode(_answer(cls, pdu)))
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))
        if self.bound.done() and self.pacing is None:
            self.fill()
        shared.check_done()


def _answer(cls: type[Pdu], request: Pdu) -> Pdu:
    return cls(request.sequence_number)


async def run_load(
    host: str, port: int, *, binds: int, window: int, messages: int, rate: float = 0.0,
    system_id: str = "bench", password: str = "bench", receipt_timeout: float = 120.0,
) -> LoadStats:  # fmt: skip
    loop = asyncio.get_running_loop()
    stats = LoadStats(messages)
    shared = _Shared(stats, rate, loop.create_future())
    protocols = []
    for _ in range(binds):
        _, proto = await loop.create_connection(
            lambda: _Bind(shared, window, system_id, password), host, port
        )
        protocols.append(proto)
    for proto in protocols:
        status = await asyncio.wait_for(proto.bound, 30)
        if status != CommandStatus.ESME_ROK:
            raise RuntimeError(f"bind refused: 0x{status:08X}")
    stats.started = time.perf_counter()
    for proto in protocols:
        proto.fill()
    try:
        await asyncio.wait_for(shared.done, receipt_timeout + messages / 500)
    except TimeoutError:
        pass
    for proto in protocols:
        if proto.pacing is not None:
            proto.pacing.cancel()
        if proto.transport is not None:
            proto.transport.close()
    return stats
