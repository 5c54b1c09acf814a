"""PostgreSQL LISTEN/NOTIFY for the engine: one dedicated connection, callbacks by channel, resync on loss.

Nodes tell each other what changed through the database they share (no other moving part to operate):

    notifications.on("smsengine_deliveries", forwarder.notified)   # payload: an account id
    notifications.on_reconnect(forwarder.sweep_soon)               # a gap: whatever was missed, look again
    notifications.start()

A notification is a hint, never the only way a change arrives: every consumer also polls (slowly), and
after the listening connection was lost and comes back each `on_reconnect` callback runs, since
notifications sent meanwhile are gone. The connection is its own (LISTEN state must not live on a pooled
connection). This module never interprets a payload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import structlog

log = structlog.get_logger("engine.notifications")


class Notifications:
    def __init__(self, database_url: str, *, retry: tuple[float, float] = (0.2, 5.0)) -> None:
        self._url = database_url
        self._retry = retry
        self._callbacks: dict[str, list[Callable[[str], None]]] = {}
        self._reconnect: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self.connected = asyncio.Event()

    def on(self, channel: str, callback: Callable[[str], None]) -> None:
        self._callbacks.setdefault(channel, []).append(callback)

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        self._reconnect.append(callback)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="notifications")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        for callback in self._callbacks.get(channel, ()):
            try:
                callback(str(payload))
            except Exception:  # one consumer's bug must not stop the others from hearing
                log.exception("notification callback failed", channel=channel)

    async def _run(self) -> None:
        delay = self._retry[0]
        first = True
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._url)
                self._lost.clear()
                conn.add_termination_listener(lambda _c: self._lost.set())
                for channel in self._callbacks:
                    await conn.add_listener(channel, self._dispatch)
                self.connected.set()
                delay = self._retry[0]
                if not first:
                    for callback in self._reconnect:
                        callback()
                first = False
                while not self._lost.is_set():  # a connection that died silently shows on the next ping
                    try:
                        await asyncio.wait_for(self._lost.wait(), timeout=10.0)
                    except TimeoutError:
                        await asyncio.wait_for(conn.execute("SELECT 1"), timeout=5.0)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("notifications connection lost", error=repr(exc), retry_in=delay)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(delay)  # backoff before reconnecting to a database that is away
            delay = min(delay * 2, self._retry[1])
