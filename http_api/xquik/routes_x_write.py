"""Xquik "X Write": actions through the connected X account named by `account` (username or id),
10 credits each (engine/xquik/x_prices.py), held before anything is sent (402 first) and released
when X refused.

Durable (engine/social/jobs, SocialJobs): a tweet or reply of at most 280 weighted characters, its
deletion, like, unlike and DMs without media are social jobs: accepted in one commit, sent by the one
dispatch loop within the account's rate windows, looked for on X before a resend after a restart (so
nothing goes out twice), and answered here once final (WAIT_SECONDS at most: then 202 with the job id,
the job still goes out). The jobs carry amount 0: the credits are the price.
Direct (engine/social/platforms/x/direct.py): note tweets (25,000 weighted characters: X decides
from the account's subscription, POST /2/tweets is the same call), community posts, replies with
media, retweet, follow / unfollow, DMs with media, profile, avatar, banner, media upload.
Not on X's API: remove-follower and community create / delete / join / leave have no X API v2 (or
v1.1) endpoint: they answer 502 x_write_failed saying so, charging nothing.

POST   /x/tweets                 {account, text, reply_to_tweet_id, attachment_url, community_id,
                                 is_note_tweet, media_ids}   {tweetId, success}  (attachment_url is
                                 appended to the text: X v2 has no attachment_url; a URL counts 23)
DELETE /x/tweets/{id}            POST|DELETE /x/tweets/{id}/like   POST /x/tweets/{id}/retweet
POST|DELETE /x/users/{id}/follow POST /x/users/{id}/remove-follower
POST   /x/dm/{userId}            {account, text, media_ids, reply_to_message_id (X v2 has none: ignored)}
PATCH  /x/profile                {account, name, description, location, url}
PATCH  /x/profile/avatar|banner  multipart: account, file (GIF/JPEG/PNG, at most 700 KB | 2 MB)
POST   /x/media                  multipart: account, file, is_long_video; or JSON {account, url}
POST   /x/communities, DELETE /x/communities/{id}, POST|DELETE /x/communities/{id}/join

DELETE bodies are read as JSON too ({"account": ...}); `?account=` works as well.
A file (or the media a URL names) that is no usable media is 422 invalid_media: its bytes, which no
request schema can state, not the request's shape (400 invalid_input).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import httpx
import msgspec
from msgspec import Meta

from engine.outbox.url_guard import guarded_client
from engine.social.accounts.store import AccountRecord
from engine.social.actions import Action, CreatePost, PostTarget, SendDm
from engine.social.actions import Reply as ReplyParams
from engine.social.forms import Part, form_parts
from engine.social.jobs.service import SocialJobError, SocialJobView
from engine.social.text.limits import x_post_length
from engine.xquik.x_prices import reserve_for
from http_api.operations import Call, Operation, Reply, decode_json
from http_api.xquik.dialect import DIALECT, NONBLANK, PREFIX, XquikOut, xquik_error
from http_api.xquik.metering import metered
from http_api.xquik.x_common import Done, direct, layer, numeric, x_account, x_session, x_write

TAG = "Xquik X write"
WAIT_SECONDS = 20.0
TWEET_MAX, NOTE_TWEET_MAX = 280, 25_000
AVATAR_MAX, BANNER_MAX = 700 * 1024, 2 * 1024 * 1024
MEDIA_MAX = 512 * 1024 * 1024  # X's video limit; images are refused by X above 5 MB
URL_MEDIA_MAX = 15 * 1024 * 1024
IMAGE_MAGIC = {b"GIF87a": "image/gif", b"GIF89a": "image/gif", b"\xff\xd8\xff": "image/jpeg",
               b"\x89PNG\r\n\x1a\n": "image/png"}  # fmt: skip
Account = Annotated[str, Meta(min_length=1, max_length=64)]
# a URL httpx can fetch (an ASCII host name or address); what it answers is the media's business (422)
MEDIA_URL = r"^https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][^\x00-\x20]*)?$"
XId = Annotated[str, Meta(pattern=r"^[0-9]{1,19}$")]


class WriteIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The document's write bodies are snake_case (reply_to_tweet_id, media_ids)."""

    account: Account


