"""Restart recovery: every message that is not final resumes where it stood.

- queued: dispatched again (it never left);
- sending: sent again once, flagged possible_duplicate (the carrier may have it: we cannot know);
  parts already recorded as submitted are not sent again;
- submitted: nothing to do, its receipt will come (the carrier redelivers unacknowledged receipts).

Pending receipts and MO owed to customers need nothing here: they are rows of `deliveries`, which the
forwarder's sweeper picks up, and stored MO parts are restored by CarrierInbound.restore().
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import asyncpg

from engine.core.intake import PartSpec
from engine.core.lifecycle import PartSubmitted
from engine.dispatch.dispatcher import DispatchJob

_OPEN = """
SELECT id, status, source, source_ton, source_npi, destination, segments, route, route_costs, route_index,
       possible_duplicate, expires_at, scheduled_at
FROM messages WHERE final_at IS NULL AND status IN ('queued', 'sending') AND id > $1
ORDER BY id LIMIT $2
"""
_PARTS = """
SELECT message_id, part, short_message, esm_class, data_coding, sar, payload, status, carrier,
       carrier_key, carrier_message_id
FROM message_parts WHERE message_id = ANY($1::bigint[]) ORDER BY message_id, part
"""


async def recover(pool: asyncpg.Pool, enqueue: Callable[[DispatchJob], None], *, chunk: int = 10_000) -> int:
    """Put every queued or sending message back into dispatch; return how many."""
    await pool.execute(
        "UPDATE messages SET possible_duplicate = true WHERE final_at IS NULL AND status = 'sending'"
    )
    resumed, last = 0, 0
    while True:
        rows = await pool.fetch(_OPEN, last, chunk)
        if not rows:
            return resumed
        parts: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for p in await pool.fetch(_PARTS, [r["id"] for r in rows]):
            parts[p["message_id"]].append(p)
        for row in rows:
            specs = tuple(
                PartSpec(p["short_message"], p["esm_class"], p["data_coding"],
                         tuple(p["sar"]) if p["sar"] else None, p["payload"])
                for p in parts[row["id"]]
            )  # fmt: skip
            submitted = {
                p["part"]: PartSubmitted(p["part"], p["carrier"], p["carrier_message_id"], p["carrier_key"])
                for p in parts[row["id"]]
                if p["status"] == "submitted" and p["carrier_key"] is not None
            }
            enqueue(
                DispatchJob(
                    message_id=row["id"],
                    source=row["source"],
                    source_ton=row["source_ton"],
                    source_npi=row["source_npi"],
                    destination=row["destination"],
                    segments=row["segments"],
                    route=tuple(row["route"]),
                    route_costs=tuple(row["route_costs"]),
                    route_index=row["route_index"],
                    parts=specs,
                    submitted=submitted,
                    possible_duplicate=row["possible_duplicate"],
                    expires_at=row["expires_at"],
                    scheduled_at=row["scheduled_at"],
                )
            )
            resumed += 1
        last = rows[-1]["id"]
