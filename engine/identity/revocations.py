"""Every engine process learns of revoked credentials within a poll interval (0.25 s by default).

Revocations are rows of `identity_revocations`, appended by triggers (migration 0020) whenever an API key
is revoked, changed or deleted, a session revoked, or a user changed — by the API, the CLI or plain SQL.
Their versions come from one counter row taken under its lock, so they commit in order and reading
`version > seen` never skips one. `RevocationFeed.run` polls that, and hands each (kind, subject) to the
subscribed caches, which drop what it names. A poll costs one index lookup that usually finds nothing.

While PostgreSQL cannot be reached the caches keep what they hold: a revocation is itself a database
write, so none can be missed that way. Rows older than a day are pruned.

This module must never decide what a revocation means for a cache: subscribers do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg
import structlog

log = structlog.get_logger("identity")

Subscriber = Callable[[str, str], None]  # (kind: 'key' | 'session' | 'user', subject)

_PRUNE_EVERY = 3600.0


class RevocationFeed:
    def __init__(self, pool: asyncpg.Pool, poll_seconds: float) -> None:
        self._pool = pool
        self._poll = poll_seconds
        self._subscribers: list[Subscriber] = []
        self._wake = asyncio.Event()
        self.seen = 0
        self._pruned_at = 0.0

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def start_from_now(self) -> None:
        """Begin after what is already logged: caches start empty, so older rows mean nothing to them."""
        self.seen = int(await self._pool.fetchval("SELECT version FROM identity_version"))

    def wake(self) -> None:
        """Poll now (after a revocation made by this process, so it applies here at once)."""
        self._wake.set()

    async def poll(self) -> int:
        """Apply every revocation logged since the last poll; return how many."""
        rows = await self._pool.fetch(
            "SELECT version, kind, subject FROM identity_revocations WHERE version > $1 ORDER BY version "
            "LIMIT 10000",
            self.seen,
        )
        for row in rows:
            for subscriber in self._subscribers:
                subscriber(row["kind"], row["subject"])
            self.seen = int(row["version"])
        now = time.monotonic()
        if now - self._pruned_at > _PRUNE_EVERY:
            self._pruned_at = now
            await self._pool.execute("DELETE FROM identity_revocations WHERE at < now() - interval '1 day'")
        return len(rows)

    async def run(self) -> None:
        """Poll forever (cancel to stop); a failed poll is retried at the next interval."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                while await self.poll() >= 10000:
                    pass
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("revocation poll failed, retrying", error=str(exc))
