"""A step run every `interval` seconds, or at once when woken: the engine's periodic readers.

    self._rounds = Periodic("inbox poll", self.poll_all, interval)
    self._rounds.start(); self._rounds.wake(); await self._rounds.close()

A database or socket failure of one round is logged and the next round tries again; anything else is
a bug and ends the task (asyncio reports it). This module must never know what a step does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

log = structlog.get_logger("engine.periodic")


class Periodic:
    def __init__(self, name: str, step: Callable[[], Awaitable[object]], interval: float) -> None:
        self.name = name
        self.interval = interval
        self._step = step
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning(f"{self.name} failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