class TweetIn(WriteIn, frozen=True, kw_only=True):
    """text (280 weighted characters, 25,000 for a note tweet), or media_ids alone."""

    json_schema_extra: ClassVar[dict[str, object]] = {
        "anyOf": [
            {"properties": {"text": {"pattern": NONBLANK}}},
            {"properties": {"media_ids": {"minItems": 1}}, "required": ["media_ids"]},
        ],
        "if": {"properties": {"is_note_tweet": {"const": True}}, "required": ["is_note_tweet"]},
        "then": {"properties": {"text": {"maxLength": NOTE_TWEET_MAX}}},
        "else": {"properties": {"text": {"maxLength": TWEET_MAX}}},
    }
    text: Annotated[str, Meta(max_length=100_000)]
    reply_to_tweet_id: XId | None = None
    attachment_url: Annotated[str, Meta(max_length=2048, pattern=r"^https?://\S+$")] | None = None
    community_id: XId | None = None
    is_note_tweet: bool = False
    media_ids: Annotated[list[XId], Meta(max_length=4)] = []


class DmIn(WriteIn, frozen=True, kw_only=True):
    text: Annotated[str, Meta(min_length=1, max_length=10_000)]
    media_ids: Annotated[list[XId], Meta(max_length=1)] = []
    reply_to_message_id: XId | None = None


class ProfileIn(WriteIn, frozen=True, kw_only=True):
    json_schema_extra: ClassVar[dict[str, object]] = {
        "anyOf": [{"required": [name], "properties": {name: {"type": "string"}}}
                  for name in ("name", "description", "location", "url")]
    }  # fmt: skip

    name: Annotated[str, Meta(max_length=50)] | None = None
    description: Annotated[str, Meta(max_length=160)] | None = None
    location: Annotated[str, Meta(max_length=30)] | None = None
    url: Annotated[str, Meta(max_length=100)] | None = None


class MediaUrlIn(WriteIn, frozen=True, kw_only=True):
    url: Annotated[str, Meta(max_length=2048, pattern=MEDIA_URL)]


class CommunityIn(WriteIn, frozen=True, kw_only=True):
    name: Annotated[str, Meta(min_length=1, max_length=30)]
    description: Annotated[str, Meta(min_length=1, max_length=160)]


class CommunityDeleteIn(WriteIn, frozen=True, kw_only=True):
    community_name: Annotated[str, Meta(min_length=1, max_length=30)]


class Pending(XquikOut, frozen=True):
    """202: X has not answered within WAIT_SECONDS; the job still goes out."""

    success: bool
    pending: bool
    job_id: str


class TweetDone(XquikOut, frozen=True):
    tweet_id: str | None
    success: bool


class DmDone(XquikOut, frozen=True):
    success: bool
    message_id: str | None
    conversation_id: str | None


class MediaDone(XquikOut, frozen=True):
    media_id: str
    media_key: str | None
    success: bool


# ------------------------------------------------------------------------------------------ helpers


async def _delete_body(call: Call, kind: type[WriteIn] = WriteIn) -> Any:
    """A DELETE's JSON body (the pipeline reads bodies of POST/PUT/PATCH only), or ?account=."""
    raw = await call.request.body()
    if not raw.strip():
        account = call.request.query_params.get("account")
        if account and kind is WriteIn:
            return WriteIn(account=account)
        raise xquik_error(400, "invalid_json", "a JSON request body is required")
    if len(raw) > 65_536:
        raise xquik_error(400, "invalid_input", "the body is too large")
    return decode_json(kind, raw)


async def _job(call: Call, kind: str, record: AccountRecord, action: Action, params: msgspec.Struct) -> Reply:
    """A durable social job, metered in credits; answered once it is final."""
    jobs = layer(call).jobs
    async with metered(call, reserve_for(kind), kind):
        try:
            submitted = await jobs.submit(call.account_id, record.account.id, action, params, amount=0)
        except SocialJobError as exc:
            if exc.code == "ACCOUNT_NEEDS_REAUTH":
                raise xquik_error(403, "account_needs_reauth", exc.message) from None
            if exc.code in ("text_too_long", "invalid_text", "invalid_params"):
                raise xquik_error(400, "invalid_input", exc.message) from None
            raise xquik_error(502, "x_write_failed", exc.message) from None
        view = await jobs.wait(call.account_id, submitted.job_id, within=WAIT_SECONDS)
        if view.status == "failed":
            if view.error_code == "ACCOUNT_NEEDS_REAUTH":
                raise xquik_error(403, "account_needs_reauth", view.error or "the X account session expired")
            raise xquik_error(502, "x_write_failed", f"X refused the action: {view.error or view.error_code}")
    return _job_reply(view)


