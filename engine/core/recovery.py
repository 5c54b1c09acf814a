"""Recovery: a node's messages that were not with a carrier yet resume where they stood.

Used twice, with one rule: at start, for this node's own messages (its previous run under the same name),
and when this node takes over a dead one (engine/core/nodes.py), for that node's. A message belongs to
`owner` when set, else to the node its id names.

- queued: dispatched again; flagged possible_duplicate when its id is at or below its node's dispatch
  watermark (it may have reached the carrier before the crash: engine/dispatch/marks.py), not otherwise;
- sending (explicitly marked before going out): sent again once, flagged possible_duplicate;
- scheduled: waits for its time again;
- submitted: nothing to do, its receipt will come (the carrier redelivers unacknowledged receipts), and
  `carrier_keys` holds what a receipt needs to find it, whichever node it reaches.

A message's carrier ids are recorded when all its parts are accepted, so a multipart message cut short
by the crash is sent again whole (flagged, as above). Every job recovered here is marked row by row
before it goes out (its id is under another run's watermark), which also records its new owner. Taking
over is one transaction: claiming the dead node and becoming the owner of its messages and MO parts
commit together, so a crash in between leaves nothing without an owner. Pending receipts and MO owed to
customers are rows of `deliveries`, claimed by lease, except the receipts the node was sending from memory
(engine/outbox/forwarder.py): its `receipt_batches` rows become `deliveries` rows here (`receipts_taker`),
so each of those receipts goes out again — at least once: some had been acknowledged before the crash.

Every job kind recovers the same way, through a `Taker`: in the one transaction that claims the node,
each kind becomes the owner of the node's open rows and hands back what resumes them once the transaction
has committed (SMS here, WhatsApp in engine/whatsapp/recovery.py, social jobs in
engine/social/jobs/recovery.py). A crash part-way through taking a dead node over leaves the node
unclaimed and every kind's rows where they were, for the next node to take whole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import asyncpg.pool

from engine.core.ids import NODE_BITS, SEQUENCE_BITS
from engine.core.parts import decode_parts
from engine.dispatch.sms import KIND, SmsJob

_NODE_MASK = (1 << NODE_BITS) - 1
_OWNER = f"coalesce(m.owner, ((m.id >> {SEQUENCE_BITS}) & {_NODE_MASK})::integer)"

# $1: the node whose messages these were; $2: the new owner. Flags by the old node's watermark.
_TAKE = f"""
WITH w AS (SELECT dispatched_upto FROM engine_nodes WHERE node = $1)
UPDATE messages m SET owner = $2,
    possible_duplicate = m.possible_duplicate OR m.status = 'sending'
        OR (m.status = 'queued' AND m.owner IS NULL AND m.id <= coalesce((SELECT dispatched_upto FROM w), 0))
WHERE m.final_at IS NULL AND m.status IN ('queued', 'sending', 'scheduled') AND m.parts IS NOT NULL
  AND {_OWNER} = $1
RETURNING m.id, m.account_id, m.status, m.source, m.source_ton, m.source_npi, m.destination, m.segments,
          m.route, m.route_costs, m.route_index, m.possible_duplicate, m.expires_at, m.scheduled_at, m.parts
"""
_CLAIM_DEAD = """
UPDATE engine_nodes SET adopted_by = $2, adopted_at = now()
WHERE node = $1 AND adopted_by IS NULL AND heartbeat_at < now() - make_interval(secs => lease_seconds)
RETURNING node
"""
# Parts written before nodes were recorded (node NULL) go to the first node that recovers.
_MO_PARTS = "UPDATE mo_parts SET node = $2 WHERE node = $1 OR (node IS NULL AND $1 = $2) RETURNING *"

# The receipts a node held in memory, owed again as rows any node may send (the customer may be bound
# anywhere now); a receipt that already has a row of its own (it was refused before the crash) gets no second.
# $1: the node; $2: batch rows still held in its memory (left alone); $3: only rows older than this many
# seconds. Recovery takes them all; a running forwarder takes its own orphans (engine/outbox/forwarder.py).
UNHOLD = """
WITH b AS (
    DELETE FROM receipt_batches
    WHERE node = $1 AND NOT (id = ANY($2::bigint[])) AND created_at <= now() - make_interval(secs => $3)
    RETURNING message_ids)
INSERT INTO deliveries (account_id, kind, message_id)
SELECT m.account_id, 'receipt', m.id FROM messages m
WHERE m.id IN (SELECT unnest(message_ids) FROM b) AND m.final_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.kind = 'receipt' AND d.message_id = m.id)
"""
MoRestore = Callable[[list[asyncpg.Record]], object]
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
Resume = Callable[[], int]  # puts the taken jobs back to work; how many they were
# A job kind's part of recovery: (conn, old node, me) -> own the old node's open rows in the caller's
# transaction, and say how to resume them after it commits.
Taker = Callable[[Conn, int, int], Awaitable[Resume]]


async def recover(pool: asyncpg.Pool, me: int, takers: Sequence[Taker]) -> int:
    """This node's own open jobs of every kind from its previous run: back at work; how many."""
    async with pool.acquire() as conn, conn.transaction():
        resumes = [await take(conn, me, me) for take in takers]
    return sum(resume() for resume in resumes)


async def adopt(pool: asyncpg.Pool, me: int, dead: int, takers: Sequence[Taker]) -> int | None:
    """Take over a dead node: claim it and own its open jobs of every kind, in one transaction. None: not
    ours to take (another node claimed it first, or it is alive again)."""
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(_CLAIM_DEAD, dead, me) is None:
            return None
        resumes = [await take(conn, dead, me) for take in takers]
    return sum(resume() for resume in resumes)


def sms_taker(enqueue: Callable[[SmsJob], None], restore_mo: MoRestore) -> Taker:
    """SMS: the node's messages not yet with a carrier, and its MO parts still being reassembled."""

    async def take(conn: Conn, old: int, me: int) -> Resume:
        rows = await conn.fetch(_TAKE, old, me)
        parts = await conn.fetch(_MO_PARTS, old, me)
        return lambda: _resume(rows, parts, enqueue, restore_mo)

    return take


def receipts_taker(sweep: Callable[[], None]) -> Taker:
    """Receipts owed to customers that the node sent from memory: rows of `deliveries` again."""

    async def take(conn: Conn, old: int, me: int) -> Resume:
        owed = int((await conn.execute(UNHOLD, old, [], 0.0)).split()[-1])

        def resume() -> int:
            if owed:
                sweep()  # the forwarder's sweeper finds them now (other nodes within a sweep interval)
            return 0  # no jobs: deliveries are not dispatched

        return resume

    return take


def _resume(
    rows: list[asyncpg.Record], parts: list[asyncpg.Record], enqueue: Callable[[SmsJob], None],
    restore_mo: MoRestore,
) -> int:  # fmt: skip
    for row in sorted(rows, key=lambda r: r["id"]):
        enqueue(job_of_row(row))
    if parts:
        restore_mo(sorted(parts, key=lambda r: r["id"]))
    return len(rows)


def job_of_row(row: asyncpg.Record) -> SmsJob:
    """The job of a message that was queued, sending or scheduled when its node stopped."""
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
