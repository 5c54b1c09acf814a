"""Load generator for bench_session: a raw SMPP transmitter in its own process.

It binds, then keeps exactly `window` pre-encoded submit_sm frames outstanding over one TCP connection,
counting the submit_sm_resp frames it reads back (headers only: the generator must cost far less than the
server it measures). Prints one JSON line: {"window": ..., "responses": ..., "seconds": ..., "rate": ...}.

Run by bench_session; by hand: python -m benchmarks.session_loadgen PORT WINDOW SECONDS
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import cast

import uvloop

from smpp.codec import encode
from smpp.pdu import BindTransmitter, SubmitSm

RING = 4096  # distinct sequence numbers in the pre-encoded ring; far more than any window
WARMUP = 0.5


def _ring() -> tuple[bytes, int]:
    frames = [
        encode(
            SubmitSm(
                sequence,
                source_addr="ACME",
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr="447700900123",
                registered_delivery=1,
                short_message=b"Your code is 123456. Do not share it.",
            )
        )
        for sequence in range(1, RING + 1)
    ]
    size = len(frames[0])
    assert all(len(frame) == size for frame in frames)
    return b"".join(frames) * 2, size  # doubled so a slice never has to wrap


class LoadGenerator(asyncio.Protocol):
    def __init__(self, window: int, seconds: float, done: asyncio.Future[dict[str, float]]) -> None:
        self.window = window
        self.seconds = seconds
        self.done = done
        self.ring, self.size = _ring()
        self.position = 0
        self.buffer = b""
        self.bound = False
        self.responses = 0
        self.start = 0.0
        self.counted_from = 0
        self.measuring = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's does not subclass it
        transport = self.transport
        transport.write(encode(BindTransmitter(RING + 1, system_id="bench", password="bench")))

    def _send(self, count: int) -> None:
        start = self.position * self.size
        self.transport.write(self.ring[start : start + count * self.size])
        self.position = (self.position + count) % RING

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        pos, end, count = 0, len(buffer), 0
        while end - pos >= 4:
            length = int.from_bytes(buffer[pos : pos + 4], "big")
            if end - pos < length:
                break
            pos += length
            count += 1
        self.buffer = buffer[pos:]
        if not self.bound:
            self.bound = True
            self.start = time.perf_counter()
            self._send(self.window)
            count -= 1
        if count <= 0:
            return
        self.responses += count
        now = time.perf_counter()
        if not self.measuring and now - self.start >= WARMUP:
            self.measuring, self.start, self.counted_from = True, now, self.responses
        elif self.measuring and now - self.start >= self.seconds:
            if not self.done.done():
                counted = self.responses - self.counted_from
                elapsed = now - self.start
                self.done.set_result(
                    {
                        "window": self.window,
                        "responses": counted,
                        "seconds": elapsed,
                        "rate": counted / elapsed,
                    }
                )
            return
        self._send(count)


async def run(port: int, window: int, seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[dict[str, float]] = loop.create_future()
    transport, _ = await loop.create_connection(
        lambda: LoadGenerator(window, seconds, done), "127.0.0.1", port
    )
    try:
        return await asyncio.wait_for(done, seconds + 30)
    finally:
        transport.close()


def main() -> None:
    port, window, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(uvloop.run(run(port, window, seconds))), flush=True)


if __name__ == "__main__":
    main()