def _job_reply(view: SocialJobView) -> Reply:
    if view.status != "succeeded":  # still queued or sending: it goes out, answer with its id
        return Reply(202, {"success": True, "pending": True, "jobId": view.ref})
    result = view.result or {}
    out: dict[str, Any] = {"success": True}
    if view.action in (Action.CREATE_POST.value, Action.REPLY.value):
        out = {"tweetId": result.get("id"), "success": True}
    elif view.action == Action.SEND_DM.value:
        out = {"success": True, "messageId": result.get("message_id"),
               "conversationId": result.get("conversation_id")}  # fmt: skip
    return Reply(200, out)


def _image(part: Part | None, limit: int) -> tuple[bytes, str]:
    if part is None or not part.data:
        raise xquik_error(400, "invalid_input", "file is required (multipart/form-data)")
    if len(part.data) > limit:
        raise xquik_error(400, "invalid_input", f"file is larger than {limit // 1024} KB")
    kind = next((t for magic, t in IMAGE_MAGIC.items() if part.data.startswith(magic)), None)
    if kind is None:  # the bytes, not the request's shape: 422, as the media a URL names (_fetch_media)
        raise xquik_error(422, "invalid_media", "file must be a GIF, JPEG or PNG image")
    return part.data, kind


def _form(call: Call) -> dict[str, Part]:
    parts = form_parts(call.request.headers.get("content-type", ""), call.raw)
    if not parts:
        raise xquik_error(400, "invalid_input", "send multipart/form-data with account and file")
    if "account" not in parts or not parts["account"].text.strip():
        raise xquik_error(400, "invalid_input", "account is required")
    return parts


# ------------------------------------------------------------------------------------------ tweets


async def create_tweet(call: Call) -> Reply:
    body = call.body_as(TweetIn)
    text = body.text if body.attachment_url is None else f"{body.text} {body.attachment_url}".strip()
    limit = NOTE_TWEET_MAX if body.is_note_tweet else TWEET_MAX
    length = x_post_length(text)
    if not text.strip() and not body.media_ids:
        raise xquik_error(400, "invalid_input", "text is required")
    if length > limit:
        raise xquik_error(400, "invalid_input", f"text is {length} weighted characters, more than {limit}")
    record = await x_account(call, body.account)
    durable = not body.is_note_tweet and body.community_id is None
    if durable and body.reply_to_tweet_id is None:
        params: msgspec.Struct = CreatePost(text=text, media_ids=tuple(body.media_ids))
        return await _job(call, "x.tweet.create", record, Action.CREATE_POST, params)
    if durable and not body.media_ids:
        assert body.reply_to_tweet_id is not None
        params = ReplyParams(in_reply_to=body.reply_to_tweet_id, text=text)
        return await _job(call, "x.tweet.create", record, Action.REPLY, params)
    session = await x_session(call, body.account)
    async with metered(call, reserve_for("x.tweet.create"), "x.tweet.create"), x_write():
        created = await direct(call).create_tweet(
            session, text=text, reply_to=body.reply_to_tweet_id, media_ids=body.media_ids,
            community_id=body.community_id,
        )  # fmt: skip
    return Reply(200, {"tweetId": created.id, "success": True})


async def delete_tweet(call: Call) -> Reply:
    tweet_id = numeric(call.path("id"), "invalid_tweet_id", "the tweet id")
    body = await _delete_body(call)
    record = await x_account(call, body.account)
    return await _job(call, "x.tweet.delete", record, Action.DELETE_POST, PostTarget(post_id=tweet_id))


async def like(call: Call) -> Reply:
    tweet_id = numeric(call.path("id"), "invalid_tweet_id", "the tweet id")
    record = await x_account(call, call.body_as(WriteIn).account)
    return await _job(call, "x.like", record, Action.LIKE, PostTarget(post_id=tweet_id))


async def unlike(call: Call) -> Reply:
    tweet_id = numeric(call.path("id"), "invalid_tweet_id", "the tweet id")
    record = await x_account(call, (await _delete_body(call)).account)
    return await _job(call, "x.unlike", record, Action.UNLIKE, PostTarget(post_id=tweet_id))


async def retweet(call: Call) -> Reply:
    tweet_id = numeric(call.path("id"), "invalid_tweet_id", "the tweet id")
    session = await x_session(call, call.body_as(WriteIn).account)
    async with metered(call, reserve_for("x.retweet"), "x.retweet"), x_write():
        await direct(call).retweet(session, tweet_id)
    return Reply(200, {"success": True})


# ------------------------------------------------------------------------------------------- users


