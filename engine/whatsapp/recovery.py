"""WhatsApp messages a node had not handed to Meta yet resume at start (the rule of engine/core/recovery.py).

A queued or sending row of this node (its `owner`, else the node its id names) goes back to dispatch,
flagged possible_duplicate when it was explicitly marked 'sending' or its id is at or below the node's
dispatch watermark (it may have reached Meta before the stop). Submitted rows wait for Meta's statuses.
A node taking over a dead one (engine/core/nodes.py) takes its WhatsApp rows the same way, in the
transaction that claims the dead node (engine/core/recovery.py `Taker`).
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from engine.core.ids import NODE_BITS, SEQUENCE_BITS
from engine.core.recovery import Conn, Resume, Taker
from engine.dispatch.whatsapp import KIND, TARGET, WhatsAppJob

_NODE_MASK = (1 << NODE_BITS) - 1
_TAKE = f"""
WITH w AS (SELECT dispatched_upto FROM engine_nodes WHERE node = $1)
UPDATE whatsapp_messages m SET owner = $2,
    possible_duplicate = m.possible_duplicate OR m.status = 'sending'
        OR (m.status = 'queued' AND m.owner IS NULL AND m.id <= coalesce((SELECT dispatched_upto FROM w), 0))
WHERE m.final_at IS NULL AND m.status IN ('queued', 'sending')
  AND coalesce(m.owner, ((m.id >> {SEQUENCE_BITS}) & {_NODE_MASK})::integer) = $1
RETURNING m.id, m.account_id, m.phone_number_id, m.destination, m.payload::text AS payload,
          m.possible_duplicate
"""


def whatsapp_taker(enqueue: Callable[[WhatsAppJob], None]) -> Taker:
    """The node's WhatsApp rows not yet handed to Meta (in the caller's transaction), resumed after it."""

    async def take(conn: Conn, old: int, me: int) -> Resume:
        rows = sorted(await conn.fetch(_TAKE, old, me), key=lambda r: r["id"])
        return lambda: _resume(rows, enqueue)

    return take


def _resume(rows: list[asyncpg.Record], enqueue: Callable[[WhatsAppJob], None]) -> int:
    for r in rows:
        enqueue(WhatsAppJob(
            id=r["id"], kind=KIND, account_id=r["account_id"],
            lane=f"{r['phone_number_id']}:{r['destination']}", route=(TARGET,),
            possible_duplicate=r["possible_duplicate"], needs_mark=True,
            phone_number_id=r["phone_number_id"], destination=r["destination"], payload=r["payload"].encode(),
        ))  # fmt: skip
    return len(rows)
