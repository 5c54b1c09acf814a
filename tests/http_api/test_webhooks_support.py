"""Helpers for the webhook, report and template tests (no tests here).

- `WebhookReceiver`: a tiny HTTP/1.1 server on asyncio streams (no web framework: an independent peer)
  that answers each request with the next status of a script (200 once the script is used up) and
  queues every request it got for the test to await.
- `verify(secret, request)`: the signature check a customer would write, from the documented formula
  with hmac and hashlib, independent of engine.outbox.webhooks.sign.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    script: list[int] = field(default_factory=list)  # statuses to answer, in order; then 200
    requests: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks"

    async def start(self) -> WebhookReceiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def next(self, within: float = 30.0) -> Received:
        async with asyncio.timeout(within):
            return await self.requests.get()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = self.script.pop(0) if self.script else 200
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            self.requests.put_nowait(Received(method, path, headers, body, status))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def receiver(script: Iterable[int] = ()) -> Any:
    r = await WebhookReceiver(list(script)).start()
    try:
        yield r
    finally:
        await r.close()


def verify(secret: str, request: Received) -> bool:
    """What a customer does: HMAC-SHA256(secret, timestamp + "." + body), hex, after "sha256="."""
    timestamp = request.headers["x-webhook-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["x-webhook-signature"], "sha256=" + expected)
