"""BulkAPIs social endpoints: connected X accounts, DMs, posts, conversations, comments, over SocialJobs.

    GET    /api/v1/accounts                                    connected accounts
    GET    /api/v1/accounts/{accountId}
    DELETE /api/v1/accounts/{accountId}                        disconnects (its jobs and inbox stay)
    GET    /api/v1/accounts/{accountId}/health                 asks the platform who the account is
    POST   /api/v1/dm/send                                     {"jobId", "status": "queued", "message"}
    GET    /api/v1/conversations?accountId=                    from the polled inbox
    GET    /api/v1/conversations/{conversationId}?accountId=
    GET    /api/v1/conversations/{conversationId}/messages?accountId=
    POST   /api/v1/conversations/{conversationId}/messages     a DM job in that conversation
    GET    /api/v1/posts?accountId=                            the account's posts, from the platform
    POST   /api/v1/posts                                       a post job
    GET    /api/v1/posts/{postId}?accountId=
    DELETE /api/v1/posts/{postId}?accountId=                   a delete job
    GET    /api/v1/comments?accountId=&postId=                 comments on the account's posts (inbox)
    GET    /api/v1/comments/{postId}?accountId=
    POST   /api/v1/comments/{postId}                           a reply job
    GET    /api/v1/jobs/{jobId}                                beyond the document: a job's state

Every write is a job of the one dispatch loop (engine/social/jobs: priced on the ledger, within the
account's rate windows, dm.sent / dm.failed / post.published events on the one outbox). Every endpoint
needs a Social Accounts pack (NO_SOCIAL_PACK) and an account its packs cover (SOCIAL_ACCOUNTS_EXCEEDED).
Account ids are written `acc_<n>`. This module must never call a platform for a write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from msgspec import Meta

from engine.core.ids import format_id, parse_id
from engine.social.accounts.store import AccountRecord
from engine.social.actions import Action, ListPage, PostTarget
from engine.social.jobs.service import SocialJobs, SocialJobView
from http_api.bulkapis import plans
from http_api.bulkapis.dialect import DIALECT, BulkApisOk, ok, path_id, social_membership, stamp
from http_api.errors import ApiError, not_found
from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request

AccountRef = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^(acc_)?[0-9]{1,18}$")]
# What the job service refuses (engine/social/text/limits.py), 400 VALIDATION_ERROR: text that is empty
# or only white space; a DM over 10,000 characters; a post or reply over X's 280 weighted characters
# (URLs 23, emoji and CJK 2: documented as 280 characters, the usual weight of one).
NONBLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"  # some text besides white space (and no U+0000)
Text = Annotated[str, Meta(min_length=1, max_length=10_000, pattern=NONBLANK)]
PostText = Annotated[
    str, Meta(min_length=1, max_length=280, pattern=NONBLANK, description="280 weighted characters (X)")
]
PlatformId = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_:.\-]+$")]


class BulkApisSendDm(Request, frozen=True):
    accountId: AccountRef
    recipientUserId: PlatformId
    text: Text


class BulkApisCreatePost(Request, frozen=True):
    accountId: AccountRef
    text: PostText


class BulkApisText(Request, frozen=True):
    accountId: AccountRef
    text: Text


class BulkApisReply(Request, frozen=True):
    accountId: AccountRef
    text: PostText


class BulkApisAccountQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    accountId: AccountRef


class BulkApisCommentsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    accountId: AccountRef
    postId: PlatformId | None = None


class BulkApisAccount(msgspec.Struct, frozen=True):
    id: str
    platform: str
    platformUserId: str
    username: str
    displayName: str
    isActive: bool
    needsReauth: bool
    createdAt: str


class BulkApisHealth(msgspec.Struct, frozen=True):
    accountId: str
    healthy: bool
    needsReauth: bool
    username: str | None
    message: str


class BulkApisQueued(msgspec.Struct, frozen=True):
    jobId: str
    status: str
    message: str


class BulkApisJob(msgspec.Struct, frozen=True):
    jobId: str
    accountId: str
    action: str
    status: str
    attempts: int
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    createdAt: str
    finishedAt: str | None


class BulkApisPost(msgspec.Struct, frozen=True):
    id: str
    text: str
    authorId: str
    createdAt: str | None
    conversationId: str | None
    url: str | None
    metrics: dict[str, Any] | None


class BulkApisMessage(msgspec.Struct, frozen=True):
    id: str
    conversationId: str | None
    senderId: str
    senderUsername: str | None
    direction: str
    text: str
    createdAt: str | None


class BulkApisConversation(msgspec.Struct, frozen=True):
    id: str
    accountId: str
    participantIds: list[str]
    messageCount: int
    lastMessage: BulkApisMessage | None
    updatedAt: str | None


class BulkApisComment(msgspec.Struct, frozen=True):
    id: str
    postId: str | None
    authorId: str
    authorUsername: str | None
    text: str
    inReplyTo: str | None
    createdAt: str | None


# ------------------------------------------------------------------------------------------ helpers


def account_ref(social_account_id: int) -> str:
    return f"acc_{social_account_id}"


def _jobs(call: Call) -> SocialJobs:
    social = call.ctx.engine.social
    if social is None:
        raise ApiError(500, "INTERNAL_ERROR", "social features are not running on this deployment")
    return social.jobs


# 1 for the first connected account of the customer, 2 for the next ...: packs cover the oldest ones
_RANK = """
SELECT count(*) FROM social_accounts a, social_accounts me
WHERE me.id = $2 AND a.account_id = $1 AND a.state <> 'disconnected'
  AND (a.created_at, a.id) <= (me.created_at, me.id)
