"""`smsengine simulate-carrier`: run the carrier simulator until SIGINT/SIGTERM, then print its counters.

    smsengine simulate-carrier --port 2776 --receipt-delay-ms 50-500 \
        --outcomes DELIVRD=90,UNDELIV=8,EXPIRED=2 --id-format hex --dlr-id-format dec \
        --receipts-on other --throttle-rate 0.01 --mo-per-second 2 --seed 7

smsengine/cli.py registers it with `add_simulator_parser(subparsers)`; `python -m engine.simulation.cli ...`
runs it standalone (the tests and the benchmark do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

import msgspec

from engine.simulation.carrier import CarrierSimulator
from engine.simulation.config import SimulatorConfig, parse_outcomes, parse_range_ms

_ID_FORMATS = ("hex", "dec", "uuid")


def add_simulator_parser(subparsers: Any) -> None:
    """Register `simulate-carrier` on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "simulate-carrier",
        help="run a simulated carrier SMSC (receipts, throttling, disconnects, MO)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run_simulator)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, default=2776, help="port to listen on; 0 picks a free one (default 2776)")
    add("--system-id", default="", help="system_id binds must present (default: accept any)")
    add("--password", default="", help="password binds must present (default: accept any)")
    add("--latency-ms", default="0", help="submit_sm_resp latency: N or MIN-MAX (default 0)")
    add("--receipt-delay-ms", default="0", help="receipt delay after the response: N or MIN-MAX (default 0)")
    add(
        "--outcomes",
        default="DELIVRD=100",
        help="receipt outcome weights, e.g. DELIVRD=90,UNDELIV=8,EXPIRED=2",
    )
    add("--id-format", choices=_ID_FORMATS, default="hex", help="ids in submit_sm_resp (default hex)")
    add("--dlr-id-format", choices=_ID_FORMATS, help="ids in receipts (default: as --id-format)")
    add(
        "--receipts-in",
        choices=("tlv+text", "text"),
        default="tlv+text",
        help="receipt TLVs and text, or text only",
    )
    add("--receipts-on", choices=("same", "other"), default="same", help="bind receipts go on (default same)")
    add("--receipt-before-resp", action="store_true", help="send each receipt before its submit_sm_resp")
    add("--throttle-rate", type=float, default=0.0, help="fraction answered ESME_RTHROTTLED (default 0)")
    add("--reject-rate", type=float, default=0.0, help="fraction answered --reject-status (default 0)")
    add(
        "--reject-status",
        type=lambda text: int(text, 0),
        default=0x45,
        help="status of rejects (default 0x45)",
    )
    add(
        "--disconnect-every",
        type=int,
        default=0,
        help="drop a random bind after every N submit_sm (0: never)",
    )
    add("--mo-per-second", type=float, default=0.0, help="generated MO messages per second (default 0)")
    add("--mo-from", action="append", help="MO sender number (repeat for several)")
    add("--mo-to", action="append", help="MO recipient number (repeat for several)")
    add("--mo-text", action="append", help="MO text (repeat for several)")
    add("--window", type=int, default=500, help="deliver_sm in flight per bind (default 500)")
    add("--seed", type=int, help="seed for reproducible decisions")


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The SimulatorConfig the options describe; raises ValueError (or msgspec.ValidationError)."""
    latency, latency_max = parse_range_ms(args.latency_ms)
    delay, delay_max = parse_range_ms(args.receipt_delay_ms)
    options: dict[str, Any] = {
        "system_id": args.system_id,
        "password": args.password,
        "latency_ms": latency,
        "latency_max_ms": latency_max,
        "receipt_delay_ms": delay,
        "receipt_delay_max_ms": delay_max,
        "outcomes": parse_outcomes(args.outcomes),
        "id_format": args.id_format,
        "dlr_id_format": args.dlr_id_format,
        "receipts_in": args.receipts_in,
        "receipts_on": args.receipts_on,
        "receipt_before_resp": args.receipt_before_resp,
        "throttle_rate": args.throttle_rate,
        "reject_rate": args.reject_rate,
        "reject_status": args.reject_status,
        "disconnect_every": args.disconnect_every,
        "mo_per_second": args.mo_per_second,
        "window": args.window,
        "seed": args.seed,
    }
    for option, field in (("mo_from", "mo_from"), ("mo_to", "mo_to"), ("mo_text", "mo_texts")):
        if getattr(args, option):
            options[field] = tuple(getattr(args, option))
    return msgspec.convert(options, SimulatorConfig)


async def serve(config: SimulatorConfig, host: str, port: int) -> dict[str, int]:
    """Run until SIGINT/SIGTERM; returns the final counters."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    simulator = CarrierSimulator(config)
    await simulator.start(host, port)
    try:
        print(f"simulate-carrier listening on {host}:{simulator.port}", flush=True)
        await stop.wait()
    finally:
        await simulator.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return simulator.stats()


def run_simulator(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except (ValueError, msgspec.ValidationError) as exc:
        print(f"simulate-carrier: {exc}", file=sys.stderr)
        return 2
    import uvloop

    stats = uvloop.run(serve(config, args.host, args.port))
    print("simulate-carrier stopped " + json.dumps(stats), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smsengine simulate-carrier", description=__doc__)
    _add_arguments(parser)
    return run_simulator(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
