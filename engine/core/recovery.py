"""Restart recovery: every message that is not final resumes where it stood.

- queued: dispatched again; flagged possible_duplicate when its id is at or below its node's dispatch
  watermark (it may have reached the carrier before the crash: engine/dispatch/marks.py), not otherwise;
- sending (explicitly marked before going out): sent again once, flagged possible_duplicate;
- scheduled: waits for its time again;
- submitted: nothing to do, its receipt will come (the carrier redelivers unacknowledged receipts), and
  `carrier_keys` holds what a receipt needs to find it.

A message's carrier ids are recorded when all its parts are accepted, so a multipart message cut short
by the crash is sent again whole (flagged, as above). Every job recovered here is marked row by row
before it goes out (its id belongs to a previous node's watermark).
Pending receipts and MO owed to customers need nothing here: they are rows of `deliveries`, which the
forwarder's sweeper picks up, and stored MO parts are restored by CarrierInbound.restore().
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from engine.core.ids import NODE_BITS, SEQUENCE_BITS
from engine.core.parts import decode_parts
from engine.dispatch.sms import KIND, SmsJob

_NODE_MASK = (1 << NODE_BITS) - 1

_FLAG = """
UPDATE messages m SET possible_duplicate = true
FROM engine_nodes n
WHERE m.final_at IS NULL AND NOT m.possible_duplicate AND (
    m.status = 'sending'
    OR (m.status = 'queued' AND n.node = ((m.id >> $1) & $2) AND m.id <= n.dispatched_upto))
"""

_OPEN = """
SELECT id, account_id, status, source, source_ton, source_npi, destination, segments, route, route_costs,
       route_index, possible_duplicate, expires_at, scheduled_at, parts
FROM messages
WHERE final_at IS NULL AND status IN ('queued', 'sending', 'scheduled') AND id > $1 AND parts IS NOT NULL
ORDER BY id LIMIT $2
"""


async def recover(pool: asyncpg.Pool, enqueue: Callable[[SmsJob], None], *, chunk: int = 10_000) -> int:
    """Put every queued, sending or scheduled message back into dispatch; return how many."""
    await pool.execute(_FLAG, SEQUENCE_BITS, _NODE_MASK)
    resumed, last = 0, 0
    while True:
        rows = await pool.fetch(_OPEN, last, chunk)
        if not rows:
            return resumed
        for row in rows:
            enqueue(job_of_row(row))
            resumed += 1
        last = rows[-1]["id"]


def job_of_row(row: asyncpg.Record) -> SmsJob:
    """The job of a message that was queued, sending or scheduled when the engine stopped."""
    return SmsJob(
        id=row["id"],
        kind=KIND,
        account_id=row["account_id"],
        lane=row["destination"],
        route=tuple(row["route"]),
        route_index=row["route_index"],
        not_before=row["scheduled_at"].timestamp() if row["scheduled_at"] is not None else None,
        expires_at=row["expires_at"].timestamp() if row["expires_at"] is not None else None,
        possible_duplicate=row["possible_duplicate"],
        needs_mark=True,
        source=row["source"],
        source_ton=row["source_ton"],
        source_npi=row["source_npi"],
        destination=row["destination"],
        segments=row["segments"],
        route_costs=tuple(row["route_costs"]),
        parts=decode_parts(row["parts"]),
    )
