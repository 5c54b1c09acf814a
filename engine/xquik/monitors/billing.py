"""Monitor billing (seed 002's monitorBilling): an active monitor costs 21 credits per hour, charged as
each hour starts, on the one ledger through engine/xquik/credits.py.

    billing = MonitorBilling(pool, interval=300.0); billing.start(); ...; await billing.close()
    hold = await billing.hold_first_hour(account_id)   # before a monitor is created or re-activated
    await billing.settle(hold, ok=True)                # captured once it is, released when it is not

`paid_until` on the monitor row says how far its active time is paid. The sweep charges every active
monitor whose hour has run out, with the ref "monitor:<id>:<paid_until>", so a charge that is
retried after a crash (charged, not yet recorded) finds its own hold and charges nothing twice; then it
moves paid_until on by an hour from max(paid_until, now) — hours while the engine was down are not
billed. A monitor whose account cannot pay its next hour is paused (isActive false), not deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import structlog

from engine.xquik import credits

log = structlog.get_logger("engine.xquik.monitors.billing")

CREDITS_PER_HOUR = 21
CREDITS_PER_DAY = 500  # the document's creditsPerActiveMonitorDay (a day's estimate, 24 h rounded)
KIND = "monitor.hour"


class MonitorBilling:
    def __init__(self, pool: asyncpg.Pool, *, interval: float = 300.0) -> None:
        self._pool = pool
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self.charged = 0
        self.paused = 0

    async def hold_first_hour(self, account_id: int) -> credits.Hold:
        return await credits.reserve(
            self._pool, account_id, CREDITS_PER_HOUR, KIND, f"monitor-start:{uuid.uuid4().hex}"
        )

    async def settle(self, hold: credits.Hold, *, ok: bool) -> None:
        await credits.capture(self._pool, hold, hold.credits if ok else 0)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await asyncio.Event().wait()
            try:
                await self.sweep()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("monitor billing sweep failed", error=repr(exc))

    async def sweep(self) -> int:
        """Charge the next hour of every active monitor whose paid time ran out; how many were charged."""
        rows = await self._pool.fetch(
            "SELECT id, account_id, paid_until FROM xquik_monitors "
            "WHERE active AND (paid_until IS NULL OR paid_until <= now()) ORDER BY id"
        )
        charged = 0
        for row in rows:
            since = row["paid_until"].isoformat() if row["paid_until"] is not None else "start"
            try:
                await credits.charge(
                    self._pool, row["account_id"], CREDITS_PER_HOUR, KIND, f"monitor:{row['id']}:{since}"
                )
            except credits.CreditError as exc:
                await self._pool.execute(
                    "UPDATE xquik_monitors SET active = false, updated_at = now() WHERE id = $1", row["id"]
                )
                self.paused += 1
                log.info("monitor paused: its next hour cannot be paid", monitor=row["id"], error=str(exc))
                continue
            await self._pool.execute(
                "UPDATE xquik_monitors SET paid_until = greatest(paid_until, now()) + interval '1 hour' "
                "WHERE id = $1 AND paid_until IS NOT DISTINCT FROM $2",
                row["id"], row["paid_until"],
            )  # fmt: skip
            charged += 1
        self.charged += charged
        return charged
