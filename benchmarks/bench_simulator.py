"""Throughput of the carrier simulator: submit_sm/s with a receipt for each, as an ESME sees it.

The simulator runs as `smsengine simulate-carrier` would (its own process, uvloop); this process drives it
with our SmppClient, one transceiver bind at window 100, acknowledging every receipt at once. Prints the
rates and the simulator's own CPU cost per message (from its rusage). Prints, never asserts.

    .venv/bin/python -m benchmarks.bench_simulator [--messages 100000] [--window 100] [--receipt-delay-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import subprocess
import sys
import time

import uvloop

from smpp.client import SmppClient
from smpp.connection import SmppConnection
from smpp.pdu import Pdu, SubmitSm


class Acker:
    """Acknowledges every deliver_sm and sets `done` once `expected` receipts arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = asyncio.Event()

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        conn.respond(pdu, 0)
        self.count += 1
        if self.count >= self.expected:
            self.done.set()

    def on_bound(self, conn: SmppConnection) -> None:
        pass

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        pass


async def drive(port: int, messages: int, window: int) -> dict[str, float]:
    acker = Acker(messages)
    client = SmppClient("127.0.0.1", port, system_id="bench", password="bench", handler=acker, window=window)
    remaining = messages

    async def submitter() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await client.request(
                SubmitSm(
                    source_addr="ACME",
                    dest_addr_ton=1,
                    dest_addr_npi=1,
                    destination_addr="447700900123",
                    registered_delivery=1,
                    short_message=b"Your code is 123456. Do not share it.",
                )
            )

    async with client:
        await asyncio.wait_for(client.wait_bound(), 10)
        started = time.perf_counter()
        await asyncio.gather(*(submitter() for _ in range(window)))
        responses_done = time.perf_counter() - started
        await asyncio.wait_for(acker.done.wait(), 120)
        receipts_done = time.perf_counter() - started
    return {
        "messages": messages,
        "window": window,
        "submit_sm_per_s": round(messages / responses_done),
        "with_receipts_per_s": round(messages / receipts_done),
        "seconds": round(receipts_done, 3),
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--receipt-delay-ms", default="0")
    parser.add_argument("--port", type=int, help="drive a simulator already listening here instead")
    args = parser.parse_args()
    if args.port:
        print(json.dumps(uvloop.run(drive(args.port, args.messages, args.window))))
        return
    simulator = subprocess.Popen(
        [sys.executable, "-m", "engine.simulation.cli", "--port", "0", "--seed", "1",
         "--receipt-delay-ms", args.receipt_delay_ms],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert simulator.stdout is not None
    try:
        port = int(simulator.stdout.readline().rsplit(":", 1)[1])
        result = uvloop.run(drive(port, args.messages, args.window))
    finally:
        simulator.send_signal(signal.SIGINT)
        tail = simulator.stdout.read()
        simulator.wait(30)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    result["simulator_cpu_s"] = round(cpu, 3)
    result["simulator_system_cpu_s"] = round(usage.ru_stime, 3)
    result["simulator_cpu_us_per_message"] = round(cpu / args.messages * 1e6, 1)
    print(json.dumps(result))
    print(tail.strip())


if __name__ == "__main__":
    main()
