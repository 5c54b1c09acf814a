"""Xquik "X API (Direct Lookups)" rows and DM history, over X API v2 through the caller's connected X
account (engine/social/platforms/x/direct.py), metered in credits (engine/xquik/x_prices.py: 402
before any call to X; a per-result lookup holds `limit` credits and captures what it returned).

GET /x/tweets/{id}                   GET /2/tweets/:id                                    1 a call
GET /x/articles/{id}                 GET /2/tweets/:id with tweet.fields=article          5 a call
GET /x/tweets/search?q=              GET /2/tweets/search/recent (last 7 days)            1 a tweet
GET /x/users/{username}              GET /2/users/by/username/:username                   1 a call
GET /x/followers/check               both usernames, then each one's following list       5 a call
GET /x/users/{id}/tweets|likes       GET /2/users/:id/tweets | liked_tweets               1 a result
GET /x/users/{id}/media              GET /2/users/:id/tweets, the posts with media kept   1 a result
GET /x/tweets/{id}/favoriters        GET /2/tweets/:id/liking_users                       1 a result
GET /x/users/{id}/followers-you-know GET /2/users/:id/followers within the caller's
                                     GET /2/users/:me/following (X v2 has no mutuals)     1 a result
GET /x/bookmarks[/folders]           GET /2/users/:me/bookmarks[/folders]                 1 a result | call
GET /x/notifications                 GET /2/users/:me/mentions: X v2 has no notifications
                                     endpoint; its mentions are the notifications it can give 1 a result
GET /x/timeline                      GET /2/users/:me/timelines/reverse_chronological     1 a result
GET /x/dm/{userId}/history           GET /2/dm_conversations/with/:id/dm_events           1 a result

Lists answer {<items>, hasMore, nextCursor}; `after` is the nextCursor of the page before (X's
pagination token and an offset into that X page), `limit` 1-100. `account` picks the connected
account (default: the caller's first active one). Errors: 404 tweet_not_found / user_not_found,
429 x_api_rate_limited, 502 x_api_unavailable, 403 account_needs_reauth.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from msgspec import Meta

from engine.social.platforms.x.direct import Page, Tweet
from engine.xquik.x_prices import cost_of, reserve_for
from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import (
    DIALECT,
    NONBLANK,
    PREFIX,
    USERNAME_PATTERN,
    XquikOut,
    shown,
    xquik_error,
)
from http_api.xquik.metering import metered
from http_api.xquik.x_common import (
    XArticleOut,
    XTweetOut,
    XUserOut,
    article_out,
    direct,
    numeric,
    tweet_out,
    user_out,
    username_of,
    x_read,
    x_session,
)

TAG = "Xquik X lookups"
Limit = Annotated[int, Meta(ge=1, le=100)]
# Our cursor: how many items of an X page were already answered (0-1000), then X's pagination token of
# that page when it is not the first: "<skip>" or "<skip>.<token>". Every string of the pattern is read;
# a token X does not know (expired, or never given out) is 404 not_found (x_common.x_read).
CURSOR_PATTERN = r"^(?:[0-9]{1,3}|1000)(?:\.[A-Za-z0-9_-]{1,256})?$"
Cursor = Annotated[str, Meta(pattern=CURSOR_PATTERN, description="nextCursor of the previous page")]


class AccountQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    account: Annotated[str, Meta(max_length=64)] | None = None


class ListQuery(AccountQuery, frozen=True, kw_only=True):
    after: Cursor | None = None
    limit: Limit = 20


class SearchQuery(ListQuery, frozen=True, kw_only=True):
    """q is required (400 missing_query, the document's code, when it is not given or blank)."""

    json_schema_extra: ClassVar[dict[str, object]] = {"required": ["q"]}
    q: Annotated[str, Meta(max_length=512), shown(pattern=NONBLANK)] = ""


class CheckQuery(AccountQuery, frozen=True, kw_only=True):
    """Both are required (400 missing_params when one is not given)."""

    json_schema_extra: ClassVar[dict[str, object]] = {"required": ["source", "target"]}
    source: Annotated[str, Meta(max_length=64), shown(pattern=USERNAME_PATTERN)] = ""
    target: Annotated[str, Meta(max_length=64), shown(pattern=USERNAME_PATTERN)] = ""


class NotificationsQuery(ListQuery, frozen=True, kw_only=True):
    type: Literal["all", "mentions", "verified"] = "all"


class TweetPage(XquikOut, frozen=True):
    tweets: list[XTweetOut]
    has_more: bool
    next_cursor: str | None


class UserPage(XquikOut, frozen=True):
    users: list[XUserOut]
    has_more: bool
    next_cursor: str | None


class FollowCheck(XquikOut, frozen=True):
    source: str
    target: str
    is_following: bool
    is_followed_by: bool


class Folder(XquikOut, frozen=True):
    id: str
    name: str | None


class Folders(XquikOut, frozen=True):
    folders: list[Folder]


class Notification(XquikOut, frozen=True):
    id: str
    type: Literal["mention"]
    created_at: str | None
    tweet: XTweetOut


class NotificationPage(XquikOut, frozen=True):
    notifications: list[Notification]
    has_more: bool
    next_cursor: str | None


class DmOut(XquikOut, frozen=True):
    id: str
    text: str
    sender_id: str | None
    created_at: str | None
    conversation_id: str | None


class DmPage(XquikOut, frozen=True):
    messages: list[DmOut]
    has_more: bool
    next_cursor: str | None


def _cursor(after: str | None) -> tuple[str | None, int]:
    """Our cursor: (X's pagination token of the page, how many of its items were already answered).
    X's pages have minimum sizes (5 or 10); a smaller `limit` answers them in several of ours."""
    if after is None:
        return None, 0
    skip, _, token = after.partition(".")  # its pattern checked by the query's decoding
    return token or None, int(skip)


def _encode(token: str | None, skip: int) -> str:
    return f"{skip}.{token}" if token else str(skip)


T = TypeVar("T")


def _window(items: list[T], after: str | None, limit: int, x_next: str | None) -> tuple[list[T], str | None]:
    token, skip = _cursor(after)
    rest = items[skip:]
    if len(rest) > limit:
        return rest[:limit], _encode(token, skip + limit)
    return rest, _encode(x_next, 0) if x_next else None


def _page_reply(key: str, items: list[Any], next_cursor: str | None) -> Reply:
    return Reply(200, {key: items, "hasMore": next_cursor is not None, "nextCursor": next_cursor})


def _tweets(
    page: Page, after: str | None, limit: int, keep: Any = None
) -> tuple[list[dict[str, Any]], str | None]:
    chosen = [t for t in page.tweets if keep is None or keep(t)]
    window, next_cursor = _window(chosen, after, limit, page.next_token)
    return [tweet_out(page, t) for t in window], next_cursor


# ---------------------------------------------------------------------------------------- single


async def get_tweet(call: Call) -> Reply:
    q = call.query_as(AccountQuery)
    tweet_id = numeric(call.path("id"), "invalid_tweet_id", "the tweet id")
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.tweet"), "x.tweet"), x_read("tweet_not_found"):
        page = await direct(call).tweet(session, tweet_id)
    return Reply(200, tweet_out(page, page.tweets[0]))


async def get_article(call: Call) -> Reply:
    q = call.query_as(AccountQuery)
    tweet_id = numeric(call.path("id"), "invalid_tweet_id", "the tweet id")
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.article"), "x.article"), x_read("tweet_not_found"):
        page = await direct(call).tweet(session, tweet_id)
        if page.tweets[0].article is None:
            raise xquik_error(404, "not_found", "that post is not an X Article")
    return Reply(200, article_out(page, page.tweets[0]))


async def get_user(call: Call) -> Reply:
    q = call.query_as(AccountQuery)
    username = username_of(call.path("username"))
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.user"), "x.user"), x_read("user_not_found"):
        user = await direct(call).user_by_username(session, username)
    return Reply(200, user_out(user))


async def check_follower(call: Call) -> Reply:
    q = call.query_as(CheckQuery)
    if not q.source or not q.target:
        raise xquik_error(400, "missing_params", "source and target usernames are required")
    source, target = username_of(q.source), username_of(q.target)
    session = await x_session(call, q.account)
    x = direct(call)
    async with metered(call, reserve_for("x.follow_check"), "x.follow_check"), x_read("user_not_found"):
        a = await x.user_by_username(session, source)
        b = await x.user_by_username(session, target)
        following = await x.follows(session, a.id, b.id)
        followed_by = await x.follows(session, b.id, a.id)
    return Reply(
        200,
        {"source": a.username, "target": b.username, "isFollowing": following, "isFollowedBy": followed_by},
    )


# ----------------------------------------------------------------------------------------- lists


async def search_tweets(call: Call) -> Reply:
    q = call.query_as(SearchQuery)
    if not q.q or not q.q.strip():
        raise xquik_error(400, "missing_query", "q (an X search query) is required")
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.search", q.limit), "x.search") as meter, x_read():
        page = await direct(call).search(session, q.q.strip(), q.limit, _cursor(q.after)[0])
        tweets, next_cursor = _tweets(page, q.after, q.limit)
        meter.use(cost_of("x.search", len(tweets)))
    return _page_reply("tweets", tweets, next_cursor)


async def user_tweets(call: Call) -> Reply:
    q = call.query_as(ListQuery)
    user_id = numeric(call.path("id"), "invalid_id", "the user id")
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.user_tweets", q.limit), "x.user_tweets") as meter:
        async with x_read("user_not_found"):
            page = await direct(call).user_tweets(session, user_id, q.limit, _cursor(q.after)[0])
        tweets, next_cursor = _tweets(page, q.after, q.limit)
        meter.use(cost_of("x.user_tweets", len(tweets)))
    return _page_reply("tweets", tweets, next_cursor)


async def user_likes(call: Call) -> Reply:
    q = call.query_as(ListQuery)
    user_id = numeric(call.path("id"), "invalid_id", "the user id")
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.user_likes", q.limit), "x.user_likes") as meter:
        async with x_read("user_not_found"):
            page = await direct(call).liked_tweets(session, user_id, q.limit, _cursor(q.after)[0])
        tweets, next_cursor = _tweets(page, q.after, q.limit)
        meter.use(cost_of("x.user_likes", len(tweets)))
    return _page_reply("tweets", tweets, next_cursor)


async def user_media(call: Call) -> Reply:
    """A page of the user's posts, those with photos or videos kept (X v2's timeline has no media
    filter): a page may hold fewer than `limit` while `hasMore` says there are more posts to look at."""
    q = call.query_as(ListQuery)
    user_id = numeric(call.path("id"), "invalid_id", "the user id")
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.user_media", q.limit), "x.user_media") as meter:
        async with x_read("user_not_found"):
            page = await direct(call).user_tweets(session, user_id, q.limit, _cursor(q.after)[0])
        tweets, next_cursor = _tweets(page, q.after, q.limit, lambda t: t.attachments is not None)
        meter.use(cost_of("x.user_media", len(tweets)))
    return _page_reply("tweets", tweets, next_cursor)


async def favoriters(call: Call) -> Reply:
    q = call.query_as(ListQuery)
    tweet_id = numeric(call.path("id"), "invalid_tweet_id", "the tweet id")
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.favoriters", q.limit), "x.favoriters") as meter:
        async with x_read("tweet_not_found"):
            users, token = await direct(call).liking_users(session, tweet_id, q.limit, _cursor(q.after)[0])
        window, next_cursor = _window(users, q.after, q.limit, token)
        out = [user_out(u) for u in window]
        meter.use(cost_of("x.favoriters", len(out)))
    return _page_reply("users", out, next_cursor)


async def followers_you_know(call: Call) -> Reply:
    """Followers of the user whom the caller's account follows: X API v2 has no mutual-followers
    endpoint, so this pages the user's followers (1,000 a page) and keeps those in the account's own
    following list (its first 5,000)."""
    q = call.query_as(ListQuery)
    user_id = numeric(call.path("id"), "invalid_id", "the user id")
    session = await x_session(call, q.account)
    x = direct(call)
    me = session.account.platform_user_id
    async with metered(call, reserve_for("x.followers_you_know", q.limit), "x.followers_you_know") as meter:
        async with x_read("user_not_found"):
            mine: set[str] = set()
            token: str | None = None
            for _ in range(5):
                users, token = await x.following(session, me, 1000, token)
                mine.update(u.id for u in users)
                if token is None:
                    break
            followers, next_token = await x.followers(session, user_id, 1000, _cursor(q.after)[0])
        window, next_cursor = _window([u for u in followers if u.id in mine], q.after, q.limit, next_token)
        known = [user_out(u) for u in window]
        meter.use(cost_of("x.followers_you_know", len(known)))
    return _page_reply("users", known, next_cursor)


async def bookmarks(call: Call) -> Reply:
    q = call.query_as(ListQuery)
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.bookmarks", q.limit), "x.bookmarks") as meter, x_read():
        page = await direct(call).bookmarks(session, q.limit, _cursor(q.after)[0])
        tweets, next_cursor = _tweets(page, q.after, q.limit)
        meter.use(cost_of("x.bookmarks", len(tweets)))
    return _page_reply("tweets", tweets, next_cursor)


async def bookmark_folders(call: Call) -> Reply:
    q = call.query_as(AccountQuery)
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.bookmark_folders"), "x.bookmark_folders"), x_read():
        folders = await direct(call).bookmark_folders(session)
    return Reply(200, {"folders": [{"id": f.id, "name": f.name} for f in folders]})


async def notifications(call: Call) -> Reply:
    q = call.query_as(NotificationsQuery)
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.notifications", q.limit), "x.notifications") as meter, x_read():
        page = await direct(call).mentions(session, q.limit, _cursor(q.after)[0])

        def verified(t: Tweet) -> bool:
            author = page.users.get(t.author_id or "")
            return author is not None and bool(author.verified)

        chosen = [t for t in page.tweets if q.type != "verified" or verified(t)]
        window, next_cursor = _window(chosen, q.after, q.limit, page.next_token)
        out = [
            {"id": t.id, "type": "mention", "createdAt": t.created_at, "tweet": tweet_out(page, t)}
            for t in window
        ]
        meter.use(cost_of("x.notifications", len(out)))
    return _page_reply("notifications", out, next_cursor)


async def timeline(call: Call) -> Reply:
    q = call.query_as(ListQuery)
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.timeline", q.limit), "x.timeline") as meter, x_read():
        page = await direct(call).home_timeline(session, q.limit, _cursor(q.after)[0])
        tweets, next_cursor = _tweets(page, q.after, q.limit)
        meter.use(cost_of("x.timeline", len(tweets)))
    return _page_reply("tweets", tweets, next_cursor)


async def dm_history(call: Call) -> Reply:
    q = call.query_as(ListQuery)
    user_id = numeric(call.path("userId"), "invalid_id", "the user id")
    session = await x_session(call, q.account)
    async with metered(call, reserve_for("x.dm_history", q.limit), "x.dm_history") as meter:
        async with x_read("user_not_found"):
            events, token = await direct(call).dm_history(session, user_id, q.limit, _cursor(q.after)[0])
        window, next_cursor = _window(events, q.after, q.limit, token)
        out = [
            {
                "id": e.id, "text": e.text or "", "senderId": e.sender_id, "createdAt": e.created_at,
                "conversationId": e.dm_conversation_id,
            }
            for e in window
        ]  # fmt: skip
        meter.use(cost_of("x.dm_history", len(out)))
    return _page_reply("messages", out, next_cursor)


def _op(path: str, handler: Any, summary: str, query: type, answer: type = TweetPage) -> Operation:
    return Operation(
        "GET",
        f"{PREFIX}{path}",
        handler,
        summary,
        None,
        TAG,
        query=query,
        dialect=DIALECT,
        responses={200: answer},
    )


OPERATIONS = [
    _op("/x/tweets/search", search_tweets, "Search recent tweets (1 credit a tweet)", SearchQuery),
    _op("/x/tweets/{id}", get_tweet, "Get a tweet with metrics, author and media (1 credit)", AccountQuery,
        XTweetOut),
    _op("/x/tweets/{id}/favoriters", favoriters, "Users who liked a tweet (1 credit a result)", ListQuery,
        UserPage),
    _op("/x/articles/{id}", get_article, "Get an X Article (5 credits)", AccountQuery, XArticleOut),
    _op("/x/followers/check", check_follower, "Check both follow directions (5 credits)", CheckQuery,
        FollowCheck),
    _op("/x/users/{username}", get_user, "Get a user by username (1 credit)", AccountQuery, XUserOut),
    _op("/x/users/{id}/tweets", user_tweets, "A user's recent tweets (1 credit a tweet)", ListQuery),
    _op("/x/users/{id}/likes", user_likes, "Tweets a user liked (1 credit a result)", ListQuery),
    _op("/x/users/{id}/media", user_media, "A user's media tweets (1 credit a result)", ListQuery),
    _op("/x/users/{id}/followers-you-know", followers_you_know, "Mutual followers (1 credit a result)",
        ListQuery, UserPage),
    _op("/x/bookmarks", bookmarks, "Bookmarked tweets (1 credit a result)", ListQuery),
    _op("/x/bookmarks/folders", bookmark_folders, "Bookmark folders (1 credit)", AccountQuery, Folders),
    _op("/x/notifications", notifications, "Notifications: mentions (1 credit a result)", NotificationsQuery,
        NotificationPage),
    _op("/x/timeline", timeline, "Home timeline (1 credit a result)", ListQuery),
    _op("/x/dm/{userId}/history", dm_history, "DM history with a user (1 credit a result)", ListQuery,
        DmPage),
]  # fmt: skip