async def follow(call: Call) -> Reply:
    user_id = numeric(call.path("id"), "invalid_id", "the user id")
    session = await x_session(call, call.body_as(WriteIn).account)
    async with metered(call, reserve_for("x.follow"), "x.follow"), x_write():
        await direct(call).follow(session, user_id)
    return Reply(200, {"success": True})


async def unfollow(call: Call) -> Reply:
    user_id = numeric(call.path("id"), "invalid_id", "the user id")
    session = await x_session(call, (await _delete_body(call)).account)
    async with metered(call, reserve_for("x.unfollow"), "x.unfollow"), x_write():
        await direct(call).unfollow(session, user_id)
    return Reply(200, {"success": True})


def _not_on_x(what: str) -> Exception:
    return xquik_error(
        502, "x_write_failed", f"{what} is not offered by the X API (v2 or v1.1): nothing was done or charged"
    )


async def remove_follower(call: Call) -> Reply:
    numeric(call.path("id"), "invalid_id", "the user id")
    await x_account(call, call.body_as(WriteIn).account)
    raise _not_on_x("removing a follower")


# --------------------------------------------------------------------------------------------- DMs


async def send_dm(call: Call) -> Reply:
    user_id = numeric(call.path("userId"), "invalid_id", "the user id")
    body = call.body_as(DmIn)
    record = await x_account(call, body.account)
    if not body.media_ids:
        params = SendDm(recipient_id=user_id, text=body.text)
        return await _job(call, "x.dm.send", record, Action.SEND_DM, params)
    session = await x_session(call, body.account)
    async with metered(call, reserve_for("x.dm.send"), "x.dm.send"), x_write():
        ref = await direct(call).send_dm(session, user_id, body.text, body.media_ids)
    return Reply(200, {"success": True, "messageId": ref[1], "conversationId": ref[0]})


# ----------------------------------------------------------------------------------------- profile


async def update_profile(call: Call) -> Reply:
    body = call.body_as(ProfileIn)
    fields = {k: v for k, v in msgspec.structs.asdict(body).items() if k != "account" and v is not None}
    if not fields:
        raise xquik_error(400, "invalid_input", "give at least one of name, description, location, url")
    session = await x_session(call, body.account)
    async with metered(call, reserve_for("x.profile"), "x.profile"), x_write():
        await direct(call).update_profile(session, fields)
    return Reply(200, {"success": True})


async def update_avatar(call: Call) -> Reply:
    parts = _form(call)
    data, kind = _image(parts.get("file"), AVATAR_MAX)
    session = await x_session(call, parts["account"].text.strip())
    async with metered(call, reserve_for("x.avatar"), "x.avatar"), x_write():
        await direct(call).update_avatar(session, data, kind)
    return Reply(200, {"success": True})


async def update_banner(call: Call) -> Reply:
    parts = _form(call)
    data, kind = _image(parts.get("file"), BANNER_MAX)
    session = await x_session(call, parts["account"].text.strip())
    async with metered(call, reserve_for("x.banner"), "x.banner"), x_write():
        await direct(call).update_banner(session, data, kind)
    return Reply(200, {"success": True})


async def _fetch_media(call: Call, url: str) -> tuple[bytes, str]:
    """A direct media URL, fetched through the engine's outbound guard (no private addresses)."""
    try:
        async with guarded_client(call.ctx.engine.url_policy, timeout=30.0) as client:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise xquik_error(422, "invalid_media", f"the media URL answered {response.status_code}")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > URL_MEDIA_MAX:
                        raise xquik_error(422, "invalid_media", "the media at that URL is larger than 15 MB")
                    chunks.append(chunk)
                kind = response.headers.get("content-type", "application/octet-stream").split(";")[0]
        return b"".join(chunks), kind
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL: a host IDNA refuses, not an HTTPError
        raise xquik_error(422, "invalid_media", f"the media URL cannot be fetched: {exc}") from None


async def upload_media(call: Call) -> Reply:
    media_type = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json":
        body = decode_json(MediaUrlIn, call.raw)
        account, long_video = body.account, False
        data, kind = await _fetch_media(call, body.url)
    else:
        parts = _form(call)
        file = parts.get("file")
        if file is None or not file.data:
            raise xquik_error(400, "invalid_input", "file is required")
        if len(file.data) > MEDIA_MAX:
            raise xquik_error(400, "invalid_input", "file is larger than 512 MB")
        account, data, kind = parts["account"].text.strip(), file.data, file.content_type
        long_video = parts.get("is_long_video", Part(b"")).text.strip().lower() in ("true", "1")
    video = kind.startswith("video/")
    category = ("amplify_video" if long_video else "tweet_video") if video else (
        "tweet_gif" if kind == "image/gif" else "tweet_image"
    )  # fmt: skip
    session = await x_session(call, account)
    async with metered(call, reserve_for("x.media"), "x.media"), x_write():
        upload = await direct(call).upload_media(session, data, kind, category)
    return Reply(200, {"mediaId": upload.id, "mediaKey": upload.media_key, "success": True})


