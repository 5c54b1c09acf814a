"""`smsengine simulate-x` and `smsengine simulate-bluesky`: a platform simulator until SIGINT/SIGTERM.

    smsengine simulate-x --port 8091 --user demo --user alice --authorize-as demo \
        --client-id my-app --client-secret my-secret --inbound-per-minute 6 --latency-ms 20-80 \
        --error-rate 0.01
    smsengine simulate-bluesky --port 8092 --account demo.bsky.social:app-password \
        --account alice.bsky.social --inbound-per-minute 6

Point the connectors at the printed base URL (social.x_api_base_url, social.x_authorize_url =
BASE/i/oauth2/authorize, social.bluesky_service_url). Both print one JSON line when ready:
{"simulator", "base_url", "users": {name: id}} (and the app for X), so scripts and tests can read it.
smsengine/cli.py registers them with `add_social_simulator_parsers(subparsers)`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any

from engine.social.simulation.bsky_api import BlueskySimulator
from engine.social.simulation.common import Faults
from engine.social.simulation.x_api import XSimulator


def _latency(text: str) -> tuple[float, float | None]:
    low, _, high = text.partition("-")
    return float(low), (float(high) if high else None)


def _common(parser: argparse.ArgumentParser, port: int) -> None:
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--port", type=int, default=port, help=f"port to listen on; 0 picks a free one (default {port})")
    add("--latency-ms", default="0", help="answer latency: N or MIN-MAX (default 0)")
    add("--error-rate", type=float, default=0.0, help="fraction of requests answered 503 (default 0)")
    add("--inbound-per-minute", type=float, default=0.0,
        help="generated mentions, replies and DMs to the first user per minute (default 0)")  # fmt: skip
    add("--seed", type=int, help="seed for reproducible generated traffic and faults")


def add_social_simulator_parsers(subparsers: Any) -> None:
    x = subparsers.add_parser("simulate-x", help="run a simulated X API v2 (OAuth 2.0, posts, DMs, limits)")
    _common(x, 8091)
    x.add_argument("--user", action="append", help="a user to create (repeat); default: demo, alice, bob")
    x.add_argument("--authorize-as", help="the user who approves OAuth requests (default: the first user)")
    x.add_argument("--client-id", default="smsengine-demo", help="OAuth client id to register")
    x.add_argument("--client-secret", default="", help="its secret (empty: a public client)")
    x.set_defaults(func=run_x)
    bsky = subparsers.add_parser("simulate-bluesky", help="run a simulated Bluesky PDS (XRPC, chat, limits)")
    _common(bsky, 8092)
    bsky.add_argument(
        "--account",
        action="append",
        help="HANDLE[:APP_PASSWORD] to create (repeat); default: demo.bsky.social",
    )
    bsky.set_defaults(func=run_bluesky)


def _faults(args: argparse.Namespace) -> Faults:
    low, high = _latency(args.latency_ms)
    return Faults(latency_ms=low, latency_max_ms=high, error_rate=args.error_rate, seed=args.seed)


async def _serve(
    simulator: XSimulator | BlueskySimulator, args: argparse.Namespace, ready: dict[str, Any]
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await simulator.start(args.host, args.port)
    try:
        print(json.dumps({**ready, "base_url": simulator.base_url}), flush=True)
        await stop.wait()
    finally:
        await simulator.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _x(args: argparse.Namespace) -> None:
    sim = XSimulator(faults=_faults(args))
    names = args.user or ["demo", "alice", "bob"]
    users = {name: sim.world.add_user(name).id for name in names}
    sim.world.authorizing_user = args.authorize_as or names[0]
    sim.world.register_app(args.client_id, args.client_secret)
    sim.generate_inbound(args.inbound_per_minute, names[0], seed=args.seed)
    ready = {"simulator": "x", "users": users, "client_id": args.client_id}
    await _serve(sim, args, ready)


async def _bluesky(args: argparse.Namespace) -> None:
    sim = BlueskySimulator(faults=_faults(args))
    accounts: dict[str, str] = {}
    for spec in args.account or ["demo.bsky.social:demo-app-password"]:
        handle, _, password = spec.partition(":")
        accounts[handle] = sim.world.add_account(handle, password=password).did
    sim.generate_inbound(args.inbound_per_minute, next(iter(accounts)), seed=args.seed)
    await _serve(sim, args, {"simulator": "bluesky", "users": accounts})


def run_x(args: argparse.Namespace) -> int:
    import uvloop

    uvloop.run(_x(args))
    return 0


def run_bluesky(args: argparse.Namespace) -> int:
    import uvloop

    uvloop.run(_bluesky(args))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smsengine")
    add_social_simulator_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
