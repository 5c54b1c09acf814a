"""A bounded, expiring map for verified credentials (API keys, sessions), dropped by name on revocation.

Least recently used entries go first once `max_size` is reached, so a flood of unknown credentials can
only evict, never grow memory. Entries older than `ttl` seconds are misses. Single-threaded (the event
loop): no locks. This module must never decide whether a credential is valid: callers put only what
they verified.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    def __init__(self, max_size: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_size = max_size
        self.ttl = ttl
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    def put(self, key: K, value: V) -> None:
        if self.ttl <= 0:
            return
        self._items[key] = (self._clock() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_size:
            self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)

    def drop_where(self, doomed: Callable[[K, V], bool]) -> None:
        """Drop every entry for which `doomed(key, value)` holds (revocations are rare: a scan is fine)."""
        for key in [k for k, (_, v) in self._items.items() if doomed(k, v)]:
            del self._items[key]

    def clear(self) -> None:
        self._items.clear()
