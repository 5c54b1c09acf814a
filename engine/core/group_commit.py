"""Group commit: many callers, one transaction per batch; one bad item never fails the others.

Callers `submit(item)` and get a future that resolves with the batch function's result for their item,
after the batch holding it has committed; or `post(item, on_done)`, the hot path's form: `on_done(result,
error)` is called right after the commit, with no future and no loop callback per item (or nothing is
called at all when `on_done` is None: fire and forget, for writes whose outcome nobody waits for).
Items that arrive while a commit is in flight wait and go into the next batch together, so batches grow
with load on their own and no caller waits on a timer: at low load a batch is one item committed at
once, at high load hundreds share one fsync (one fsync per message caps PostgreSQL at ~1,800 commits/s
on the development machine). `concurrency` batches may be in flight
at once, each on its own connection; with concurrency 1, batches commit in submission order.

When a batch fails:
- an error about the data (PostgreSQL refused a value, a constraint, a bug in one item) is isolated: the
  batch is split in halves and each retried, down to the single item that fails, which alone gets the
  error; every other item commits (one customer's bad request never fails anyone else's);
- an error about the database being unreachable or restarting (`is_transient`) fails the whole batch in
  `Policy.FAIL` (the accept path: nothing was acknowledged, callers answer ESME_RSYSERR / 503), and is
  retried with backoff, for as long as it takes, in `Policy.RETRY` (writes the engine owes: outcomes,
  receipts, deliveries, money — they are never dropped; the engine catches up by itself).

Bounded: in `Policy.FAIL`, beyond `max_pending` items not yet committed `submit` raises `CommitQueueFull`
at once (ESME_RMSGQFUL / 503) — memory never grows without limit. In `Policy.RETRY` nothing is refused
(what is owed must be kept); its owners read `pending` and stop producing (backpressure) instead.

This module knows nothing of messages or SQL: the batch function does the work.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg
import structlog

from engine.infra import metrics

T = TypeVar("T")
R = TypeVar("R")
OnDone = Callable[[R | None, BaseException | None], None]

log = structlog.get_logger(__name__)


class CommitQueueFull(Exception):
    """More items are waiting for a commit than the committer admits."""


class Policy(enum.Enum):
    FAIL = "fail"  # a database outage fails the batch: its callers were not answered yet
    RETRY = "retry"  # a database outage is waited out: the batch is owed and retried until it commits


_TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.QueryCanceledError,
    OSError,
    TimeoutError,
    ConnectionError,
)


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same batch later may succeed: the database, not the data, was the problem."""
    if isinstance(exc, _TRANSIENT):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return sqlstate.startswith(("08", "53", "57", "40"))  # connection, resources, operator, rollback


class GroupCommitter(Generic[T, R]):
    def __init__(
        self,
        commit_batch: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 2000,
        max_pending: int = 20_000,
        concurrency: int = 2,
        policy: Policy = Policy.FAIL,
        retry_backoff: tuple[float, float] = (0.05, 5.0),
        name: str = "commit",
    ) -> None:
        self._commit_batch = commit_batch
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._concurrency = concurrency
        self._policy = policy
        self._backoff = retry_backoff
        self._name = name
        self._items: list[T] = []
        self._futures: list[_Waiter[R]] = []
        self._pending = 0
        self._wakeup = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._closing = False
        self.batches = 0
        self.committed = 0
        self.isolated = 0  # items that failed alone while the rest of their batch committed
        self.retries = 0  # batches retried after a transient failure
        self.last_batch = 0  # size of the last committed batch
        self.last_seconds = 0.0  # how long it took
        self.outage_since: float | None = None  # monotonic time of the first failure of the current outage

    @property
    def name(self) -> str:
        return self._name

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
        if self._policy is Policy.FAIL and self._pending >= self._max_pending:
            raise CommitQueueFull(f"{self._name}: {self._pending} items waiting for a commit")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._enqueue(item, future)
        return future

    def post(self, item: T, on_done: OnDone[R] | None = None) -> None:
        """Like submit, without a future: `on_done(result, error)` runs right after the item's commit."""
        if self._closing:
            raise CommitQueueFull(f"{self._name}: shutting down")
        if self._policy is Policy.FAIL and self._pending >= self._max_pending:
            raise CommitQueueFull(f"{self._name}: {self._pending} items waiting for a commit")
        self._enqueue(item, on_done)

    def _enqueue(self, item: T, waiter: _Waiter[R]) -> None:
        self._items.append(item)
        self._futures.append(waiter)
        self._pending += 1
        if not self._wakeup.is_set():
            self._wakeup.set()

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
                await self._commit_resolving(items, futures)
            finally:
                self._pending -= len(items)

    async def _commit_resolving(self, items: list[T], futures: list[_Waiter[R]]) -> None:
        delay = self._backoff[0]
        while True:
            started = time.perf_counter()
            try:
                results = await self._commit(items)
            except Exception as exc:
                if not is_transient(exc):
                    await self._isolate(items, futures, exc)
                    return
                if self.outage_since is None:
                    self.outage_since = time.monotonic()
                if self._policy is Policy.FAIL or self._closing:
                    log.error("group commit failed", committer=self._name, items=len(items), error=repr(exc))
                    _fail(futures, exc)
                    return
                self.retries += 1
                log.warning(
                    "group commit waiting for the database",
                    committer=self._name, items=len(items), retry_in=delay, error=repr(exc),
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            self.outage_since = None
            self.batches += 1
            self.committed += len(items)
            self.last_batch = len(items)
            self.last_seconds = time.perf_counter() - started
            metrics.commit_batch(self._name, len(items), self.last_seconds, ok=True)  # metrics
            for waiter, result in zip(futures, results, strict=True):
                if waiter is None:
                    continue
                if isinstance(waiter, asyncio.Future):
                    if not waiter.done():
                        waiter.set_result(result)
                else:
                    _call(waiter, result, None)
            return

    async def _commit(self, items: Sequence[T]) -> Sequence[R]:
        results = await self._commit_batch(items)
        if len(results) != len(items):
            raise RuntimeError(f"{self._name}: batch returned {len(results)} results for {len(items)}")
        return results

    async def _isolate(self, items: list[T], futures: list[_Waiter[R]], exc: Exception) -> None:
        """The batch failed for its data: find the items at fault by halves; commit the rest."""
        if len(items) == 1:
            self.isolated += 1
            log.error("group commit refused an item", committer=self._name, error=repr(exc))
            _fail(futures, exc)
            return
        middle = len(items) // 2
        for part, part_futures in ((items[:middle], futures[:middle]), (items[middle:], futures[middle:])):
            await self._commit_resolving(part, part_futures)

    async def close(self) -> None:
        """Commit what was submitted, then stop. Later submits raise CommitQueueFull."""
        self._closing = True
        self._wakeup.set()
        await asyncio.gather(*self._workers, return_exceptions=True)


_Waiter = asyncio.Future[R] | OnDone[R] | None


def _fail(futures: Sequence[_Waiter[R]], exc: BaseException) -> None:
    for waiter in futures:
        if waiter is None:
            continue
        if isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_exception(exc)
        else:
            _call(waiter, None, exc)


def _call(on_done: OnDone[R], result: R | None, exc: BaseException | None) -> None:
    try:
        on_done(result, exc)
    except Exception:  # one caller's callback must not stop the others from hearing
        log.exception("group commit callback failed")
