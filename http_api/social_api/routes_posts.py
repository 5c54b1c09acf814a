"""Seed 004 Publishing: create, schedule, list, get, update, delete, retry, unpublish, metrics, import,
validate — posts are social jobs (post.create / post.reply) of the one dispatch loop.

    POST   /v1/posts                     create; with scheduled_at: schedule      201 post
    GET    /v1/posts                     status, account_id, limit, cursor        200 {data, next_cursor}
    GET    /v1/posts/{pid}               200 post
    PATCH  /v1/posts/{pid}               text, scheduled_at (while not published) 200 post
    DELETE /v1/posts/{pid}               cancel it, or take it off the platform   204
    POST   /v1/posts/{pid}/retry         a failed post again                      202 post (the new attempt)
    POST   /v1/posts/{pid}/unpublish     take a published post off the platform   200 post
    GET    /v1/posts/{pid}/metrics       likes, replies, reposts, quotes, impressions (from the platform)
    POST   /v1/posts/import              the account's recent posts on the platform, recorded as published
    GET|POST /v1/posts/validate          text (and platform): X's weighted length explained

A post's status: scheduled, publishing, published, failed, canceled, unpublished.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.core.ids import format_id, parse_id
from engine.social.actions import Action, ListPage, PostTarget
from engine.social.errors import NeedsReauth, Permanent, RateLimited, SocialError
from engine.social.jobs import SocialJobError, SocialJobView
from engine.social.text.limits import check_text
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request
from http_api.social_api.common import (
    Cursor,
    Id,
    Limit,
    PostText,
    When,
    decode_cursor,
    engine_platform,
    fail,
    job_error,
    jobs,
    operation,
    owned_social_account,
    page,
    platform_name,
    rfc3339,
)

POSTS = ("post.create", "post.reply")
_STATUS = {
    "scheduled": "scheduled",
    "queued": "publishing",
    "sending": "publishing",
    "succeeded": "published",
    "failed": "failed",
    "canceled": "canceled",
}


class SocialPostCreate(Request, frozen=True):
    account_id: Id
    text: PostText
    scheduled_at: When | None = None
    reply_to: str | None = None  # the platform id of a post to answer


class SocialPostUpdate(Request, frozen=True):
    text: PostText | None = None
    scheduled_at: When | None = None


PostStatus = Literal["scheduled", "publishing", "published", "unpublished", "failed", "canceled"]


class SocialPostList(msgspec.Struct, frozen=True, kw_only=True):
    status: PostStatus | None = None
    account_id: Id | None = None
    limit: Limit = 20
    cursor: Cursor | None = None


Platform = Literal["twitter", "x", "bluesky"]


class PostValidateQuery(msgspec.Struct, frozen=True, kw_only=True):
    text: Annotated[str, Meta(max_length=10_000)]
    platform: Platform = "twitter"


class PostValidateBody(Request, frozen=True):
    text: Annotated[str, Meta(max_length=10_000)]
    platform: Platform = "twitter"


class PostImport(Request, frozen=True):
    account_id: Id
    limit: Limit = 20


def post_view(view: SocialJobView, unpublished: bool = False) -> dict[str, Any]:
    result = view.result or {}
    status = "unpublished" if unpublished else _STATUS[view.status]
    return {
        "id": view.ref,
        "account_id": view.social_account_id,
        "platform": platform_name(view.platform),
        "text": view.params.get("text"),
        "reply_to": view.params.get("in_reply_to"),
        "status": status,
        "scheduled_at": rfc3339(view.scheduled_at),
        "published_at": rfc3339(view.final_at) if view.status == "succeeded" else None,
        "platform_post_id": result.get("id"),
        "url": result.get("url"),
        "error": {"code": view.error_code, "message": view.error} if view.status == "failed" else None,
        "attempts": view.attempts,
        "retry_of": format_id(view.retry_of) if view.retry_of else None,
        "created_at": rfc3339(view.created_at),
        "updated_at": rfc3339(view.updated_at),
    }


async def _unpublished(call: Call, ids: list[int]) -> set[int]:
    rows = await call.ctx.pool.fetch(
        """SELECT tag FROM social_jobs
           WHERE account_id = $1 AND action = 'post.delete' AND status = 'succeeded'
           AND tag = ANY($2::text[])""",
        call.account_id,
        [f"unpublish:{i}" for i in ids],
    )
    return {int(r["tag"].split(":", 1)[1]) for r in rows}


async def _post(call: Call) -> SocialJobView:
    job_id = parse_id(call.path("pid"))
    view = await jobs(call).get(call.account_id, job_id) if job_id is not None else None
    if view is None or view.action not in POSTS:
        raise fail(404, "post.not_found", "no such post")
    return view


async def _reply_post(call: Call, view: SocialJobView, status: int = 200) -> Reply:
    gone = await _unpublished(call, [view.id])
    return Reply(status, post_view(view, view.id in gone))


async def create_post(call: Call) -> Reply:
    body = call.body_as(SocialPostCreate)
    action = Action.REPLY if body.reply_to else Action.CREATE_POST
    params: dict[str, Any] = {"text": body.text}
    if body.reply_to:
        params["in_reply_to"] = body.reply_to
    try:
        sub = await jobs(call).submit(
            call.account_id, body.account_id, action, params, scheduled_for=body.scheduled_at
        )
    except SocialJobError as exc:
        raise job_error(exc) from None
    view = await jobs(call).get(call.account_id, sub.job_id)
    assert view is not None
    return Reply(201, post_view(view))


async def list_posts(call: Call) -> Reply:
    q = call.query_as(SocialPostList)
    statuses = {
        "scheduled": ["scheduled"],
        "publishing": ["queued", "sending"],
        "published": ["succeeded"],
        "unpublished": ["succeeded"],
        "failed": ["failed"],
        "canceled": ["canceled"],
    }
    if q.status is not None and q.status not in statuses:
        raise fail(400, "validation.invalid_request", f"unknown status {q.status!r}", field="status")
    views = await jobs(call).list(
        call.account_id,
        social_account_id=q.account_id,
        status=statuses[q.status] if q.status else None,
        actions=POSTS,
        before_id=decode_cursor(q.cursor),
        limit=q.limit + 1,
    )
    gone = await _unpublished(call, [v.id for v in views])
    posts = [(v, post_view(v, v.id in gone)) for v in views]
    if q.status in ("published", "unpublished"):
        posts = [(v, p) for v, p in posts if p["status"] == q.status]
    out = page(posts, q.limit, key=lambda item: item[0].id)
    return Reply(200, {"data": [p for _, p in out["data"]], "next_cursor": out["next_cursor"]})


async def get_post(call: Call) -> Reply:
    return await _reply_post(call, await _post(call))


async def update_post(call: Call) -> Reply:
    view = await _post(call)
    body = call.body_as(SocialPostUpdate)
    try:
        updated = await jobs(call).update(
            call.account_id,
            view.id,
            params={"text": body.text} if body.text is not None else None,
            scheduled_for=body.scheduled_at,
        )
    except SocialJobError as exc:
        raise job_error(exc) from None
    return Reply(200, post_view(updated))


async def _unpublish(call: Call, view: SocialJobView) -> SocialJobView:
    post_id = (view.result or {}).get("id")
    if view.status != "succeeded" or not post_id:
        raise fail(409, "post.not_published", f"the post is {_STATUS[view.status]}")
    try:
        sub = await jobs(call).submit(
            call.account_id,
            view.social_account_id,
            Action.DELETE_POST,
            {"post_id": post_id},
            tag=f"unpublish:{view.id}",
            idempotency_key=f"unpublish:{view.id}",
        )
    except SocialJobError as exc:
        raise job_error(exc) from None
    done = await jobs(call).wait(call.account_id, sub.job_id, within=20.0)
    if done.status != "succeeded":
        raise fail(502, "platform.error", done.error or "the platform did not remove the post")
    return view


async def delete_post(call: Call) -> Reply:
    view = await _post(call)
    if view.status in ("scheduled", "queued"):
        try:
            await jobs(call).cancel(call.account_id, view.id)
        except SocialJobError as exc:
            raise job_error(exc) from None
    elif view.status == "succeeded" and view.id not in await _unpublished(call, [view.id]):
        await _unpublish(call, view)
    elif view.status == "sending":
        raise fail(409, "post.publishing", "the post is being published; try again in a moment")
    return Reply(204, b"")


async def retry_post(call: Call) -> Reply:
    view = await _post(call)
    try:
        sub = await jobs(call).retry(call.account_id, view.id)
    except SocialJobError as exc:
        raise job_error(exc) from None
    new = await jobs(call).get(call.account_id, sub.job_id)
    assert new is not None
    return Reply(202, post_view(new))


async def unpublish_post(call: Call) -> Reply:
    view = await _post(call)
    if view.id in await _unpublished(call, [view.id]):
        raise fail(409, "post.not_published", "the post is unpublished already")
    await _unpublish(call, view)
    return Reply(200, post_view(view, True))


async def _platform_call(call: Call, social_account_id: int, action: Action, params: msgspec.Struct) -> Any:
    try:
        return await jobs(call).read(call.account_id, social_account_id, action, params)
    except RateLimited as exc:
        raise fail(
            429,
            "rate_limit.platform",
            "the platform's rate limit for this account is spent",
            reset_at=rfc3339(exc.reset_at),
        ) from None
    except NeedsReauth as exc:
        raise fail(409, "account.needs_reauth", exc.message) from None
    except Permanent as exc:
        raise fail(404 if exc.code == "not_found" else 502, f"platform.{exc.code}", exc.message) from None
    except (SocialError, KeyError) as exc:
        raise fail(502, "platform.error", str(exc)) from None


async def post_metrics(call: Call) -> Reply:
    view = await _post(call)
    post_id = (view.result or {}).get("id")
    if view.status != "succeeded" or not post_id:
        raise fail(409, "post.not_published", "metrics exist once the post is published")
    post = await _platform_call(call, view.social_account_id, Action.GET_POST, PostTarget(post_id=post_id))
    m = post.metrics
    metrics = msgspec.to_builtins(m) if m is not None else {}
    return Reply(
        200,
        {
            "post_id": view.ref,
            "platform_post_id": post_id,
            "metrics": metrics,
            "fetched_at": rfc3339(datetime.now(UTC)),
        },
    )


async def import_posts(call: Call) -> Reply:
    body = call.body_as(PostImport)
    record = await owned_social_account(call, body.account_id)
    listed = await _platform_call(call, body.account_id, Action.LIST_POSTS, ListPage(limit=body.limit))
    known = {
        r["pid"]
        for r in await call.ctx.pool.fetch(
            "SELECT result->>'id' AS pid FROM social_jobs WHERE social_account_id = $1 AND result ? 'id'",
            body.account_id,
        )
    }
    ids = jobs(call)
    imported = []
    for post in listed.items[: body.limit]:
        if post.id in known:
            continue
        job_id = ids.new_id()
        params = {"text": post.text} | ({"in_reply_to": post.in_reply_to} if post.in_reply_to else {})
        result = {"id": post.id, "text": post.text, "url": post.url}
        await call.ctx.pool.execute(
            """INSERT INTO social_jobs (id, account_id, social_account_id, platform, action, params, lane,
                   status, created_at, updated_at, final_at, result, tag)
               VALUES ($1, $2, $3, $4, $5, $6, $7,
                   'succeeded', coalesce($8, now()), now(), coalesce($8, now()), $9, 'import')""",
            job_id,
            call.account_id,
            body.account_id,
            record.account.platform,
            "post.reply" if post.in_reply_to else "post.create",
            msgspec.json.encode(params).decode(),
            f"{body.account_id}:import:{job_id}",
            post.created_at,
            msgspec.json.encode(result).decode(),
        )
        view = await ids.get(call.account_id, job_id)
        assert view is not None
        imported.append(post_view(view))
    return Reply(200, {"imported": len(imported), "data": imported})


def _validate(text: str, platform: str) -> dict[str, Any]:
    check = check_text(engine_platform(platform), "post", text)
    return {
        "valid": check.ok,
        "platform": platform,
        "length": check.length,
        "limit": check.limit,
        "remaining": check.limit - check.length,
        "unit": check.unit,
        "problems": list(check.problems),
        "segments": msgspec.to_builtins(check.segments),
    }


async def validate_get(call: Call) -> Reply:
    q = call.query_as(PostValidateQuery)
    return Reply(200, _validate(q.text, q.platform))


async def validate_post(call: Call) -> Reply:
    body = call.body_as(PostValidateBody)
    return Reply(200, _validate(body.text, body.platform))


def _op(method: str, path: str, handler: Any, summary: str, permission: str, **more: Any) -> Operation:
    return operation(method, path, handler, summary, permission, "Publishing", **more)


OPERATIONS = [
    _op(
        "POST",
        "/v1/posts",
        create_post,
        "Create a post (scheduled_at: schedule it)",
        "social.write",
        body=SocialPostCreate,
        ok=201,
    ),
    _op("GET", "/v1/posts", list_posts, "List posts", "social.read", query=SocialPostList),
    _op(
        "GET",
        "/v1/posts/validate",
        validate_get,
        "Validate a post's text",
        "social.read",
        query=PostValidateQuery,
    ),
    _op(
        "POST",
        "/v1/posts/validate",
        validate_post,
        "Validate a post's text",
        "social.read",
        body=PostValidateBody,
    ),
    _op(
        "POST",
        "/v1/posts/import",
        import_posts,
        "Import the account's recent posts",
        "social.write",
        body=PostImport,
    ),
    _op("GET", "/v1/posts/{pid}", get_post, "Get a post", "social.read"),
    _op(
        "PATCH",
        "/v1/posts/{pid}",
        update_post,
        "Update a post not yet published",
        "social.write",
        body=SocialPostUpdate,
    ),
    _op("DELETE", "/v1/posts/{pid}", delete_post, "Delete a post", "social.write", ok=204),
    _op("POST", "/v1/posts/{pid}/retry", retry_post, "Retry a failed post", "social.write", ok=202),
    _op("POST", "/v1/posts/{pid}/unpublish", unpublish_post, "Take a post off the platform", "social.write"),
    _op("GET", "/v1/posts/{pid}/metrics", post_metrics, "A post's metrics", "social.read"),
]
