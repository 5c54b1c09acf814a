"""Xquik's extraction tool types over X API v2: the target each needs, the endpoint that serves it, the
row it yields and where its estimate comes from.

Of the document's 23 tool types these 17 are served (X API v2 has their endpoint):

| tool type | target | X API v2 | estimate source |
|---|---|---|---|
| reply_extractor | targetTweetId | search/all conversation_id:ID (direct replies) | replyCount |
| repost_extractor | targetTweetId | /2/tweets/:id/retweeted_by | retweetCount |
| quote_extractor | targetTweetId | /2/tweets/:id/quote_tweets | resultsLimit |
| favoriters | targetTweetId | /2/tweets/:id/liking_users | likeCount |
| thread_extractor | targetTweetId | search/all conversation_id:ID from:author | resultsLimit |
| follower_explorer | targetUsername | /2/users/:id/followers | followersCount |
| following_explorer | targetUsername | /2/users/:id/following | followingCount |
| verified_follower_explorer | targetUsername | /2/users/:id/followers, verified ones | followersCount |
| mention_extractor | targetUsername | /2/users/:id/mentions | resultsLimit |
| post_extractor | targetUsername | /2/users/:id/tweets | statusesCount |
| user_media | targetUsername | search/all from:user has:media | resultsLimit |
| user_likes | targetUsername | /2/users/:id/liked_tweets | resultsLimit |
| list_member_extractor | targetListId | /2/lists/:id/members | resultsLimit |
| list_follower_explorer | targetListId | /2/lists/:id/followers | resultsLimit |
| list_post_extractor | targetListId | /2/lists/:id/tweets | resultsLimit |
| tweet_search_extractor | searchQuery | search/all (filters as X operators) | resultsLimit |
| people_search | searchQuery | /2/users/search | resultsLimit |

Not served (400 invalid_tool_type): article_extractor (X API v2 gives no article body),
community_extractor, community_moderator_explorer, community_post_extractor, community_search (v2
has no community member, moderator or post endpoints), space_explorer (a Space's lookup names its
hosts and speakers, never its listeners).

A result costs CREDITS_PER_RESULT; the estimate is min(source count, resultsLimit or 10,000) results.
This module must never store anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.xquik.xread import TWEET_FIELDS, USER_FIELDS, Page, XReader, XReadError, tweet_id_of

CREDITS_PER_RESULT = 1
DEFAULT_LIMIT = 10_000
MAX_LIMIT = 1_000_000

TWEET_TOOLS = {"reply_extractor", "repost_extractor", "quote_extractor", "favoriters", "thread_extractor"}
USER_TOOLS = {
    "follower_explorer",
    "following_explorer",
    "verified_follower_explorer",
    "mention_extractor",
    "post_extractor",
    "user_media",
    "user_likes",
}
LIST_TOOLS = {"list_member_extractor", "list_follower_explorer", "list_post_extractor"}
SEARCH_TOOLS = {"tweet_search_extractor", "people_search"}
SERVED = TWEET_TOOLS | USER_TOOLS | LIST_TOOLS | SEARCH_TOOLS
NOT_SERVED = {
    "article_extractor",
    "community_extractor",
    "community_moderator_explorer",
    "community_post_extractor",
    "community_search",
    "space_explorer",
}
USER_ROWS = {
    "repost_extractor",
    "favoriters",
    "follower_explorer",
    "following_explorer",
    "verified_follower_explorer",
    "list_member_extractor",
    "list_follower_explorer",
    "people_search",
}

# The columns of GET /extractions/{id} results; exports add the rest of the row (enrichment).
USER_COLUMNS = ["xUserId", "xUsername", "xDisplayName", "xFollowersCount", "xVerified", "xProfileImageUrl"]
TWEET_COLUMNS = [
    "tweetId",
    "tweetText",
    "tweetCreatedAt",
    "xUserId",
    "xUsername",
    "likeCount",
    "retweetCount",
]


class ExtractionError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Plan:
    """How a job reads X: one paged endpoint, and what it keeps of each page."""

    tool_type: str
    path: str
    query: dict[str, Any]
    token_param: str
    rows: str  # 'user' | 'tweet'
    estimated: int
    source: str
    keep: dict[str, Any] = field(default_factory=dict)  # row filters, and the reply target


def _ts(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def user_row(user: dict[str, Any]) -> dict[str, Any]:
    metrics = user.get("public_metrics") or {}
    return {
        "xUserId": user["id"],
        "xUsername": user.get("username", ""),
        "xDisplayName": user.get("name", ""),
        "xFollowersCount": metrics.get("followers_count"),
        "xFollowingCount": metrics.get("following_count"),
        "xStatusesCount": metrics.get("tweet_count"),
        "xVerified": user.get("verified"),
        "xProfileImageUrl": user.get("profile_image_url"),
        "xDescription": user.get("description"),
        "xLocation": user.get("location"),
        "xCreatedAt": user.get("created_at"),
    }


def tweet_row(tweet: dict[str, Any], users: dict[str, dict[str, Any]]) -> dict[str, Any]:
    metrics = tweet.get("public_metrics") or {}
    author = users.get(tweet.get("author_id", ""), {"id": tweet.get("author_id", "")})
    row = {
        "tweetId": tweet["id"],
        "tweetText": tweet.get("text", ""),
        "tweetCreatedAt": tweet.get("created_at"),
        "tweetLang": tweet.get("lang"),
        "conversationId": tweet.get("conversation_id"),
        "likeCount": metrics.get("like_count"),
        "retweetCount": metrics.get("retweet_count"),
        "replyCount": metrics.get("reply_count"),
        "quoteCount": metrics.get("quote_count"),
    }
    row.update(user_row(author))
    return row


def api_columns(row: dict[str, Any]) -> dict[str, Any]:
    columns = TWEET_COLUMNS if "tweetId" in row else USER_COLUMNS
    return {c: row.get(c) for c in columns}


def _str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ExtractionError("invalid_input", f"{name} must be a non-empty string")
    return value.strip()


def results_limit(body: dict[str, Any]) -> int:
    value = body.get("resultsLimit")
    if value is None:
        return DEFAULT_LIMIT
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise ExtractionError("invalid_input", f"resultsLimit must be an integer 1..{MAX_LIMIT}")
    return value


_USERNAME = re.compile(r"^@?[A-Za-z0-9_]{1,15}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def search_query(body: dict[str, Any]) -> str:
    """searchQuery and the document's tweet search filters as X search operators."""
    parts = [_str(body, "searchQuery") or ""]
    for name, operator in (("fromUser", "from:"), ("toUser", "to:"), ("mentioning", "@")):
        value = _str(body, name)
        if value is not None:
            parts.append(operator + value.lstrip("@"))
    language = _str(body, "language")
    if language:
        parts.append(f"lang:{language}")
    media = _str(body, "mediaType")
    if media is not None:
        if media not in {"images", "videos", "gifs", "media"}:
            raise ExtractionError("invalid_input", "mediaType must be images, videos, gifs or media")
        parts.append(f"has:{media}")
    if body.get("verifiedOnly") is True:
        parts.append("is:verified")
    for name, operator in (("replies", "is:reply"), ("retweets", "is:retweet"), ("quotes", "is:quote")):
        value = _str(body, name)
        if value is None or value == "include":
            continue
        if value not in {"exclude", "only"}:
            raise ExtractionError("invalid_input", f"{name} must be include, exclude or only")
        parts.append(operator if value == "only" else "-" + operator)
    phrase = _str(body, "exactPhrase")
    if phrase:
        parts.append('"' + phrase.replace('"', "") + '"')
    for word in (_str(body, "excludeWords") or "").split(","):
        if word.strip():
            parts.append("-" + word.strip())
    advanced = _str(body, "advancedQuery")
    if advanced:
        parts.append(advanced)
    query = " ".join(p for p in parts if p)
    if not query:
        raise ExtractionError("invalid_input", "searchQuery (or a search filter) is required")
    return query