# ------------------------------------------------------------------------------------- communities


async def create_community(call: Call) -> Reply:
    await x_account(call, call.body_as(CommunityIn).account)
    raise _not_on_x("creating a community")


async def delete_community(call: Call) -> Reply:
    numeric(call.path("id"), "invalid_id", "the community id")
    await x_account(call, (await _delete_body(call, CommunityDeleteIn)).account)
    raise _not_on_x("deleting a community")


async def join_community(call: Call) -> Reply:
    numeric(call.path("id"), "invalid_id", "the community id")
    await x_account(call, call.body_as(WriteIn).account)
    raise _not_on_x("joining a community")


async def leave_community(call: Call) -> Reply:
    numeric(call.path("id"), "invalid_id", "the community id")
    await x_account(call, (await _delete_body(call)).account)
    raise _not_on_x("leaving a community")


MULTIPART = {"multipart/form-data": {"type": "object", "properties": {
    "account": {"type": "string", "pattern": NONBLANK},
    "file": {"type": "string", "format": "binary", "minLength": 1}},
    "required": ["account", "file"]}}  # fmt: skip
DELETE_BODY = {"application/json": (WriteIn,)}  # read by _delete_body (or ?account=)
JOB = {200: Done, 202: Pending}


def _op(method: str, path: str, handler: Any, summary: str, body: type | None = None, **kw: Any) -> Operation:
    kw.setdefault("responses", {200: Done})
    if method == "DELETE":
        kw.setdefault("content", DELETE_BODY)
    return Operation(method, f"{PREFIX}{path}", handler, summary, None, TAG, body=body, dialect=DIALECT, **kw)


OPERATIONS = [
    _op("POST", "/x/tweets", create_tweet, "Create a tweet (10 credits)", TweetIn,
        responses={200: TweetDone, 202: Pending}),
    _op("DELETE", "/x/tweets/{id}", delete_tweet, "Delete a tweet (10 credits)", responses=JOB),
    _op("POST", "/x/tweets/{id}/like", like, "Like a tweet (10 credits)", WriteIn, responses=JOB),
    _op("DELETE", "/x/tweets/{id}/like", unlike, "Unlike a tweet (10 credits)", responses=JOB),
    _op("POST", "/x/tweets/{id}/retweet", retweet, "Retweet (10 credits)", WriteIn),
    _op("POST", "/x/users/{id}/follow", follow, "Follow a user (10 credits)", WriteIn),
    _op("DELETE", "/x/users/{id}/follow", unfollow, "Unfollow a user (10 credits)"),
    _op("POST", "/x/users/{id}/remove-follower", remove_follower, "Remove a follower (not on X's API)",
        WriteIn, responses={}),
    _op("POST", "/x/dm/{userId}", send_dm, "Send a DM (10 credits)", DmIn,
        responses={200: DmDone, 202: Pending}),
    _op("PATCH", "/x/profile", update_profile, "Update the profile (10 credits)", ProfileIn),
    _op("PATCH", "/x/profile/avatar", update_avatar, "Update the avatar, 700 KB at most (10 credits)",
        content=MULTIPART),
    _op("PATCH", "/x/profile/banner", update_banner, "Update the banner, 2 MB at most (10 credits)",
        content=MULTIPART),
    _op("POST", "/x/media", upload_media, "Upload media (10 credits)", responses={200: MediaDone},
        content={**MULTIPART, "application/json": (MediaUrlIn,)}),
    _op("POST", "/x/communities", create_community, "Create a community (not on X's API)", CommunityIn,
        responses={}),
    _op("DELETE", "/x/communities/{id}", delete_community, "Delete a community (not on X's API)",
        content={"application/json": (CommunityDeleteIn,)}, responses={}),
    _op("POST", "/x/communities/{id}/join", join_community, "Join a community (not on X's API)", WriteIn,
        responses={}),
    _op("DELETE", "/x/communities/{id}/join", leave_community, "Leave a community (not on X's API)",
        responses={}),
]  # fmt: skip
