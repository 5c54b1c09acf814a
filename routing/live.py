"""Rate and rule changes applied live: the engine holds a LiveRoutingTable and selects with `.table`.

Every write to a routing table bumps `routing_version` (a trigger in the migration, which also NOTIFYs
`routing_changed`). `refresh()` reads that one counter and, only when it moved or a future-dated rate or
price has taken effect, loads a whole new immutable RoutingTable and swaps the reference in one
assignment: a selection running concurrently keeps the snapshot it started with, and never sees half an
update. A failed reload keeps serving the previous table. This module must never make a routing
decision; it only decides when to rebuild.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from routing.storage import RoutingStore
from routing.table import RoutingTable

log = logging.getLogger(__name__)


class LiveRoutingTable:
    """The current routing snapshot and the means to keep it current."""

    def __init__(self, store: RoutingStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._table: RoutingTable | None = None
        self._wake = asyncio.Event()
        self.reloads = 0

    @property
    def table(self) -> RoutingTable:
        """The snapshot to select with; load() must have run once."""
        if self._table is None:
            raise RuntimeError("LiveRoutingTable.load() has not run yet")
        return self._table

    async def load(self) -> RoutingTable:
        """Load a fresh snapshot unconditionally and make it current."""
        table = await self._store.load_table()
        self._table = table  # one reference assignment: the atomic swap
        self.reloads += 1
        return table

    async def refresh(self) -> bool:
        """Reload if the stored data changed or a dated change took effect; return whether it reloaded."""
        current = self._table
        if current is None:
            await self.load()
            return True
        if await self._store.version() != current.version or current.needs_rebuild(self._clock()):
            await self.load()
            return True
        return False

    def notify(self) -> None:
        """Ask `run` to refresh now (wire this to a LISTEN routing_changed callback for instant reloads)."""
        self._wake.set()

    async def run(self, poll_interval: float = 1.0) -> None:
        """Refresh forever: every poll_interval seconds, or at once after notify(). Cancel to stop."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=poll_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:  # a database hiccup must not stop routing: keep the old snapshot, retry later
                log.exception("routing snapshot refresh failed, keeping the current one")