def _filters(body: dict[str, Any]) -> dict[str, Any]:
    keep: dict[str, Any] = {}
    for name in ("minFaves", "minRetweets", "minReplies", "minQuotes", "minFollowers", "maxFollowers",
                 "minAccountAgeDays"):  # fmt: skip
        value = body.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ExtractionError("invalid_input", f"{name} must be a non-negative integer")
            keep[name] = value
    for name in ("bioContains", "locationContains"):
        value = _str(body, name)
        if value:
            keep[name] = value.lower()
    for name in ("sinceDate", "untilDate"):
        value = _str(body, name)
        if value is not None:
            if not _DATE.match(value):
                raise ExtractionError("invalid_input", f"{name} must be YYYY-MM-DD")
            keep[name] = value
    if body.get("verifiedOnly") is True:
        keep["verifiedOnly"] = True
    return keep


def keeps(plan: Plan, row: dict[str, Any], now: datetime) -> bool:
    """Whether a row passes the job's filters (applied before billing: a dropped row costs nothing)."""
    k = plan.keep
    if "replyTo" in k and row.get("_repliedTo") != k["replyTo"]:
        return False
    if plan.tool_type == "verified_follower_explorer" and row.get("xVerified") is not True:
        return False
    checks = (("minFaves", "likeCount"), ("minRetweets", "retweetCount"), ("minReplies", "replyCount"),
              ("minQuotes", "quoteCount"), ("minFollowers", "xFollowersCount"))  # fmt: skip
    for name, column in checks:
        if name in k and (row.get(column) or 0) < k[name]:
            return False
    if "maxFollowers" in k and (row.get("xFollowersCount") or 0) > k["maxFollowers"]:
        return False
    if k.get("verifiedOnly") and row.get("xVerified") is not True:
        return False
    if "bioContains" in k and k["bioContains"] not in (row.get("xDescription") or "").lower():
        return False
    if "locationContains" in k and k["locationContains"] not in (row.get("xLocation") or "").lower():
        return False
    if "minAccountAgeDays" in k:
        created = _ts(row.get("xCreatedAt"))
        if created is None or (now - created).days < k["minAccountAgeDays"]:
            return False
    created_at = str(row.get("tweetCreatedAt") or "")[:10]
    if "sinceDate" in k and created_at and created_at < k["sinceDate"]:
        return False
    if "untilDate" in k and created_at and created_at >= k["untilDate"]:
        return False
    return True