"""


async def _account(call: Call, ref: str, *, usable: bool = True) -> AccountRecord:
    """The caller's connected account `ref` (404 otherwise), covered by its packs; with `usable`,
    400 ACCOUNT_NEEDS_REAUTH when it must be connected again."""
    current = social_membership(call)
    social_account_id = int(ref.removeprefix("acc_"))
    record = await _jobs(call).accounts.store.get(social_account_id, account_id=call.account_id)
    if record is None or record.state == "disconnected":
        raise not_found("account")
    rank = await call.ctx.pool.fetchval(_RANK, call.account_id, social_account_id)
    plans.require_account_slot(current, int(rank))
    if usable and record.needs_reauth:
        raise ApiError(
            400, "ACCOUNT_NEEDS_REAUTH", record.state_reason or "the account needs re-authorization"
        )
    return record


def _account_view(r: AccountRecord) -> BulkApisAccount:
    a = r.account
    return BulkApisAccount(
        account_ref(a.id), a.platform, a.platform_user_id, a.username, a.display_name, r.state == "active",
        r.needs_reauth, stamp(r.created_at) or "",
    )  # fmt: skip


def _job_view(v: SocialJobView) -> BulkApisJob:
    error = None if v.status != "failed" else {"code": v.error_code, "message": v.error}
    return BulkApisJob(
        v.ref, account_ref(v.social_account_id), v.action, v.status, v.attempts, v.result, error,
        stamp(v.created_at) or "", stamp(v.final_at),
    )  # fmt: skip


async def _submit(
    call: Call, record: AccountRecord, action: Action, params: dict[str, Any], what: str
) -> Reply:
    jobs = _jobs(call)
    key = call.request.headers.get("idempotency-key")
    submitted = await jobs.submit(
        call.account_id, record.account.id, action, params, idempotency_key=key and f"bulkapis:{key}"
    )
    view = await jobs.get(call.account_id, submitted.job_id)
    status = "queued" if view is None or view.status in ("queued", "sending") else view.status
    return ok(BulkApisQueued(format_id(submitted.job_id), status, what))


def _post(p: Any) -> BulkApisPost:
    metrics = msgspec.to_builtins(p.metrics) if p.metrics is not None else None
    return BulkApisPost(p.id, p.text, p.author_id, stamp(p.created_at), p.conversation_id, p.url, metrics)


def _message(r: asyncpg.Record) -> BulkApisMessage:
    created: datetime | None = r["created_at"]
    return BulkApisMessage(
        r["item_id"], r["conversation_id"], r["author_id"], r["author_username"], r["direction"], r["text"],
        stamp(created or r["received_at"]),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ accounts


async def bulkapis_list_accounts(call: Call) -> Reply:
    social_membership(call)
    records = await _jobs(call).accounts.store.list(call.account_id)
    return ok([_account_view(r) for r in records if r.state != "disconnected"])


async def bulkapis_get_account(call: Call) -> Reply:
    return ok(_account_view(await _account(call, path_id(call, "accountId", "account"), usable=False)))


async def bulkapis_delete_account(call: Call) -> Reply:
    record = await _account(call, path_id(call, "accountId", "account"), usable=False)
    await _jobs(call).accounts.store.set_state(record.account.id, "disconnected", "removed through the API")
    return ok({"id": account_ref(record.account.id), "deleted": True})


async def bulkapis_account_health(call: Call) -> Reply:
    record = await _account(call, path_id(call, "accountId", "account"), usable=False)
    ref = account_ref(record.account.id)
    if record.needs_reauth:
        return ok(
            BulkApisHealth(ref, False, True, record.account.username, record.state_reason or "needs reauth")
        )
    from engine.social.actions import NoParams
    from engine.social.errors import NeedsReauth, SocialError

    try:
        me = await _jobs(call).read(call.account_id, record.account.id, Action.ME, NoParams())
    except NeedsReauth as exc:
        return ok(BulkApisHealth(ref, False, True, record.account.username, str(exc)))
    except SocialError as exc:
        return ok(BulkApisHealth(ref, False, False, record.account.username, f"platform error: {exc}"))
    return ok(BulkApisHealth(ref, True, False, me.username, "ok"))


# ------------------------------------------------------------------------------------------ DMs


async def bulkapis_send_dm(call: Call) -> Reply:
    body = call.body_as(BulkApisSendDm)
    record = await _account(call, body.accountId)
    params = {"recipient_id": body.recipientUserId, "text": body.text}
    return await _submit(call, record, Action.SEND_DM, params, "DM queued for delivery")


_CONVERSATIONS = """
SELECT conversation_id, count(*) AS messages, array_agg(DISTINCT author_id) AS authors,
       max(coalesce(created_at, received_at)) AS updated
