"""Seed 004 Inbox: comments (replies to the account's posts) and conversations (DMs), from the unified
inbox (engine/social/inbox/); replies, moderation and DMs go out as social jobs of the dispatch loop.

    GET    /v1/inbox/comments                                  posts with comments
    GET    /v1/inbox/comments/{postId}                         a post's comments
    GET    /v1/inbox/comments/{postId}/{commentId}/replies     replies to a comment
    POST   /v1/inbox/comments/{postId}                         reply (to the post, or to comment_id)   202
    DELETE /v1/inbox/comments/{postId}/{commentId}             delete the account's own reply          204
    POST|DELETE .../{commentId}/hide    hide / unhide
    POST|DELETE .../{commentId}/like    like / unlike
    POST   .../{commentId}/private-reply                       a DM to the comment's author             202
    GET    /v1/inbox/conversations, GET|PATCH /v1/inbox/conversations/{id}
    GET|POST /v1/inbox/conversations/{id}/messages, POST /v1/inbox/conversations/{id}/read
Moderation answers once the platform has done it (the job is awaited); sends answer 202 with the job.
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.core.ids import format_id
from engine.social.actions import Action
from engine.social.jobs import SocialJobError, SocialJobView
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request
from http_api.social_api.common import (
    Cursor,
    Id,
    Limit,
    PostText,
    decode_cursor,
    fail,
    job_error,
    jobs,
    operation,
    page,
    platform_name,
    rfc3339,
)


class InboxListing(msgspec.Struct, frozen=True, kw_only=True):
    account_id: Id | None = None
    limit: Limit = 20
    cursor: Cursor | None = None


class InboxText(Request, frozen=True):
    text: PostText
    comment_id: str | None = None


class ConversationPatch(Request, frozen=True):
    read: bool | None = None


def item_view(r: Any) -> dict[str, Any]:
    return {
        "id": r["item_id"],
        "account_id": r["social_account_id"],
        "platform": platform_name(r["platform"]),
        "kind": r["kind"],
        "text": r["text"],
        "post_id": r["post_id"],
        "in_reply_to": r["in_reply_to"],
        "conversation_id": r["conversation_id"],
        "direction": r["direction"],
        "author": {"id": r["author_id"], "username": r["author_username"]},
        "hidden": r["hidden"],
        "liked": r["liked"],
        "read": r["read_at"] is not None,
        "deleted": r["deleted_at"] is not None,
        "created_at": rfc3339(r["created_at"]),
        "received_at": rfc3339(r["received_at"]),
    }


def job_view(view: SocialJobView) -> dict[str, Any]:
    return {
        "job_id": view.ref,
        "action": view.action,
        "status": view.status,
        "result": view.result,
        "error": {"code": view.error_code, "message": view.error} if view.status == "failed" else None,
    }


async def _items(call: Call, where: str, args: list[Any], q: InboxListing) -> dict[str, Any]:
    n = len(args)
    rows = await call.ctx.pool.fetch(
        f"""SELECT * FROM social_inbox WHERE account_id = $1 AND {where}
            AND (${n + 2}::bigint IS NULL OR social_account_id = ${n + 2})
            AND (${n + 3}::bigint IS NULL OR id < ${n + 3})
            ORDER BY id DESC LIMIT ${n + 4}""",
        call.account_id,
        *args,
        q.account_id,
        decode_cursor(q.cursor),
        q.limit + 1,
    )
    out = page(list(rows), q.limit, key=lambda r: r["id"])
    out["data"] = [item_view(r) for r in out["data"]]
    return out


async def _comment(call: Call, post_id: str, comment_id: str) -> Any:
    row = await call.ctx.pool.fetchrow(
        "SELECT * FROM social_inbox WHERE account_id = $1 AND kind = 'comment' AND post_id = $2"
        " AND item_id = $3",
        call.account_id,
        post_id,
        comment_id,
    )
    if row is None:
        raise fail(404, "comment.not_found", "no such comment")
    return row


async def _run(
    call: Call, social_account_id: int, action: Action, params: dict[str, Any], *, wait: bool
) -> SocialJobView:
    try:
        sub = await jobs(call).submit(call.account_id, social_account_id, action, params)
    except SocialJobError as exc:
        raise job_error(exc) from None
    if not wait:
        view = await jobs(call).get(call.account_id, sub.job_id)
        assert view is not None
        return view
    done = await jobs(call).wait(call.account_id, sub.job_id, within=20.0)
    if done.status != "succeeded":
        code = "platform.unsupported" if done.error_code == "unsupported" else "platform.error"
        raise fail(501 if code == "platform.unsupported" else 502, code, done.error or "the platform refused")
    return done


# ---------------------------------------------------------------------------------------- comments


async def list_commented(call: Call) -> Reply:
    q = call.query_as(InboxListing)
    rows = await call.ctx.pool.fetch(
        """SELECT post_id, social_account_id, platform, count(*) AS comments, max(id) AS last_id,
                  max(received_at) AS last_at, count(*) FILTER (WHERE read_at IS NULL) AS unread
           FROM social_inbox WHERE account_id = $1 AND kind = 'comment' AND deleted_at IS NULL
             AND ($2::bigint IS NULL OR social_account_id = $2)
           GROUP BY post_id, social_account_id, platform
           HAVING ($3::bigint IS NULL OR max(id) < $3) ORDER BY max(id) DESC LIMIT $4""",
        call.account_id,
        q.account_id,
        decode_cursor(q.cursor),
        q.limit + 1,
    )
    out = page(list(rows), q.limit, key=lambda r: r["last_id"])
    out["data"] = [
        {
            "post_id": r["post_id"],
            "account_id": r["social_account_id"],
            "platform": platform_name(r["platform"]),
            "comments": r["comments"],
            "unread": r["unread"],
            "last_comment_at": rfc3339(r["last_at"]),
        }
        for r in out["data"]
    ]
    return Reply(200, out)


async def post_comments(call: Call) -> Reply:
    q = call.query_as(InboxListing)
    return Reply(200, await _items(call, "kind = 'comment' AND post_id = $2", [call.path("postId")], q))


async def comment_replies(call: Call) -> Reply:
    q = call.query_as(InboxListing)
    await _comment(call, call.path("postId"), call.path("commentId"))
    where = "kind = 'comment' AND post_id = $2 AND in_reply_to = $3"
    return Reply(200, await _items(call, where, [call.path("postId"), call.path("commentId")], q))


async def _post_owner(call: Call, post_id: str) -> int:
    owner = await call.ctx.pool.fetchval(
        """SELECT social_account_id FROM social_jobs WHERE account_id = $1 AND result->>'id' = $2
           AND action IN ('post.create', 'post.reply') LIMIT 1""",
        call.account_id,
        post_id,
    )
    if owner is None:
        owner = await call.ctx.pool.fetchval(
            "SELECT social_account_id FROM social_inbox WHERE account_id = $1 AND post_id = $2 LIMIT 1",
            call.account_id,
            post_id,
        )
    if owner is None:
        raise fail(404, "post.not_found", "no such post of a connected account")
    return int(owner)


async def reply_comment(call: Call) -> Reply:
    body = call.body_as(InboxText)
    post_id = call.path("postId")
    owner = await _post_owner(call, post_id)
    target = body.comment_id or post_id
    if body.comment_id is not None:
        await _comment(call, post_id, body.comment_id)
    view = await _run(call, owner, Action.REPLY, {"in_reply_to": target, "text": body.text}, wait=False)
    return Reply(202, job_view(view))


async def delete_comment(call: Call) -> Reply:
    row = await _comment(call, call.path("postId"), call.path("commentId"))
    me = await call.ctx.pool.fetchval(
        "SELECT platform_user_id FROM social_accounts WHERE id = $1", row["social_account_id"]
    )
    if row["author_id"] != me:
        raise fail(
            501, "platform.unsupported", "X deletes only the account's own replies: hide this one instead"
        )
    await _run(call, row["social_account_id"], Action.DELETE_POST, {"post_id": row["item_id"]}, wait=True)
    await call.ctx.pool.execute("UPDATE social_inbox SET deleted_at = now() WHERE id = $1", row["id"])
    return Reply(204, b"")


async def _moderate(call: Call, action: Action, column: str, value: bool) -> Reply:
    row = await _comment(call, call.path("postId"), call.path("commentId"))
    params = (
        {"reply_id": row["item_id"], "hidden": value}
        if action is Action.HIDE_REPLY
        else {"post_id": row["item_id"]}
    )
    await _run(call, row["social_account_id"], action, params, wait=True)
    updated = await call.ctx.pool.fetchrow(
        f"UPDATE social_inbox SET {column} = $2 WHERE id = $1 RETURNING *", row["id"], value
    )
    return Reply(200, item_view(updated))


async def hide_comment(call: Call) -> Reply:
    return await _moderate(call, Action.HIDE_REPLY, "hidden", True)


async def unhide_comment(call: Call) -> Reply:
    return await _moderate(call, Action.HIDE_REPLY, "hidden", False)


async def like_comment(call: Call) -> Reply:
    return await _moderate(call, Action.LIKE, "liked", True)


async def unlike_comment(call: Call) -> Reply:
    return await _moderate(call, Action.UNLIKE, "liked", False)


async def private_reply(call: Call) -> Reply:
    body = call.body_as(InboxText)
    row = await _comment(call, call.path("postId"), call.path("commentId"))
    view = await _run(
        call,
        row["social_account_id"],
        Action.SEND_DM,
        {"recipient_id": row["author_id"], "text": body.text},
        wait=False,
    )
    return Reply(202, job_view(view))


# ----------------------------------------------------------------------------------- conversations

_CONVERSATIONS = """
SELECT conversation_id, social_account_id, platform, count(*) AS messages, max(id) AS last_id,
       count(*) FILTER (WHERE read_at IS NULL AND direction = 'in') AS unread,
       (array_agg(text ORDER BY id DESC))[1] AS last_text, max(coalesce(created_at, received_at)) AS last_at,
       array_agg(DISTINCT author_id) AS participants
