"""Serving the app with uvicorn inside the engine's own event loop.

`async with serve_http(app, host, port) as server:` listens (port 0: a free port, read back from
`server.port`) and, on exit, stops accepting connections, lets the requests in flight finish (their
messages are committed, their 202s sent) and returns. The engine must outlive it: start the engine
first, the server second; stop the server first. Signals stay the caller's (smsengine run installs its
own handlers), so uvicorn's signal capture is turned off.

This module must never build routes or touch the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator

import uvicorn
from starlette.types import ASGIApp


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The process' owner handles SIGINT/SIGTERM and stops us through `should_exit`.
        yield

    @property
    def port(self) -> int:
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return 0


@contextlib.asynccontextmanager
async def serve_http(
    app: ASGIApp, host: str, port: int, *, graceful_seconds: float = 10.0, reuse_port: bool = False
) -> AsyncIterator[EmbeddedServer]:
    """reuse_port: listen with SO_REUSEPORT, so that several processes serve one port."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # no proxy in front by default; X-Forwarded-* would be spoofable
        timeout_graceful_shutdown=int(graceful_seconds),
        timeout_keep_alive=30,
        backlog=4096,
    )
    server = EmbeddedServer(config)
    sockets = [_shared_socket(host, port, config.backlog)] if reuse_port else None
    task = asyncio.get_running_loop().create_task(server.serve(sockets), name="http-server")
    try:
        while not server.started:
            if task.done():
                task.result()  # a bind failure (port in use) surfaces here
                raise RuntimeError("the HTTP server stopped before it started")
            await asyncio.sleep(0.01)  # uvicorn exposes no startup event; this waits on its flag
        yield server
    finally:
        closing = getattr(getattr(app, "state", None), "closing", None)
        if closing is not None:  # long-lived responses (the dashboard's event streams) end now
            closing.set()
        server.should_exit = True
        await task


def _shared_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket on host:port that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
