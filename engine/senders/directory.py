"""The sender IDs each account may send from, in memory, for the accept path.

`Intake` asks `SenderDirectory.allowed(account_id, source)` for every message (SMPP and HTTP alike): an
account whose `sender_ids_required` flag is set may only send from its approved sender IDs (refused
otherwise with INVALID_SENDER_ID / ESME_RINVSRCADR); other accounts send from any well-formed source.
The answer comes from memory, so the hot path does no I/O. The sets are reloaded whenever anything
changes them: a NOTIFY on CHANNEL (sent by engine.senders.registry in the changing transaction, so other
engine processes and the operator's CLI reach every process at once) and, as a safety net, every
`poll_seconds`. This module never writes: the registry does.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger("engine.senders")

CHANNEL = "smsengine_senders"
_LOAD = """SELECT a.id AS account_id, s.sender FROM accounts a
LEFT JOIN sender_ids s ON s.account_id = a.id AND s.status = 'approved'
WHERE a.sender_ids_required"""


def sender_key(source: str) -> str:
    """Numbers compare without their '+'; alphanumeric sender IDs as written (they show as written)."""
    stripped = source.strip()
    return stripped.lstrip("+") if stripped.lstrip("+").isdigit() else stripped


class SenderDirectory:
    def __init__(self, pool: asyncpg.Pool, *, poll_seconds: float = 30.0) -> None:
        self._pool = pool
        self._poll = poll_seconds
        self._approved: dict[int, frozenset[str]] = {}  # only the accounts that require approval
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.loads = 0

    def allowed(self, account_id: int, source: str) -> bool:
        approved = self._approved.get(account_id)
        return approved is None or sender_key(source) in approved

    async def load(self) -> None:
        rows = await self._pool.fetch(_LOAD)
        approved: dict[int, set[str]] = {}
        for r in rows:
            senders = approved.setdefault(int(r["account_id"]), set())
            if r["sender"] is not None:
                senders.add(sender_key(r["sender"]))
        self._approved = {account: frozenset(s) for account, s in approved.items()}
        self.loads += 1

    def changed(self) -> None:
        """Something changed in this process: reload now rather than at the notification."""
        self._changed.set()

    async def start(self) -> None:
        await self.load()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sender-ids")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        def notified(*_: Any) -> None:
            self._changed.set()

        while True:
            conn: Any = None
            try:
                conn = await self._pool.acquire()
                await conn.add_listener(CHANNEL, notified)
                await self.load()  # what changed while we were not listening
                while True:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._poll):
                            await self._changed.wait()
                    self._changed.clear()
                    await self.load()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("sender IDs not reloaded", error=repr(exc))
                await asyncio.sleep(1.0)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(CHANNEL, notified)
                    await self._pool.release(conn)
