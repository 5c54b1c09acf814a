"""What a social job is: the accepted request, the dispatch job, its states, lanes, target groups, events.

A social job is one `Action` (engine/social/actions.py) with its params on one connected account. On
accept it is a `PreparedSocialJob` (the row the group commit writes); in the dispatch loop a `SocialJob`.

- **Lane** (`lane_of`): jobs of one lane go out one at a time, in order, through retries — a DM
  conversation (by conversation id, or by recipient for a DM to a user), or the post an action is
  about (a like, hide or delete waits behind an earlier action on the same post). New posts have a lane
  of their own each.
- **Target** (`target_name`): one per (connected account, action group), so a DM window that is spent
  does not hold posts back, and a 429 pauses only the group it was for.
- **Events** (`event_of`): the webhook event an outcome raises, seed 000's names where it has one.
This module holds data and pure functions only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from engine.dispatch.job import Job
from engine.social.actions import PARAMS, Action

KIND = "social"
TABLE = "social_jobs"
# The platforms a job may go to; each job's ledger posting names its platform as carrier, no country.
SOCIAL_PLATFORMS = ("x", "bluesky")


class JobState(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"  # marked before it goes out: after a crash it may have reached the platform
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


OPEN_STATES = frozenset({JobState.SCHEDULED, JobState.QUEUED, JobState.SENDING})

# Actions a job may carry (the reads are the poller's and the surfaces' own business, not jobs).
WRITES = frozenset({
    Action.CREATE_POST, Action.DELETE_POST, Action.REPLY, Action.LIKE, Action.UNLIKE, Action.HIDE_REPLY,
    Action.SEND_DM, Action.SEND_CONVERSATION_DM,
})  # fmt: skip
# Actions whose repetition would show twice on the platform: after a crash mid-call they are looked
# for on the platform before being sent again (engine/social/jobs/target.py).
PUBLISHING = frozenset({Action.CREATE_POST, Action.REPLY, Action.SEND_DM, Action.SEND_CONVERSATION_DM})

_GROUP = {
    Action.CREATE_POST: "post", Action.REPLY: "post", Action.DELETE_POST: "moderation",
    Action.LIKE: "moderation", Action.UNLIKE: "moderation", Action.HIDE_REPLY: "moderation",
    Action.SEND_DM: "dm", Action.SEND_CONVERSATION_DM: "dm",
}  # fmt: skip


class PreparedSocialJob(msgspec.Struct, frozen=True, kw_only=True):
    """A social job ready for the accept path's group commit (engine/social/jobs/schema.py)."""

    id: int
    account_id: int
    social_account_id: int
    platform: str
    action: Action
    params: str  # JSON of PARAMS[action]
    lane: str
    amount: int = 0  # micro-units held at accept, captured on success, released on final failure
    scheduled_at: datetime | None = None
    idempotency_key: str | None = None
    client_ref: str | None = None
    tag: str | None = None
    retry_of: int | None = None


class SocialJob(Job, kw_only=True):
    """A social job in the dispatch loop. `result` / `error_code` are filled by its attempt."""

    social_account_id: int
    platform: str
    action: Action
    result: dict[str, Any] | None = None
    error_code: str | None = None  # a final failure's code: ACCOUNT_NEEDS_REAUTH, a Permanent code, ...
    skip: bool = False  # the row was final before the attempt (canceled): the outcome changes nothing
    admit_before_mark: bool = True  # waits for a platform window unmarked: queued, not 'sending'


def group_of(action: Action) -> str:
    return _GROUP[action]


def target_name(social_account_id: int, action: Action) -> str:
    return f"social:{social_account_id}:{group_of(action)}"


def lane_of(social_account_id: int, action: Action, params: msgspec.Struct, job_id: int) -> str:
    """The lane key of a job (see the module docstring)."""
    base = f"{social_account_id}:"
    if action is Action.SEND_CONVERSATION_DM:
        return base + "dm:c:" + str(params.conversation_id)  # type: ignore[attr-defined]
    if action is Action.SEND_DM:
        return base + "dm:u:" + str(params.recipient_id)  # type: ignore[attr-defined]
    if action in (Action.DELETE_POST, Action.LIKE, Action.UNLIKE):
        return base + "post:" + str(params.post_id)  # type: ignore[attr-defined]
    if action is Action.HIDE_REPLY:
        return base + "post:" + str(params.reply_id)  # type: ignore[attr-defined]
    return base + "new:" + str(job_id)


def decode_params(action: Action, params: str | bytes) -> msgspec.Struct:
    return msgspec.json.decode(params, type=PARAMS[action])


def event_of(action: Action, ok: bool) -> str:
    """The webhook event an outcome raises (seed 000: post.published, post.deleted, dm.sent, dm.failed)."""
    if action in (Action.CREATE_POST, Action.REPLY):
        return "post.published" if ok else "post.failed"
    if action in (Action.SEND_DM, Action.SEND_CONVERSATION_DM):
        return "dm.sent" if ok else "dm.failed"
    if action is Action.DELETE_POST and ok:
        return "post.deleted"
    return "social.action.succeeded" if ok else "social.action.failed"


# Every event social jobs and the inbox raise, for webhook subscriptions and event catalogs.
SOCIAL_EVENTS = (
    "post.published", "post.failed", "post.deleted", "dm.sent", "dm.failed", "dm.received",
    "comment.received", "mention.received", "social.action.succeeded", "social.action.failed",
)  # fmt: skip
