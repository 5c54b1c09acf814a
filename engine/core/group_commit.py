"""Group commit: many callers, one transaction per batch.

Callers `submit(item)` and get a future that resolves with the batch function's result for their item,
after the batch holding it has committed. Items that arrive while a commit is in flight wait and go into
the next batch together, so batches grow with load on their own and no caller waits on a timer: at low
load a batch is one item committed at once, at high load hundreds share one fsync (one fsync per message
caps PostgreSQL at ~1,800 commits/s on the development machine).

Bounded: beyond `max_pending` items not yet committed, `submit` raises `CommitQueueFull` at once, which
the SMPP server answers with ESME_RMSGQFUL and HTTP with 503 — memory never grows without limit.

This module knows nothing of messages or SQL: the batch function does the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

T = TypeVar("T")
R = TypeVar("R")

log = structlog.get_logger(__name__)


class CommitQueueFull(Exception):
    """More items are waiting for a commit than the committer admits."""


class GroupCommitter(Generic[T, R]):
    def __init__(
        self,
        commit_batch: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 2000,
        max_pending: int = 20_000,
        concurrency: int = 2,
        name: str = "commit",
    ) -> None:
        self._commit_batch = commit_batch
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._concurrency = concurrency
        self._name = name
        self._items: list[T] = []
        self._futures: list[asyncio.Future[R]] = []
        self._pending = 0
        self._wakeup = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._closing = False
        self.batches = 0
        self.committed = 0

    @property
    def pending(self) -> int:
        """Items submitted and not yet committed (queued or in a batch in flight)."""
        return self._pending

    def start(self) -> None:
        self._workers = [
            asyncio.get_running_loop().create_task(self._run(), name=f"{self._name}-{i}")
            for i in range(self._concurrency)
        ]

    def submit(self, item: T) -> asyncio.Future[R]:
        if self._closing:
            raise CommitQueueFull(f"{self._name}: shutting down")
        if self._pending >= self._max_pending:
            raise CommitQueueFull(f"{self._name}: {self._pending} items waiting for a commit")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._futures.append(future)
        self._pending += 1
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        while True:
            while not self._items:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
            items, futures = self._items[: self._max_batch], self._futures[: self._max_batch]
            del self._items[: self._max_batch], self._futures[: self._max_batch]
            try:
                results = await self._commit_batch(items)
                if len(results) != len(items):
                    raise RuntimeError(
                        f"{self._name}: batch returned {len(results)} results for {len(items)}"
                    )
            except Exception as exc:  # the whole batch failed: every caller learns it, nothing is acked
                log.error("group commit failed", committer=self._name, items=len(items), error=repr(exc))
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            else:
                self.batches += 1
                self.committed += len(items)
                for future, result in zip(futures, results, strict=True):
                    if not future.done():
                        future.set_result(result)
            finally:
                self._pending -= len(items)

    async def close(self) -> None:
        """Commit what was submitted, then stop. Later submits raise CommitQueueFull."""
        self._closing = True
        self._wakeup.set()
        await asyncio.gather(*self._workers, return_exceptions=True)
