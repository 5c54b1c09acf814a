"""What the Xquik X routes share: the caller's connected X accounts, X errors in the document's codes,
and X API v2 objects in the document's camelCase shapes.

    record = await x_account(call, "demo")          # username or id; 404 not_found, 403 needs reauth
    session = await x_session(call, None)           # any active X account of the caller (lookups)
    async with x_read("tweet_not_found"): ...       # Permanent not_found -> 404 tweet_not_found, ...
    tweet_out(page, tweet)                          # {id, text, createdAt, likeCount, ..., author, media}

This module must never call X itself: engine/social/platforms/x/direct.py does.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from engine.social.accounts.store import AccountRecord
from engine.social.connector import AccountSession
from engine.social.errors import NeedsReauth, Permanent, RateLimited, SocialError
from engine.social.platforms.x.direct import Page, Tweet, User, XDirect
from engine.social.runtime import SocialLayer
from http_api.operations import Call
from http_api.xquik.dialect import XquikOut, xquik_error

USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


def layer(call: Call) -> SocialLayer:
    social = call.ctx.engine.social
    if social is None:
        raise xquik_error(502, "x_api_unavailable", "the X connection is not configured")
    return social


def direct(call: Call) -> XDirect:
    return XDirect(layer(call).x)


def username_of(raw: str) -> str:
    name = raw.strip().removeprefix("@")
    if not USERNAME.match(name):
        raise xquik_error(400, "invalid_username", "an X username is 1-15 letters, digits or _")
    return name


def numeric(raw: str, code: str, what: str) -> str:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise xquik_error(400, code, f"{what} must be a numeric X id")
    return raw


async def x_accounts(call: Call) -> list[AccountRecord]:
    """The caller's X accounts that are not disconnected, oldest first."""
    records = await layer(call).store.list(call.account_id, platform="x")
    return sorted((r for r in records if r.state != "disconnected"), key=lambda r: r.account.id)


async def x_account(call: Call, ref: str | None) -> AccountRecord:
    """The connected X account `ref` names (its username, with or without @, or its id); with no ref,
    the caller's first active one. 404 not_found when there is none, 403 account_needs_reauth when
    its session must be renewed in the dashboard."""
    records = await x_accounts(call)
    if ref is not None:
        wanted = ref.strip().removeprefix("@").lower()
        found = [r for r in records if str(r.account.id) == wanted or r.account.username.lower() == wanted]
        if not found:
            raise xquik_error(404, "not_found", f"no connected X account {ref!r}")
        record = found[0]
    else:
        active = [r for r in records if r.state == "active"]
        if not active and not records:
            raise xquik_error(
                403, "account_needs_reauth", "connect an X account in the dashboard to use this endpoint"
            )
        record = (active or records)[0]
    if record.state != "active":
        raise xquik_error(403, "account_needs_reauth", "the X account session expired: re-authenticate it")
    return record


async def x_session(call: Call, ref: str | None) -> AccountSession:
    record = await x_account(call, ref)
    try:
        return await layer(call).accounts.session(record.account.id, account_id=call.account_id)
    except NeedsReauth:
        raise xquik_error(403, "account_needs_reauth", "the X account session expired") from None


_TOKENS = ("pagination_token", "next_token")  # X's 400 for a page token it does not know


@asynccontextmanager
async def x_read(not_found: str = "not_found") -> AsyncIterator[None]:
    """X's failures of a lookup in the document's codes (429 and 403 pass to the dialect as they are)."""
    try:
        yield
    except (RateLimited, NeedsReauth):
        raise
    except Permanent as exc:
        if exc.code == "not_found":
            raise xquik_error(404, not_found, exc.detail or str(exc)) from None
        if exc.code == "invalid_request" and any(t in (exc.detail or "") for t in _TOKENS):
            raise xquik_error(
                404, "not_found", "no such page: X does not know the cursor (expired, or not one it gave out)"
            ) from None
        if exc.code in ("scope_missing", "forbidden"):
            raise xquik_error(502, "x_api_unauthorized", f"X refused the lookup: {exc}") from None
        raise xquik_error(502, "x_api_unavailable", f"X refused the lookup: {exc}") from None


@asynccontextmanager
async def x_write() -> AsyncIterator[None]:
    """A write's failure on X: 502 x_write_failed (429 and 403 pass to the dialect as they are)."""
    try:
        yield
    except (RateLimited, NeedsReauth):
        raise
    except SocialError as exc:
        raise xquik_error(502, "x_write_failed", f"X refused the action: {exc}") from None


