"""SMPP session throughput: our server (uvloop) answering submit_sm, a raw load generator in another process.

    .venv/bin/python -m benchmarks.bench_session [--seconds 3]

The server's handler answers every submit_sm at once with a message id, so this measures the session,
the codec and the asyncio adapter, nothing else. The load generator (benchmarks.session_loadgen) keeps 10
and then 100 submit_sm outstanding over loopback and counts the submit_sm_resp it reads back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import uvloop

from smpp.connection import SmppConnection
from smpp.pdu import BindReceiver, BindTransceiver, BindTransmitter, Pdu
from smpp.server import start_server


class AnswerAtOnce:
    """A trivial SmscHandler: every bind accepted, every submit_sm answered immediately."""

    def __init__(self) -> None:
        self.counter = 0

    async def authenticate(
        self, conn: SmppConnection, bind: BindTransmitter | BindReceiver | BindTransceiver
    ) -> tuple[int, str]:
        return 0, "bench"

    def on_bound(self, conn: SmppConnection) -> None:
        pass

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        self.counter += 1
        conn.respond(pdu, 0, message_id=f"{self.counter:016x}")

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        pass


async def measure(window: int, seconds: float) -> dict[str, float]:
    server = await start_server(AnswerAtOnce(), "127.0.0.1", 0, window=window, max_pending=10_000)
    try:
        generator = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.session_loadgen",
            str(server.port),
            str(window),
            str(seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await generator.communicate()
        if generator.returncode != 0:
            raise RuntimeError(f"load generator exited with {generator.returncode}")
        result: dict[str, float] = json.loads(out)
        return result
    finally:
        await server.close(unbind_timeout=1.0)


async def main(seconds: float) -> None:
    for window in (10, 100):
        result = await measure(window, seconds)
        rate, count, seconds = result["rate"], result["responses"], result["seconds"]
        print(f"window {window:>3}: {rate:>9,.0f} submit_sm/s ({count:,.0f} in {seconds:.2f} s)", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    uvloop.run(main(parser.parse_args().seconds))
