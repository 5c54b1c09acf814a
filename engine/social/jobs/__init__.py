"""Social jobs: posts, replies, DMs and moderation on connected accounts, through the one dispatch loop.

The facade every surface uses is `SocialJobs` (engine/social/jobs/service.py), reachable as
`engine.social.jobs` on a running `Engine` (engine/app.py; `engine.social` is the `SocialLayer` with
the account store, connectors and OAuth clients: engine/social/runtime.py):

    jobs = engine.social.jobs
    sub = await jobs.submit(account_id, social_account_id, Action.CREATE_POST, {"text": "hello"},
                            scheduled_for=None, idempotency_key=None, client_ref=None, tag=None)
    sub.job_id, sub.created                         # created False: the idempotency key's earlier job
    view = await jobs.wait(account_id, sub.job_id)   # SocialJobView once final (or at the timeout)
    view.status, view.result                         # "succeeded", {"id": "<tweet id>", "text", "url"}
    await jobs.get(account_id, job_id)               # SocialJobView | None
    await jobs.list(account_id, social_account_id=None, status=None, actions=None, tag=None,
                    before_id=None, limit=50)        # newest first
    await jobs.cancel(account_id, job_id)            # scheduled/queued only: canceled, money released
    await jobs.retry(account_id, job_id)             # a failed/canceled job again: a new job, retry_of = id
    await jobs.update(account_id, job_id, params={...}, scheduled_for=...)   # while scheduled/queued
    await jobs.read(account_id, social_account_id, Action.GET_POST, PostTarget(post_id=...))  # reads, at once
    await jobs.price_of(account_id, action); await jobs.set_price(account_id, action, micro_units)

Refusals raise `SocialJobError(code, message, status, meta)`: account_not_found 404, ACCOUNT_NEEDS_REAUTH
409, unsupported_action / invalid_params / text_too_long / invalid_text 400, INSUFFICIENT_BALANCE 402,
SERVICE_UNAVAILABLE 503, not_found 404, not_cancelable / not_retryable / not_editable 409.

Job actions are the writes of engine/social/actions.py (`model.WRITES`): post.create, post.reply,
post.delete, post.like, post.unlike, reply.hide, dm.send, dm.send_conversation; params are that
action's Struct (`actions.PARAMS`) or a dict of its fields.

A job's life: accepted by the engine's `Acceptor` in the same group commit as SMS (one `social_jobs` row
plus its reservation in the ledger: schema.py), dispatched on its lane (a DM conversation never
reorders; actions on one post wait for each other) to the target of its account and action group
(target.py) within the platform's per-account rate windows (limits.py: seed 000's 180 DMs and 200
posts per 15 minutes), retried with backoff on 5xx and timeouts, paused until x-rate-limit-reset on a
429, final after `social.max_attempts` calls; outcomes made durable with their money captured or
released and their webhook events stored in one transaction (outcomes.py); open jobs resumed after a
restart, a job in flight at a crash looked for on the platform before it is sent again (recovery.py).

Webhook events (model.SOCIAL_EVENTS), payload `outcomes.event_data`: post.published, post.failed,
post.deleted, dm.sent, dm.failed, social.action.succeeded, social.action.failed.
"""

from engine.social.jobs.model import KIND, SOCIAL_EVENTS, JobState, PreparedSocialJob, SocialJob
from engine.social.jobs.service import SocialJobError, SocialJobs, SocialJobView, Submitted

__all__ = [
    "KIND",
    "SOCIAL_EVENTS",
    "JobState",
    "PreparedSocialJob",
    "SocialJob",
    "SocialJobError",
    "SocialJobView",
    "SocialJobs",
    "Submitted",
]