def rows_of(plan: Plan, page: Page) -> list[tuple[str, dict[str, Any]]]:
    """(item id, row) for each item of a page, before filters."""
    out: list[tuple[str, dict[str, Any]]] = []
    for item in page.data:
        if plan.rows == "user":
            out.append((item["id"], user_row(item)))
            continue
        row = tweet_row(item, page.users)
        replied = [r["id"] for r in item.get("referenced_tweets") or [] if r.get("type") == "replied_to"]
        if replied:
            row["_repliedTo"] = replied[0]
        out.append((item["id"], row))
    return out


def validate(body: object) -> tuple[str, dict[str, Any]]:
    if not isinstance(body, dict):
        raise ExtractionError("invalid_input", "the body must be a JSON object")
    tool = body.get("toolType")
    if not isinstance(tool, str) or tool not in SERVED:
        raise ExtractionError("invalid_tool_type", f"toolType {tool!r} is not one this service runs")
    return tool, body


async def plan(reader: XReader, body: dict[str, Any]) -> Plan:
    """The job's reading plan and estimate, from X (the target looked up); ExtractionError, XReadError."""
    tool, body = validate(body)
    limit = results_limit(body)
    keep = _filters(body)
    user_q = {"user.fields": USER_FIELDS, "max_results": 1000}
    tweet_q = {"tweet.fields": TWEET_FIELDS, "expansions": "author_id", "user.fields": USER_FIELDS}
    rows = "user" if tool in USER_ROWS else "tweet"

    def done(path: str, query: dict[str, Any], token: str, count: int | None, source: str) -> Plan:
        estimated = min(limit, count) if count is not None else limit
        named = source if count is not None else "resultsLimit"
        return Plan(tool, path, query, token, rows, estimated, named, keep)

    if tool in TWEET_TOOLS:
        raw = body.get("targetTweetId")
        tweet_id = tweet_id_of(raw) if raw is not None else None
        if tweet_id is None:
            raise ExtractionError("invalid_tweet_id", "targetTweetId is empty or invalid")
        tweet, author, _ = await reader.tweet(tweet_id)
        metrics = tweet.get("public_metrics") or {}
        if tool == "reply_extractor":
            keep["replyTo"] = tweet_id
            query = {**tweet_q, "query": f"conversation_id:{tweet_id}", "max_results": 500}
            return done("/2/tweets/search/all", query, "next_token", metrics.get("reply_count", 0),
                        "replyCount")  # fmt: skip
        if tool == "thread_extractor":
            who = (author or {}).get("username", "")
            query = {**tweet_q, "query": f"conversation_id:{tweet_id} from:{who}", "max_results": 500}
            return done("/2/tweets/search/all", query, "next_token", None, "")
        if tool == "quote_extractor":
            query = {**tweet_q, "max_results": 100}
            # resultsLimit, not quote_count: X counts quotes its quote_tweets endpoint may not list
            return done(f"/2/tweets/{tweet_id}/quote_tweets", query, "pagination_token", None, "")
        edge, metric, source = {
            "repost_extractor": ("retweeted_by", "retweet_count", "retweetCount"),
            "favoriters": ("liking_users", "like_count", "likeCount"),
        }[tool]
        return done(f"/2/tweets/{tweet_id}/{edge}", {**user_q, "max_results": 100}, "pagination_token",
                    metrics.get(metric, 0), source)  # fmt: skip

    if tool in USER_TOOLS:
        name = _str(body, "targetUsername")
        if name is None or not _USERNAME.match(name):
            raise ExtractionError("invalid_username", "targetUsername is empty or invalid")
        user = await reader.user_by_username(name.lstrip("@"))
        metrics = user.get("public_metrics") or {}
        uid = user["id"]
        if tool in {"follower_explorer", "verified_follower_explorer"}:
            return done(f"/2/users/{uid}/followers", user_q, "pagination_token",
                        metrics.get("followers_count", 0), "followersCount")  # fmt: skip
        if tool == "following_explorer":
            return done(f"/2/users/{uid}/following", user_q, "pagination_token",
                        metrics.get("following_count", 0), "followingCount")  # fmt: skip
        if tool == "post_extractor":
            return done(f"/2/users/{uid}/tweets", {**tweet_q, "max_results": 100}, "pagination_token",
                        metrics.get("tweet_count", 0), "statusesCount")  # fmt: skip
        if tool == "mention_extractor":
            return done(f"/2/users/{uid}/mentions", {**tweet_q, "max_results": 100}, "pagination_token",
                        None, "")  # fmt: skip
        if tool == "user_likes":
            return done(f"/2/users/{uid}/liked_tweets", {**tweet_q, "max_results": 100}, "pagination_token",
                        None, "")  # fmt: skip
        query = {**tweet_q, "query": f"from:{user['username']} has:media", "max_results": 500}
        return done("/2/tweets/search/all", query, "next_token", None, "")

    if tool in LIST_TOOLS:
        list_id = _str(body, "targetListId")
        if list_id is None or not list_id.isdigit():
            raise ExtractionError("invalid_input", "targetListId must be a numeric list id")
        lists = {"list_member_extractor": "members", "list_follower_explorer": "followers"}
        if tool in lists:
            edge = lists[tool]
            return done(f"/2/lists/{list_id}/{edge}", user_q, "pagination_token", None, "")

        return done(f"/2/lists/{list_id}/tweets", {**tweet_q, "max_results": 100}, "pagination_token",
                    None, "")  # fmt: skip

    if tool == "people_search":
        query_text = _str(body, "searchQuery")
        if not query_text:
            raise ExtractionError("invalid_input", "searchQuery is required")
        return done("/2/users/search", {**user_q, "query": query_text}, "next_token", None, "")
    query = {**tweet_q, "query": search_query(body), "max_results": 500}
    return done("/2/tweets/search/all", query, "next_token", None, "")


def credits_for(results: int) -> int:
    return results * CREDITS_PER_RESULT


Now = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = ["ExtractionError", "Plan", "XReadError", "credits_for", "keeps", "plan", "rows_of"]