# ----------------------------------------------------------------------------------- rendering
# The shapes below are what the renderers answer, for the OpenAPI document: a field X did not give is
# left out (omit_defaults), as the document says ("omitted when unavailable").


class XUserOut(XquikOut, frozen=True, omit_defaults=True):
    id: str
    username: str
    name: str
    description: str | None = None
    followers: int | None = None
    following: int | None = None
    verified: bool | None = None
    profile_picture: str | None = None
    location: str | None = None
    created_at: str | None = None
    statuses_count: int | None = None


class XMediaOut(XquikOut, frozen=True, omit_defaults=True):
    media_key: str
    type: str
    url: str | None = None


class XTweetOut(XquikOut, frozen=True, omit_defaults=True):
    id: str
    text: str | None = None
    created_at: str | None = None
    conversation_id: str | None = None
    in_reply_to_id: str | None = None
    like_count: int | None = None
    retweet_count: int | None = None
    reply_count: int | None = None
    quote_count: int | None = None
    view_count: int | None = None
    bookmark_count: int | None = None
    is_note_tweet: bool | None = None
    author: XUserOut | None = None
    media: list[XMediaOut] | None = None


class XArticleAuthor(XquikOut, frozen=True):
    id: str
    username: str
    name: str


class XArticleOut(XquikOut, frozen=True):
    title: str | None
    cover_image: str | None
    body_html: str
    like_count: int
    retweet_count: int
    reply_count: int
    view_count: int
    bookmark_count: int
    author: XArticleAuthor | None


class Done(msgspec.Struct, frozen=True):
    """{"success": true}"""

    success: bool


def _drop_none(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out.items() if v is not None}


def user_out(user: User) -> dict[str, Any]:
    """id, username, name always; the rest only when X gave it."""
    metrics = user.public_metrics
    return _drop_none(
        {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "description": user.description,
            "followers": metrics.followers_count if metrics else None,
            "following": metrics.following_count if metrics else None,
            "verified": user.verified,
            "profilePicture": user.profile_image_url,
            "location": user.location or None,
            "createdAt": user.created_at,
            "statusesCount": metrics.tweet_count if metrics else None,
        }
    )


def media_out(page: Page, tweet: Tweet) -> list[dict[str, Any]]:
    out = []
    for key in tweet.attachments.media_keys if tweet.attachments else []:
        item = page.media.get(key)
        if item is None:
            continue
        video = next((v.url for v in item.variants if v.content_type == "video/mp4"), None)
        url = item.url if item.type == "photo" else video or item.preview_image_url
        out.append(_drop_none({"mediaKey": key, "type": item.type, "url": url}))
    return out


def author_out(page: Page, tweet: Tweet) -> dict[str, Any] | None:
    author = page.users.get(tweet.author_id or "")
    return user_out(author) if author is not None else None


def tweet_out(page: Page, tweet: Tweet) -> dict[str, Any]:
    m = tweet.public_metrics
    replied = next((r.id for r in tweet.referenced_tweets or [] if r.type == "replied_to"), None)
    out = _drop_none(
        {
            "id": tweet.id,
            "text": tweet.full_text,
            "createdAt": tweet.created_at,
            "conversationId": tweet.conversation_id,
            "inReplyToId": replied,
            "likeCount": m.like_count if m else None,
            "retweetCount": m.retweet_count if m else None,
            "replyCount": m.reply_count if m else None,
            "quoteCount": m.quote_count if m else None,
            "viewCount": m.impression_count if m else None,
            "bookmarkCount": m.bookmark_count if m else None,
            "isNoteTweet": tweet.note_tweet is not None or None,
            "author": author_out(page, tweet),
        }
    )
    media = media_out(page, tweet)
    if media:
        out["media"] = media
    return out


def article_out(page: Page, tweet: Tweet) -> dict[str, Any]:
    article = tweet.article
    assert article is not None
    m = tweet.public_metrics
    cover = page.media.get(article.cover_media or "")
    paragraphs = [p for p in article.plain_text.split("\n") if p.strip()]
    author = page.users.get(tweet.author_id or "")
    return {
        "title": article.title,
        "coverImage": cover.url if cover is not None else None,
        "bodyHtml": "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs),
        "likeCount": m.like_count if m else 0,
        "retweetCount": m.retweet_count if m else 0,
        "replyCount": m.reply_count if m else 0,
        "viewCount": m.impression_count if m else 0,
        "bookmarkCount": m.bookmark_count if m else 0,
        "author": {"id": author.id, "username": author.username, "name": author.name} if author else None,
    }