FROM social_inbox WHERE account_id = $1 AND social_account_id = $2 AND kind = 'dm'
  AND ($3::text IS NULL OR conversation_id = $3)
GROUP BY conversation_id ORDER BY updated DESC LIMIT 200
"""
_MESSAGES = """
SELECT item_id, conversation_id, author_id, author_username, direction, text, created_at, received_at
FROM social_inbox WHERE account_id = $1 AND social_account_id = $2 AND kind = 'dm' AND conversation_id = $3
ORDER BY coalesce(created_at, received_at), id
"""


async def _conversations(call: Call, record: AccountRecord, only: str | None) -> list[BulkApisConversation]:
    pool = call.ctx.pool
    rows = await pool.fetch(_CONVERSATIONS, call.account_id, record.account.id, only)
    out = []
    for r in rows:
        messages = await pool.fetch(_MESSAGES, call.account_id, record.account.id, r["conversation_id"])
        participants = sorted(set(r["authors"]) | {record.account.platform_user_id})
        out.append(BulkApisConversation(
            r["conversation_id"], account_ref(record.account.id), participants, r["messages"],
            _message(messages[-1]) if messages else None, stamp(r["updated"]),
        ))  # fmt: skip
    return out


async def bulkapis_list_conversations(call: Call) -> Reply:
    record = await _account(call, call.query_as(BulkApisAccountQuery).accountId, usable=False)
    return ok(await _conversations(call, record, None))


async def bulkapis_get_conversation(call: Call) -> Reply:
    record = await _account(call, call.query_as(BulkApisAccountQuery).accountId, usable=False)
    found = await _conversations(call, record, path_id(call, "conversationId", "conversation"))
    if not found:
        raise not_found("conversation")
    return ok(found[0])


async def bulkapis_conversation_messages(call: Call) -> Reply:
    record = await _account(call, call.query_as(BulkApisAccountQuery).accountId, usable=False)
    rows = await call.ctx.pool.fetch(
        _MESSAGES, call.account_id, record.account.id, path_id(call, "conversationId", "conversation")
    )
    if not rows:
        raise not_found("conversation")
    return ok([_message(r) for r in rows])


async def bulkapis_send_in_conversation(call: Call) -> Reply:
    body = call.body_as(BulkApisText)
    record = await _account(call, body.accountId)
    params = {"conversation_id": path_id(call, "conversationId", "conversation"), "text": body.text}
    return await _submit(call, record, Action.SEND_CONVERSATION_DM, params, "DM queued for delivery")


# ------------------------------------------------------------------------------------------ posts


async def bulkapis_create_post(call: Call) -> Reply:
    body = call.body_as(BulkApisCreatePost)
    record = await _account(call, body.accountId)
    return await _submit(call, record, Action.CREATE_POST, {"text": body.text}, "Post queued for publishing")


async def bulkapis_list_posts(call: Call) -> Reply:
    record = await _account(call, call.query_as(BulkApisAccountQuery).accountId)
    page = await _jobs(call).read(call.account_id, record.account.id, Action.LIST_POSTS, ListPage(limit=50))
    return ok([_post(p) for p in page.items])


async def bulkapis_get_post(call: Call) -> Reply:
    record = await _account(call, call.query_as(BulkApisAccountQuery).accountId)
    target = PostTarget(post_id=path_id(call, "postId", "post"))
    return ok(_post(await _jobs(call).read(call.account_id, record.account.id, Action.GET_POST, target)))


async def bulkapis_delete_post(call: Call) -> Reply:
    record = await _account(call, call.query_as(BulkApisAccountQuery).accountId)
    params = {"post_id": path_id(call, "postId", "post")}
    return await _submit(call, record, Action.DELETE_POST, params, "Post queued for deletion")


# ------------------------------------------------------------------------------------------ comments

_COMMENTS = """
SELECT item_id, post_id, author_id, author_username, text, in_reply_to, created_at, received_at
FROM social_inbox WHERE account_id = $1 AND social_account_id = $2 AND kind = 'comment'
  AND ($3::text IS NULL OR post_id = $3) AND deleted_at IS NULL
