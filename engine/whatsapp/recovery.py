"""WhatsApp messages a node had not handed to Meta yet resume at start (the rule of engine/core/recovery.py).

A queued or sending row of this node (its `owner`, else the node its id names) goes back to dispatch,
flagged possible_duplicate when it was explicitly marked 'sending' or its id is at or below the node's
dispatch watermark (it may have reached Meta before the stop). Submitted rows wait for Meta's statuses.
A node taking over a dead one (engine/core/nodes.py) takes its WhatsApp rows the same way, right after
the SMS path's claim of the dead node has committed (not in that transaction: a crash in between leaves
the dead node's WhatsApp rows to the next start under its name).
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from engine.core.ids import NODE_BITS, SEQUENCE_BITS
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


async def recover_whatsapp(
    pool: asyncpg.Pool, enqueue: Callable[[WhatsAppJob], None], me: int, *, of: int | None = None
) -> int:
    """This node's own rows from its previous run (or, with `of`, a dead node's it has just claimed)."""
    rows = await pool.fetch(_TAKE, me if of is None else of, me)
    for r in sorted(rows, key=lambda r: r["id"]):
        enqueue(WhatsAppJob(
            id=r["id"], kind=KIND, account_id=r["account_id"],
            lane=f"{r['phone_number_id']}:{r['destination']}", route=(TARGET,),
            possible_duplicate=r["possible_duplicate"], needs_mark=True,
            phone_number_id=r["phone_number_id"], destination=r["destination"], payload=r["payload"].encode(),
        ))  # fmt: skip
    return len(rows)
