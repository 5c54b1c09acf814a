"""Applying a campaign action (submit, approve, reject, schedule, pause, resume, cancel) to its row.

One implementation for the HTTP API (the account's own keys; approve/reject need campaigns.approve) and
the operator's CLI (`smsengine campaigns approve|reject ID`): the row is locked, the state table
(runner.ACTIONS) decides, and the change is written in the caller's transaction. Locking the row waits
for a release batch in flight, so once an action returns the runner has stopped or started as it says.
This module never sends anything: the runner does, once the state says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.campaigns.runner import transition


class CampaignNotFound(LookupError):
    """No such campaign (or not the given account's)."""


class ActionRefused(Exception):
    """The state table does not allow the action in the campaign's state."""

    def __init__(self, action: str, state: str, message: str = "") -> None:
        super().__init__(message or f"cannot {action} a {state} campaign")
        self.action = action
        self.state = state


_LOCK = """SELECT c.state, c.scheduled_at, a.campaigns_trusted FROM campaigns c
JOIN accounts a ON a.id = c.account_id
WHERE c.id = $1 AND ($2::bigint IS NULL OR c.account_id = $2) FOR UPDATE OF c"""
_UPDATE = """UPDATE campaigns SET state = $2, scheduled_at = coalesce($3, scheduled_at), updated_at = now(),
    started_at = CASE WHEN $2 = 'sending' THEN coalesce(started_at, now()) ELSE started_at END,
    finished_at = CASE WHEN $2 IN ('cancelled', 'rejected') THEN now() ELSE finished_at END,
    reason = CASE WHEN $4 <> '' THEN $4 ELSE reason END,
    reviewed_by = CASE WHEN $5 <> '' THEN $5 ELSE reviewed_by END,
    reviewed_at = CASE WHEN $5 <> '' THEN now() ELSE reviewed_at END
WHERE id = $1"""
_CANCEL_PENDING = """UPDATE campaign_recipients SET state = 'rejected', code = 'CANCELLED',
reason = 'campaign cancelled' WHERE campaign_id = $1 AND state = 'pending'"""


async def apply_action(
    conn: Any,
    campaign_id: int,
    action: str,
    *,
    account_id: int | None = None,
    scheduled_at: datetime | None = None,
    reviewer: str = "",
    reason: str = "",
) -> str:
    """The campaign's state after `action`, in `conn`'s transaction; raises CampaignNotFound or
    ActionRefused. `account_id` None: the operator, for any account."""
    row = await conn.fetchrow(_LOCK, campaign_id, account_id)
    if row is None:
        raise CampaignNotFound(campaign_id)
    state = row["state"]
    target = transition(action, state, trusted=bool(row["campaigns_trusted"]))
    if target is None:
        raise ActionRefused(action, state)
    if action == "submit" and not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = $1)", campaign_id
    ):
        raise ActionRefused(action, state, "the campaign has no recipients")
    review = reviewer if action in ("approve", "reject") else ""
    await conn.execute(
        _UPDATE, campaign_id, target, scheduled_at, reason if action == "reject" else "", review
    )
    if target == "cancelled":
        await conn.execute(_CANCEL_PENDING, campaign_id)
    return str(target)