FROM social_inbox WHERE account_id = $1 AND kind = 'dm' AND ($2::text IS NULL OR conversation_id = $2)
  AND ($3::bigint IS NULL OR social_account_id = $3)
GROUP BY conversation_id, social_account_id, platform
HAVING ($4::bigint IS NULL OR max(id) < $4) ORDER BY max(id) DESC LIMIT $5
"""


def conversation_view(r: Any) -> dict[str, Any]:
    return {
        "id": r["conversation_id"],
        "account_id": r["social_account_id"],
        "platform": platform_name(r["platform"]),
        "participants": sorted(r["participants"]),
        "messages": r["messages"],
        "unread": r["unread"],
        "last_message": {"text": r["last_text"], "at": rfc3339(r["last_at"])},
    }


async def list_conversations(call: Call) -> Reply:
    q = call.query_as(InboxListing)
    rows = await call.ctx.pool.fetch(
        _CONVERSATIONS, call.account_id, None, q.account_id, decode_cursor(q.cursor), q.limit + 1
    )
    out = page(list(rows), q.limit, key=lambda r: r["last_id"])
    out["data"] = [conversation_view(r) for r in out["data"]]
    return Reply(200, out)


async def _conversation(call: Call) -> Any:
    row = await call.ctx.pool.fetchrow(_CONVERSATIONS, call.account_id, call.path("id"), None, None, 1)
    if row is None:
        raise fail(404, "conversation.not_found", "no such conversation")
    return row


async def get_conversation(call: Call) -> Reply:
    return Reply(200, conversation_view(await _conversation(call)))


async def _mark(call: Call, read: bool) -> None:
    await call.ctx.pool.execute(
        f"""UPDATE social_inbox SET read_at = {"coalesce(read_at, now())" if read else "NULL"}
            WHERE account_id = $1 AND kind = 'dm' AND conversation_id = $2""",
        call.account_id,
        call.path("id"),
    )


async def patch_conversation(call: Call) -> Reply:
    await _conversation(call)
    body = call.body_as(ConversationPatch)
    if body.read is not None:
        await _mark(call, body.read)
    return Reply(200, conversation_view(await _conversation(call)))


async def conversation_messages(call: Call) -> Reply:
    q = call.query_as(InboxListing)
    await _conversation(call)
    return Reply(200, await _items(call, "kind = 'dm' AND conversation_id = $2", [call.path("id")], q))


async def send_message(call: Call) -> Reply:
    row = await _conversation(call)
    body = call.body_as(InboxText)
    params = {"conversation_id": row["conversation_id"], "text": body.text}
    view = await _run(call, row["social_account_id"], Action.SEND_CONVERSATION_DM, params, wait=False)
    return Reply(202, job_view(view))


async def read_conversation(call: Call) -> Reply:
    await _conversation(call)
    await _mark(call, True)
    return Reply(200, conversation_view(await _conversation(call)))


def _op(
    method: str, path: str, handler: Any, summary: str, permission: str, tag: str, **more: Any
) -> Operation:
    return operation(method, path, handler, summary, permission, tag, **more)


_C, _D = "Inbox - Comments", "Inbox - Conversations"
_ONE = "/v1/inbox/comments/{postId}/{commentId}"
OPERATIONS = [
    _op(
        "GET",
        "/v1/inbox/comments",
        list_commented,
        "Posts with comments",
        "social.read",
        _C,
        query=InboxListing,
    ),
    _op(
        "GET",
        "/v1/inbox/comments/{postId}",
        post_comments,
        "A post's comments",
        "social.read",
        _C,
        query=InboxListing,
    ),
    _op(
        "GET",
        _ONE + "/replies",
        comment_replies,
        "Replies to a comment",
        "social.read",
        _C,
        query=InboxListing,
    ),
    _op(
        "POST",
        "/v1/inbox/comments/{postId}",
        reply_comment,
        "Reply to a post or comment",
        "social.write",
        _C,
        body=InboxText,
        ok=202,
    ),
    _op("DELETE", _ONE, delete_comment, "Delete the account's own reply", "social.write", _C, ok=204),
    _op("POST", _ONE + "/hide", hide_comment, "Hide a comment", "social.write", _C),
    _op("DELETE", _ONE + "/hide", unhide_comment, "Unhide a comment", "social.write", _C),
    _op("POST", _ONE + "/like", like_comment, "Like a comment", "social.write", _C),
    _op("DELETE", _ONE + "/like", unlike_comment, "Unlike a comment", "social.write", _C),
    _op(
        "POST",
        _ONE + "/private-reply",
        private_reply,
        "DM a comment's author",
        "social.write",
        _C,
        body=InboxText,
        ok=202,
    ),
    _op(
        "GET",
        "/v1/inbox/conversations",
        list_conversations,
        "List conversations",
        "social.read",
        _D,
        query=InboxListing,
    ),
    _op("GET", "/v1/inbox/conversations/{id}", get_conversation, "Get a conversation", "social.read", _D),
    _op(
        "PATCH",
        "/v1/inbox/conversations/{id}",
        patch_conversation,
        "Update a conversation",
        "social.write",
        _D,
        body=ConversationPatch,
    ),
    _op(
        "GET",
        "/v1/inbox/conversations/{id}/messages",
        conversation_messages,
        "A conversation's messages",
        "social.read",
        _D,
        query=InboxListing,
    ),
    _op(
        "POST",
        "/v1/inbox/conversations/{id}/messages",
        send_message,
        "Send a DM",
        "social.write",
        _D,
        body=InboxText,
        ok=202,
    ),
    _op(
        "POST",
        "/v1/inbox/conversations/{id}/read",
        read_conversation,
        "Mark a conversation read",
        "social.write",
        _D,
    ),
]

_ = format_id
