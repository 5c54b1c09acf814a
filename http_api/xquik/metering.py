"""Metering a call in credits (engine/xquik/credits.py), for the Xquik route modules.

    async with metered(call, 20, "x.user_tweets") as meter:
        tweets = await fetch(...)                 # InsufficientCredits (402) was raised before this ran
        meter.use(len(tweets))                    # charge what was used (default: all that was held)
    # success: `used` captured, the rest released; an exception: everything released, then re-raised

`charge_call(call, credits, kind)` charges a fixed price at once. Refs are random unless given: pass a
stable `ref` (an extraction's id) where a retry must not hold twice. Metering must never do the
work before the credits are held, nor leave a hold open when the call ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from engine.xquik import credits
from http_api.operations import Call


class Meter:
    def __init__(self, hold: credits.Hold) -> None:
        self.hold = hold
        self.used = hold.credits

    def use(self, used: int) -> None:
        """Charge `used` credits (capped at what is held)."""
        self.used = max(0, min(used, self.hold.credits))


@asynccontextmanager
async def metered(call: Call, credits_: int, kind: str, ref: str | None = None) -> AsyncIterator[Meter]:
    pool = call.ctx.pool
    hold = await credits.reserve(pool, call.account_id, credits_, kind, ref or f"{kind}:{uuid.uuid4().hex}")
    meter = Meter(hold)
    try:
        yield meter
    except BaseException:
        await credits.release(pool, hold)
        raise
    await credits.capture(pool, hold, meter.used)


async def charge_call(call: Call, credits_: int, kind: str, ref: str | None = None) -> credits.Hold:
    """Charge a fixed price now (before the work: a refused charge is a 402 with nothing done)."""
    return await credits.charge(
        call.ctx.pool, call.account_id, credits_, kind, ref or f"{kind}:{uuid.uuid4().hex}"
    )