ORDER BY coalesce(created_at, received_at) DESC, id DESC LIMIT 500
"""


async def _comments(call: Call, account: str, post_id: str | None) -> Reply:
    record = await _account(call, account, usable=False)
    rows = await call.ctx.pool.fetch(_COMMENTS, call.account_id, record.account.id, post_id)
    return ok([
        BulkApisComment(r["item_id"], r["post_id"], r["author_id"], r["author_username"], r["text"],
                        r["in_reply_to"], stamp(r["created_at"] or r["received_at"]))
        for r in rows
    ])  # fmt: skip


async def bulkapis_list_comments(call: Call) -> Reply:
    q = call.query_as(BulkApisCommentsQuery)
    return await _comments(call, q.accountId, q.postId)


async def bulkapis_post_comments(call: Call) -> Reply:
    return await _comments(
        call, call.query_as(BulkApisAccountQuery).accountId, path_id(call, "postId", "post")
    )


async def bulkapis_reply(call: Call) -> Reply:
    body = call.body_as(BulkApisReply)
    record = await _account(call, body.accountId)
    params = {"in_reply_to": path_id(call, "postId", "post"), "text": body.text}
    return await _submit(call, record, Action.REPLY, params, "Reply queued for publishing")


async def bulkapis_get_job(call: Call) -> Reply:
    social_membership(call)
    job_id = parse_id(path_id(call, "jobId", "job"))
    view = await _jobs(call).get(call.account_id, job_id) if job_id is not None else None
    if view is None:
        raise not_found("job")
    return ok(_job_view(view))


def _op(method: str, path: str, handler: Any, summary: str, response: Any, **more: Any) -> Operation:
    return Operation(method, "/api/v1" + path, handler, summary, None, "BulkAPIs social",
                     responses={200: BulkApisOk[response]}, dialect=DIALECT, **more)  # fmt: skip


_Q = {"query": BulkApisAccountQuery}
OPERATIONS = [
    _op("GET", "/accounts", bulkapis_list_accounts, "List connected accounts", list[BulkApisAccount]),
    _op("GET", "/accounts/{accountId}", bulkapis_get_account, "Get a connected account", BulkApisAccount),
    _op("DELETE", "/accounts/{accountId}", bulkapis_delete_account, "Disconnect an account", dict[str, Any]),
    _op("GET", "/accounts/{accountId}/health", bulkapis_account_health, "Check an account", BulkApisHealth),
    _op("POST", "/dm/send", bulkapis_send_dm, "Send a DM to an X user", BulkApisQueued, body=BulkApisSendDm),
    _op(
        "GET",
        "/conversations",
        bulkapis_list_conversations,
        "List DM conversations",
        list[BulkApisConversation],
        **_Q,
    ),
    _op(
        "GET",
        "/conversations/{conversationId}",
        bulkapis_get_conversation,
        "Get a DM conversation",
        BulkApisConversation,
        **_Q,
    ),
    _op(
        "GET",
        "/conversations/{conversationId}/messages",
        bulkapis_conversation_messages,
        "Messages of a conversation",
        list[BulkApisMessage],
        **_Q,
    ),
    _op(
        "POST",
        "/conversations/{conversationId}/messages",
        bulkapis_send_in_conversation,
        "Send a DM in a conversation",
        BulkApisQueued,
        body=BulkApisText,
    ),
    _op("GET", "/posts", bulkapis_list_posts, "List the account's posts", list[BulkApisPost], **_Q),
    _op("POST", "/posts", bulkapis_create_post, "Create a post", BulkApisQueued, body=BulkApisCreatePost),
    _op("GET", "/posts/{postId}", bulkapis_get_post, "Get a post", BulkApisPost, **_Q),
    _op("DELETE", "/posts/{postId}", bulkapis_delete_post, "Delete a post", BulkApisQueued, **_Q),
    _op(
        "GET",
        "/comments",
        bulkapis_list_comments,
        "Comments on the account's posts",
        list[BulkApisComment],
        query=BulkApisCommentsQuery,
    ),
    _op(
        "GET", "/comments/{postId}", bulkapis_post_comments, "Comments on a post", list[BulkApisComment], **_Q
    ),
    _op("POST", "/comments/{postId}", bulkapis_reply, "Reply to a post", BulkApisQueued, body=BulkApisReply),
    _op("GET", "/jobs/{jobId}", bulkapis_get_job, "A job's state (beyond the document)", BulkApisJob),
]
