"""The social kind's schema for the accept path: a prepared social job's row, its hold, its dispatch job.

`SOCIAL` is the `JobSchema` (engine/core/job_schema.py) of `PreparedSocialJob`: one `social_jobs` row,
written by the same group commit as SMS rows, its price held in the same ledger call (one posting per
account and platform per batch: billing.items), then a `SocialJob` for the dispatch loop. Every social
job is marked 'sending' on its own row before it goes out (`needs_mark`): social jobs are few and each
must be known to have maybe reached the platform, so recovery can look for it there before sending again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from billing.items import ItemHold
from engine.social.jobs.model import KIND, TABLE, JobState, PreparedSocialJob, SocialJob, target_name

COLUMNS = (
    "id", "account_id", "social_account_id", "platform", "action", "params", "lane", "status",
    "scheduled_at", "created_at", "updated_at", "idempotency_key", "client_ref", "tag", "retry_of",
    "amount", "money", "carrier", "reserve_batch",
)  # fmt: skip


class SocialJobSchema:
    kind: str = KIND
    table: str = TABLE
    columns: Sequence[str] = COLUMNS

    def item_id(self, item: PreparedSocialJob) -> int:
        return item.id

    def row(self, item: PreparedSocialJob, now: datetime, batch: int) -> tuple[object, ...]:
        j = item
        scheduled = j.scheduled_at is not None and j.scheduled_at > now
        status = JobState.SCHEDULED.value if scheduled else JobState.QUEUED.value
        charged = j.amount > 0
        return (
            j.id, j.account_id, j.social_account_id, j.platform, j.action.value, j.params, j.lane, status,
            j.scheduled_at, now, now, j.idempotency_key, j.client_ref, j.tag, j.retry_of,
            j.amount, "reserved" if charged else "none", j.platform, batch if charged else None,
        )  # fmt: skip

    def hold(self, item: PreparedSocialJob) -> ItemHold | None:
        if item.amount <= 0:
            return None
        return ItemHold(item.account_id, item.amount, 1, "", item.platform)

    def job(self, item: PreparedSocialJob) -> SocialJob:
        return SocialJob(
            id=item.id,
            kind=KIND,
            account_id=item.account_id,
            lane=item.lane,
            route=(target_name(item.social_account_id, item.action),),
            not_before=item.scheduled_at.timestamp() if item.scheduled_at is not None else None,
            needs_mark=True,
            social_account_id=item.social_account_id,
            platform=item.platform,
            action=item.action,
        )


SOCIAL = SocialJobSchema()
