"""PostEverywhere bulk create and bulk retry, over the engine's social jobs.

    POST /v1/posts/bulk           {"posts": [{"content", "account_ids": [..], "scheduled_for"?}, ...]}
        201 every post accepted, 207 some, 422 none:
        {"summary": {"total", "succeeded", "failed"},
         "results": [{"index", "ok": true, "post": {...}}
                     | {"index", "ok": false, "error": {"code", "message"}}, ...]}
        400 bulk_limit_exceeded past 50 posts. Each post is validated on its own (one bad entry never
        stops the others) and the posts are accepted one after the other, in order.
    POST /v1/posts/retry-failed   filters post_ids, account_id, platform, failed_after, failed_before,
        max_attempts (at least one, else 400 no_filter): every failed destination matching them is
        queued again now, attempts from 0, no last error — a new job of the same params (retry_of = the
        failed one's id), so each failed destination is retried once per failure, never twice.
        {"retried_count", "destinations": [{"destination_id", "post_id", "platform", "new_status"}],
         "message"}

A post is one job per destination account (post.create), tagged `pe:<post_id>`; a post whose
destination the engine refuses midway has its already accepted destinations canceled (money released),
so a post is accepted whole or not at all. This module must never call a platform.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

from engine.core.ids import format_id, parse_id
from engine.social.actions import Action, CreatePost
from engine.social.jobs.service import SocialJobError, SocialJobs, text_check
from http_api.errors import ApiError
from http_api.operations import Call, Operation, Reply, decode_json
from http_api.posteverywhere.dialect import DIALECT
from http_api.schemas import Request, any_of_fields

MAX_POSTS = 50
MAX_POST_IDS = 200
TAG = "pe:"


class PostItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    content: Annotated[str, Meta(min_length=1, max_length=10_000, pattern=r"^[^\x00]*$")]
    account_ids: Annotated[list[Annotated[int, Meta(ge=1, le=2**53)]], Meta(min_length=1, max_length=50)]
    scheduled_for: datetime | None = None


class BulkPosts(Request, frozen=True):
    # Decoded item by item (one bad entry never refuses the others), documented as what each must be.
    json_schema_extra: ClassVar[dict[str, object]] = {
        "properties": {
            "posts": {
                "type": "array",
                "minItems": 1,
                "items": msgspec.json.schema(PostItem)["$defs"]["PostItem"],
            }
        }
    }

    posts: Annotated[list[msgspec.Raw], Meta(min_length=1)]  # decoded one by one (`_item`)


class Summary(msgspec.Struct, frozen=True):
    total: int
    succeeded: int
    failed: int


class ItemError(msgspec.Struct, frozen=True):
    code: str
    message: str


class Destination(msgspec.Struct, frozen=True):
    destination_id: str
    account_id: int
    platform: str
    status: str


class CreatedPost(msgspec.Struct, frozen=True):
    post_id: str
    content: str
    scheduled_for: str | None
    status: str
    destinations: list[Destination]
    created_at: str


class Result(msgspec.Struct, frozen=True, omit_defaults=True):
    index: int
    ok: bool
    post: CreatedPost | None = None
    error: ItemError | None = None


class BulkResult(msgspec.Struct, frozen=True):
    summary: Summary
    results: list[Result]


# The document's list; platforms without a connector here simply match no destination.
Platform = Literal[
    "instagram", "facebook", "x", "linkedin", "youtube", "tiktok", "threads", "pinterest", "bluesky",
    "telegram", "discord",
]  # fmt: skip


PostIds = Annotated[list[Annotated[str, Meta(min_length=1, max_length=64)]], Meta(max_length=MAX_POST_IDS)]


Stamp = Annotated[datetime, Meta(tz=True, description="ISO 8601 with offset")]


class RetryFilters(Request, frozen=True):
    json_schema_extra: ClassVar[dict[str, object]] = any_of_fields(
        "post_ids", "account_id", "platform", "failed_after", "failed_before", "max_attempts"
    )

    post_ids: PostIds | None = None
    account_id: Annotated[int, Meta(ge=1, le=2**53)] | None = None
    platform: Platform | None = None
    failed_after: Stamp | None = None
    failed_before: Stamp | None = None
    max_attempts: Annotated[int, Meta(ge=0, le=1000)] | None = None


class RetriedDestination(msgspec.Struct, frozen=True):
    destination_id: str  # the failed destination (job) retried
    post_id: str
    platform: str
    new_status: str
    retry_destination_id: str  # the job that now carries it


class RetryResult(msgspec.Struct, frozen=True):
    retried_count: int
    destinations: list[RetriedDestination]
    message: str


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _jobs(call: Call) -> SocialJobs:
    social = call.ctx.engine.social
    if social is None:
        raise ApiError(500, "INTERNAL_ERROR", "social features are not running on this deployment")
    return social.jobs


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _item(raw: msgspec.Raw) -> PostItem:
    try:
        item: PostItem = decode_json(PostItem, bytes(raw))  # the pipeline's strict decoding, per post
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _Refused("validation_error", str(exc)) from None
    except ApiError as exc:  # text no table can hold (U+0000, a lone surrogate)
        raise _Refused("validation_error", exc.message) from None
    return item


async def _create_one(call: Call, jobs: SocialJobs, raw: msgspec.Raw, now: datetime) -> CreatedPost:
    item = _item(raw)
    if "\x00" in item.content:
        raise _Refused("validation_error", "content cannot hold U+0000")
    if item.scheduled_for is not None:
        if item.scheduled_for.tzinfo is None:
            raise _Refused("validation_error", "scheduled_for must carry a time zone (e.g. Z)")
        if item.scheduled_for <= now:
            raise _Refused("validation_error", "scheduled_for must be in the future")
    accounts = []
    for account_id in dict.fromkeys(item.account_ids):  # checked before anything is accepted
        record = await jobs.accounts.store.get(account_id, account_id=call.account_id)
        if record is None or record.state == "disconnected":
            raise _Refused("validation_error", f"account_ids: no connected account {account_id}")
        if record.state != "active":
            raise _Refused("account_needs_reauth", f"account {account_id} needs to be connected again")
        check = text_check(record.account.platform, Action.CREATE_POST, CreatePost(text=item.content))
        if check is not None and not check.ok:
            raise _Refused(
                "validation_error", f"content on {record.account.platform}: " + "; ".join(check.problems)
            )
        accounts.append(record)
    post_id = str(uuid.uuid4())
    accepted: list[Destination] = []
    try:
        for record in accounts:
            sub = await jobs.submit(
                call.account_id, record.account.id, Action.CREATE_POST, {"text": item.content},
                scheduled_for=item.scheduled_for, tag=TAG + post_id,
            )  # fmt: skip
            status = "scheduled" if item.scheduled_for is not None else "queued"
            accepted.append(
                Destination(format_id(sub.job_id), record.account.id, record.account.platform, status)
            )
    except SocialJobError as exc:
        for done in accepted:  # a post is accepted whole or not at all
            job_id = parse_id(done.destination_id)
            if job_id is not None:
                try:
                    await jobs.cancel(call.account_id, job_id)
                except SocialJobError:  # already gone out: it stands (and is reported in the error)
                    pass
        raise _Refused(exc.code.lower(), exc.message) from None
    status = "scheduled" if item.scheduled_for is not None else "queued"
    return CreatedPost(post_id, item.content, _iso(item.scheduled_for), status, accepted, _iso(now) or "")


async def bulk_create_posts(call: Call) -> Reply:
    body = call.body_as(BulkPosts)
    if len(body.posts) > MAX_POSTS:
        raise ApiError(
            400, "bulk_limit_exceeded", f"at most {MAX_POSTS} posts per call, got {len(body.posts)}"
        )
    jobs = _jobs(call)
    results: list[Result] = []
    for index, raw in enumerate(body.posts):  # in order, one after the other
        try:
            post = await _create_one(call, jobs, raw, datetime.now(UTC))
        except _Refused as exc:
            results.append(Result(index, False, error=ItemError(exc.code, exc.message)))
        else:
            results.append(Result(index, True, post=post))
    succeeded = sum(1 for r in results if r.ok)
    status = 201 if succeeded == len(results) else 422 if succeeded == 0 else 207
    return Reply(status, BulkResult(Summary(len(results), succeeded, len(results) - succeeded), results))


_FAILED = """
SELECT j.id, j.tag, j.platform FROM social_jobs j
WHERE j.account_id = $1 AND j.action = 'post.create' AND j.status = 'failed'
  AND NOT EXISTS (SELECT 1 FROM social_jobs r WHERE r.retry_of = j.id)
  AND ($2::text[] IS NULL OR j.tag = ANY($2) OR lpad(to_hex(j.id), 16, '0') = ANY($3))
  AND ($4::bigint IS NULL OR j.social_account_id = $4)
  AND ($5::text IS NULL OR j.platform = $5)
  AND ($6::timestamptz IS NULL OR j.updated_at >= $6)
  AND ($7::timestamptz IS NULL OR j.updated_at <= $7)
  AND ($8::int IS NULL OR j.attempts < $8)
