"""Recovery of social jobs: a node's open jobs resume where they stood, with the rule of SMS recovery.

At start (this node's own jobs from its previous run) and when this node takes over a dead one
(engine/core/nodes.py), open jobs (scheduled, queued, sending) owned by the node — `owner`, else the node
the id names — become this node's and go back to the dispatch loop. A job found 'sending' was marked
before it went out and may have reached the platform: it is flagged possible_duplicate, and its target
looks for it on the platform before calling again (engine/social/jobs/target.py), so a post in flight at
a crash is published once. Scheduled jobs wait for their time again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from engine.core.ids import NODE_BITS, SEQUENCE_BITS
from engine.core.recovery import Conn, Resume, Taker
from engine.social.actions import Action
from engine.social.jobs.model import KIND, SocialJob, target_name

_NODE_MASK = (1 << NODE_BITS) - 1
_OWNER = f"coalesce(j.owner, ((j.id >> {SEQUENCE_BITS}) & {_NODE_MASK})::integer)"

_TAKE = f"""
UPDATE social_jobs j SET owner = $2, possible_duplicate = j.possible_duplicate OR j.status = 'sending'
WHERE j.final_at IS NULL AND j.status IN ('queued', 'sending', 'scheduled') AND {_OWNER} = $1
RETURNING j.id, j.account_id, j.social_account_id, j.platform, j.action, j.lane, j.scheduled_at,
          j.possible_duplicate, j.attempts
"""


def social_taker(admit: Callable[[Sequence[SocialJob]], None]) -> Taker:
    """The node's open social jobs (in the caller's transaction), admitted to the loop after it."""

    async def take(conn: Conn, old: int, me: int) -> Resume:
        rows = await conn.fetch(_TAKE, old, me)
        return lambda: resume(rows, admit)

    return take


def resume(rows: Sequence[asyncpg.Record], enqueue: Callable[[Sequence[SocialJob]], None]) -> int:
    jobs = [job_of_row(row) for row in sorted(rows, key=lambda r: r["id"])]
    if jobs:
        enqueue(jobs)
    return len(jobs)


def job_of_row(row: asyncpg.Record) -> SocialJob:
    action = Action(row["action"])
    scheduled = row["scheduled_at"]
    return SocialJob(
        id=row["id"],
        kind=KIND,
        account_id=row["account_id"],
        lane=row["lane"],
        route=(target_name(row["social_account_id"], action),),
        not_before=scheduled.timestamp() if scheduled is not None else None,
        possible_duplicate=row["possible_duplicate"],
        needs_mark=True,
        social_account_id=row["social_account_id"],
        platform=row["platform"],
        action=action,
    )
