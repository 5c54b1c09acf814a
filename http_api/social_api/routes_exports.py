"""Seed 004 Exports, the accounts' creator info and pages, reviews, and the OAuth GET callback.

POST /v1/accounts/{id}/export        {from?, to?}: 201 the export, its rows written at once: every
                                     post and reply the account published in [from, to)
GET  /v1/exports                     {data, next_cursor} (rows left out)
GET  /v1/exports/{id}                the export with its rows
GET  /v1/exports/{id}/videos         its rows that carried a video (posts here are text: none yet)
GET  /v1/accounts/{id}/creator-info  the platform's own profile of the account and what it may post
GET  /v1/accounts/{id}/pages         501 platform.unsupported: X and Bluesky have no pages
PATCH /v1/accounts/{id}/pages/{pageId}  the same
GET  /v1/inbox/reviews               ?account_id: 501 for a platform without reviews; without it
                                     the reviews of every connected account (none has any yet)
POST /v1/inbox/reviews/{id}/reply    404 review.not_found (no platform here keeps reviews)
GET  /v1/oauth/callback              ?state&code from the platform's redirect: finishes a connect
                                     (the state is the credential), 201 the account; 422 oauth.* for a
                                         denial or an unknown, used or expired state
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from engine.core.ids import format_id
from engine.social.actions import Action, NoParams
from engine.social.errors import Permanent, SocialError
from engine.social.text.limits import X_DM_MAX_CHARACTERS
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request
from http_api.social_api.common import (
    DIALECT,
    Cursor,
    Limit,
    When,
    decode_cursor,
    fail,
    operation,
    owned_social_account,
    page,
    platform_name,
    rfc3339,
    social,
)

REVIEW_PLATFORMS: frozenset[str] = frozenset()  # google_business, facebook ... when their connectors come


class ExportCreate(Request, frozen=True):
    from_: When | None = msgspec.field(default=None, name="from")
    to: When | None = None


class ExportListing(msgspec.Struct, frozen=True, kw_only=True):
    limit: Limit = 20
    cursor: Cursor | None = None


class ReviewListing(msgspec.Struct, frozen=True, kw_only=True):
    account_id: Annotated[int, Meta(ge=1, le=2**63 - 1)] | None = None
    limit: Limit = 20
    cursor: Cursor | None = None


class ReviewReply(Request, frozen=True):
    text: Annotated[str, Meta(min_length=1, max_length=4096)]


class PagePatch(Request, frozen=True):
    name: Annotated[str, Meta(max_length=200)] | None = None
    enabled: bool | None = None


class CallbackQuery(msgspec.Struct, frozen=True, kw_only=True):
    state: Annotated[str, Meta(min_length=1, max_length=200)]
    code: Annotated[str, Meta(min_length=1, max_length=2000)] | None = None
    error: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    error_description: Annotated[str, Meta(max_length=1000)] | None = None


def _id(call: Call, name: str = "id") -> int:
    raw = call.path(name)
    return int(raw) if raw.isdigit() and len(raw) < 19 else -1


# ----------------------------------------------------------------------------------------- exports


def _export_view(r: Any, rows: bool) -> dict[str, Any]:
    data = r["rows"] if not isinstance(r["rows"], str) else msgspec.json.decode(r["rows"])
    out = {
        "id": r["id"],
        "account_id": r["social_account_id"],
        "status": r["status"],
        "from": rfc3339(r["from_at"]),
        "to": rfc3339(r["to_at"]),
        "row_count": len(data),
        "created_at": rfc3339(r["created_at"]),
        "completed_at": rfc3339(r["completed_at"]),
    }
    if rows:
        out["rows"] = data
    return out


async def create_export(call: Call) -> Reply:
    record = await owned_social_account(call, _id(call))
    body = call.body_as(ExportCreate) if call.body is not None else ExportCreate()
    if body.from_ is not None and body.to is not None and body.to <= body.from_:
        raise fail(400, "validation.invalid_range", "to must be after from", field="to")
    jobs = await call.ctx.pool.fetch(
        """SELECT id, action, params, result, final_at FROM social_jobs
           WHERE account_id = $1 AND social_account_id = $2 AND status = 'succeeded'
             AND action IN ('post.create', 'post.reply')
             AND ($3::timestamptz IS NULL OR final_at >= $3) AND ($4::timestamptz IS NULL OR final_at < $4)
           ORDER BY final_at, id""",
        call.account_id,
        record.account.id,
        body.from_,
        body.to,
    )
    rows = []
    for j in jobs:
        params = msgspec.json.decode(j["params"]) if isinstance(j["params"], str) else j["params"]
        result = msgspec.json.decode(j["result"]) if isinstance(j["result"], str) else (j["result"] or {})
        rows.append(
            {
                "post_id": format_id(j["id"]),
                "platform_post_id": result.get("id"),
                "url": result.get("url"),
                "type": "reply" if j["action"] == "post.reply" else "post",
                "text": params.get("text", ""),
                "media_ids": list(params.get("media_ids", [])),
                "media_type": params.get("media_type"),
                "published_at": rfc3339(j["final_at"]),
            }
        )
    row = await call.ctx.pool.fetchrow(
        """INSERT INTO social_exports (account_id, social_account_id, status, from_at, to_at, rows,
                                      completed_at)
           VALUES ($1, $2, 'completed', $3, $4, $5, now()) RETURNING *""",
        call.account_id,
        record.account.id,
        body.from_,
        body.to,
        msgspec.json.encode(rows).decode(),
    )
    return Reply(201, _export_view(row, rows=True))


async def _export(call: Call) -> Any:
    row = await call.ctx.pool.fetchrow(
        "SELECT * FROM social_exports WHERE id = $1 AND account_id = $2", _id(call), call.account_id
    )
    if row is None:
        raise fail(404, "export.not_found", "no such export")
    return row


async def list_exports(call: Call) -> Reply:
    q = call.query_as(ExportListing)
    rows = await call.ctx.pool.fetch(
        "SELECT * FROM social_exports WHERE account_id = $1 AND ($2::bigint IS NULL OR id < $2)"
        " ORDER BY id DESC LIMIT $3",
        call.account_id,
        decode_cursor(q.cursor),
        q.limit + 1,
    )
    out = page(list(rows), q.limit, key=lambda r: r["id"])
    out["data"] = [_export_view(r, rows=False) for r in out["data"]]
    return Reply(200, out)


async def get_export(call: Call) -> Reply:
    return Reply(200, _export_view(await _export(call), rows=True))


async def export_videos(call: Call) -> Reply:
    view = _export_view(await _export(call), rows=True)
    return Reply(
        200, {"data": [r for r in view["rows"] if r.get("media_type") == "video"], "next_cursor": None}
    )


# ----------------------------------------------------------------------------- creator info, pages


async def creator_info(call: Call) -> Reply:
    record = await owned_social_account(call, _id(call))
    layer = social(call)
    try:
        me = await layer.jobs.read(call.account_id, record.account.id, Action.ME, NoParams())
    except SocialError as exc:
        if isinstance(exc, Permanent):
            raise fail(502, "platform.error", exc.message) from None
        raise fail(502, "platform.unavailable", str(exc)) from None
    platform = record.account.platform
    return Reply(
        200,
        {
            "account_id": record.account.id,
            "platform": platform_name(platform),
            "platform_user_id": me.id,
            "username": me.username,
            "display_name": me.display_name,
            "status": record.state,
            "can_post": record.state == "active",
            "max_text_length": 280 if platform == "x" else 300,
            "max_dm_length": X_DM_MAX_CHARACTERS if platform == "x" else 1000,
            "scopes": list(record.account.scopes),
        },
    )


async def _no_pages(call: Call) -> Reply:
    record = await owned_social_account(call, _id(call))
    raise fail(
        501,
        "platform.unsupported",
        f"{platform_name(record.account.platform)} accounts have no pages",
        platform=platform_name(record.account.platform),
    )


async def list_pages(call: Call) -> Reply:
    return await _no_pages(call)


async def patch_page(call: Call) -> Reply:
    return await _no_pages(call)


# ----------------------------------------------------------------------------------------- reviews


async def list_reviews(call: Call) -> Reply:
    q = call.query_as(ReviewListing)
    if q.account_id is not None:
        record = await owned_social_account(call, q.account_id)
        if record.account.platform not in REVIEW_PLATFORMS:
            name = platform_name(record.account.platform)
            raise fail(501, "platform.unsupported", f"{name} has no reviews", platform=name)
    return Reply(200, {"data": [], "next_cursor": None})


async def reply_review(call: Call) -> Reply:
    call.body_as(ReviewReply)
    raise fail(404, "review.not_found", "no such review (no connected platform has reviews)")


# ---------------------------------------------------------------------------------- OAuth callback


async def oauth_callback(call: Call) -> Reply:
    from http_api.social_api.routes_brands import finish_connect

    q = call.query_as(CallbackQuery)
    # What the platform's redirect says is the user's (denied) or the flow's (an unknown, used or
    # expired state): well-formed requests refused by state, 422 as the document's business refusals.
    if q.error is not None or q.code is None:
        message = q.error_description or q.error or "the platform sent no code"
        raise fail(422, "oauth.access_denied", message, error=q.error or "no_code")
    try:
        view = await finish_connect(call, q.state, q.code)
    except Permanent as exc:
        raise fail(422, "oauth.invalid_request", exc.message) from None
    return Reply(201, view)


def _op(
    method: str, path: str, handler: Any, summary: str, permission: str, tag: str, **more: Any
) -> Operation:
    return operation(method, path, handler, summary, permission, tag, **more)


_R, _W = "social.read", "social.write"
_A = "/v1/accounts/{id}"
OPERATIONS = [
    _op(
        "POST",
        _A + "/export",
        create_export,
        "Export an account's analytics",
        _W,
        "Exports",
        body=ExportCreate,
        body_required=False,
        ok=201,
    ),
    _op("GET", "/v1/exports", list_exports, "List exports", _R, "Exports", query=ExportListing),
    _op("GET", "/v1/exports/{id}", get_export, "Get an export", _R, "Exports"),
    _op("GET", "/v1/exports/{id}/videos", export_videos, "An export's videos", _R, "Exports"),
    _op("GET", _A + "/creator-info", creator_info, "The account's creator info", _R, "Accounts"),
    _op("GET", _A + "/pages", list_pages, "The account's pages", _R, "Accounts"),
    _op("PATCH", _A + "/pages/{pageId}", patch_page, "Update a page", _W, "Accounts", body=PagePatch),
    _op("GET", "/v1/inbox/reviews", list_reviews, "List reviews", _R, "Inbox - Reviews", query=ReviewListing),
    _op(
        "POST",
        "/v1/inbox/reviews/{id}/reply",
        reply_review,
        "Reply to a review",
        _W,
        "Inbox - Reviews",
        body=ReviewReply,
        ok=202,
    ),
]
PUBLIC = Operation(
    "GET",
    "/v1/oauth/callback",
    oauth_callback,
    "The platform's OAuth redirect: finishes a connect",
    None,
    "Accounts",
    query=CallbackQuery,
    public=True,
    dialect=DIALECT,
)


OPERATIONS.append(PUBLIC)