ORDER BY j.id
"""


async def retry_failed_posts(call: Call) -> Reply:
    f = call.body_as(RetryFilters)
    given = [f.post_ids, f.account_id, f.platform, f.failed_after, f.failed_before, f.max_attempts]
    if all(v is None for v in given):
        raise ApiError(
            400, "no_filter", "give at least one filter: retrying the whole failure history is refused"
        )
    jobs = _jobs(call)
    tags = [TAG + p for p in f.post_ids] if f.post_ids is not None else None
    ids = [p.lower().rjust(16, "0") for p in f.post_ids] if f.post_ids is not None else None
    retried: list[RetriedDestination] = []
    async with call.ctx.pool.acquire() as conn:
        # one retry-failed of an account at a time: a failed destination is picked once
        await conn.execute(
            "SELECT pg_advisory_lock(hashtextextended('pe-retry:' || $1::bigint, 0))", call.account_id
        )
        try:
            rows = await conn.fetch(
                _FAILED, call.account_id, tags, ids, f.account_id, f.platform, f.failed_after,
                f.failed_before, f.max_attempts,
            )  # fmt: skip
            for row in rows:
                try:
                    sub = await jobs.retry(call.account_id, row["id"])
                except SocialJobError:  # its account is gone or needs reauth: it stays failed
                    continue
                tag = row["tag"] or ""
                post_id = tag[len(TAG) :] if tag.startswith(TAG) else format_id(row["id"])
                retried.append(
                    RetriedDestination(
                        format_id(row["id"]), post_id, row["platform"], "queued", format_id(sub.job_id)
                    )
                )
        finally:
            await conn.execute(
                "SELECT pg_advisory_unlock(hashtextextended('pe-retry:' || $1::bigint, 0))", call.account_id
            )
    n = len(retried)
    return Reply(200, RetryResult(n, retried, f"{n} destination{'s' if n != 1 else ''} queued for retry."))


OPERATIONS = [
    Operation("POST", "/v1/posts/bulk", bulk_create_posts, "Create up to 50 posts in one request", None,
              "PostEverywhere", body=BulkPosts, dialect=DIALECT,
              responses={201: BulkResult, 207: BulkResult, 422: BulkResult}),
    Operation("POST", "/v1/posts/retry-failed", retry_failed_posts,
              "Retry every failed destination matching a filter", None, "PostEverywhere", body=RetryFilters,
              dialect=DIALECT, responses={200: RetryResult}),
]  # fmt: skip
