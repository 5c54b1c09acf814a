"""What both platform simulators share: fixed rate windows, injected faults and latency, serving.

- `RateWindows`: per (caller, endpoint) fixed windows as the platforms run them: the first call opens
  a window of `seconds`; `limit` calls fit in it; the answer reports limit / remaining / reset (unix
  seconds of the window's end), and the call past the limit is refused until then.
- `Faults`: knobs a test or the demo turns: `fail_next(n, status, path_prefix)` answers the next n
  matching requests with a 5xx (or any status), `error_rate` answers that fraction 503 at random,
  `latency_ms` delays every answer (a uniform draw when
  a range; a latency above the client's timeout is a timeout).
- `SimulatorServer`: runs a Starlette app under uvicorn in the running event loop on a free port
  (in-process, for tests and the demo) or a given one (the `simulate-x` / `simulate-bluesky` commands).

This module must never know a platform's paths or shapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class WindowState:
    limit: int
    remaining: int
    reset: int  # unix seconds
    allowed: bool


class RateWindows:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}  # -> (window end, calls made)

    def hit(self, caller: str, endpoint: str, limit: int, seconds: float, cost: int = 1) -> WindowState:
        now = self._clock()
        key = (caller, endpoint)
        end, used = self._windows.get(key, (0.0, 0))
        if now >= end:
            end, used = now + seconds, 0
        allowed = used + cost <= limit
        if allowed:
            used += cost
        self._windows[key] = (end, used)
        return WindowState(limit=limit, remaining=max(0, limit - used), reset=math.ceil(end), allowed=allowed)

    def reset(self) -> None:
        self._windows.clear()


@dataclass
class _Fault:
    remaining: int
    status: int
    path_prefix: str


@dataclass
class Faults:
    latency_ms: float = 0.0
    latency_max_ms: float | None = None
    error_rate: float = 0.0
    """Fraction of requests answered 503 at random (on top of fail_next)."""
    seed: int | None = None
    _faults: list[_Fault] = field(default_factory=list)
    injected: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def fail_next(self, count: int = 1, *, status: int = 503, path_prefix: str = "") -> None:
        self._faults.append(_Fault(count, status, path_prefix))

    def take(self, path: str) -> int | None:
        """The status to fail this request with, or None."""
        for fault in self._faults:
            if fault.remaining > 0 and path.startswith(fault.path_prefix):
                fault.remaining -= 1
                self.injected += 1
                return fault.status
        self._faults = [fault for fault in self._faults if fault.remaining > 0]
        if self.error_rate and self._random.random() < self.error_rate:
            self.injected += 1
            return 503
        return None

    def delay(self) -> float:
        if self.latency_max_ms is not None and self.latency_max_ms > self.latency_ms:
            return self._random.uniform(self.latency_ms, self.latency_max_ms) / 1000
        return self.latency_ms / 1000


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the owner of the process handles signals


class SimulatorServer:
    """A Starlette app served by uvicorn inside the running event loop; base of both simulators.

    Subclasses build their app and call `super().__init__(app)`; for `generate_inbound` they give
    `_peers(target)` (other users' names) and `_latest_post(target)`, and their world answers
    `mention(of=, by=)`, `dm(to=, by=)` and `reply(to=, by=)`."""

    world: Any

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._traffic: asyncio.Task[None] | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(
            self._app, host=host, port=port, loop="none", lifespan="off", log_config=None,
            log_level="warning", access_log=False, server_header=False, timeout_graceful_shutdown=2,
        )  # fmt: skip
        self._server = server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(server.serve(), name="platform-simulator")
        while not server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the simulator stopped before it started")
            await asyncio.sleep(0.005)  # uvicorn exposes no startup event; this polls its flag
        self.host = host
        self.port = next(int(sock.getsockname()[1]) for srv in server.servers for sock in srv.sockets)

    def start_traffic(self, per_minute: float, make: Callable[[], object], seed: int | None = None) -> None:
        """Call `make` (a generated mention, reply or DM) about `per_minute` times a minute, at random."""
        rng = random.Random(seed)

        async def run() -> None:
            while True:
                await asyncio.sleep(rng.expovariate(per_minute / 60.0))
                make()

        if per_minute > 0:
            self._traffic = asyncio.get_running_loop().create_task(run(), name="simulated-traffic")

    def _peers(self, target: str) -> list[str]:
        raise NotImplementedError

    def _latest_post(self, target: str) -> str | None:
        raise NotImplementedError

    def generate_inbound(self, per_minute: float, target: str, *, seed: int | None = None) -> None:
        """Mentions of `target`, replies to its latest post and DMs to it by other users, about
        `per_minute` a minute in all: something for inbox polling to find."""
        rng = random.Random(seed)

        def make() -> None:
            peers = self._peers(target)
            if not peers:
                return
            author, latest = rng.choice(peers), self._latest_post(target)
            kind = rng.choice(["mention", "dm", "reply"] if latest else ["mention", "dm"])
            if kind == "mention":
                self.world.mention(of=target, by=author)
            elif kind == "dm":
                self.world.dm(to=target, by=author)
            else:
                self.world.reply(to=latest, by=author)

        self.start_traffic(per_minute, make, seed)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._traffic is not None:
            self._traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._traffic
            self._traffic = None
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


class FaultMiddleware:
    """ASGI middleware applying Faults: latency and injected statuses."""

    def __init__(self, app: ASGIApp, faults: Faults, body: Callable[[int], bytes]) -> None:
        self._app = app
        self._faults = faults
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        delay = self._faults.delay()
        if delay:
            await asyncio.sleep(delay)
        status = self._faults.take(scope["path"])
        if status is None:
            await self._app(scope, receive, send)
            return
        body = self._body(status)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
