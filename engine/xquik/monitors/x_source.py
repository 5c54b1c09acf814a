"""What monitors and trends read from X: the X API v2 with the deployment's app-only bearer token.

    source = XSource(x_connector.http, bearer=settings.monitors.x_bearer_token)
    user = await source.user("elonmusk")                       # GET /2/users/by/username/:username
    page = await source.timeline(user.id, cursor, size=100)    # GET /2/users/:id/tweets, newest first
    trends = await source.trends(1, count=30)                  # GET /2/trends/by/woeid/:woeid

It reuses the X connector's HTTP client (engine/social/platforms/x/connector.py: X's 401 / 429 with
x-rate-limit-reset / 5xx classification, engine/social/platform_http.py) with a fixed bearer instead of a
connected account's tokens. The timeline is swept with engine/social/cursors.py, so a caller that stores
the cursor after each page sees every post once; each post is classified by its `referenced_tweets`:
retweeted -> tweet.retweet, quoted -> tweet.quote, replied_to -> tweet.reply, none -> tweet.new.
This module must never enforce rate limits (the poller does, through the loop's RateLimiter) or store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from engine.social.cursors import SweepState, newer_snowflake
from engine.social.errors import AuthExpired, Permanent
from engine.social.platform_http import PlatformHttp
from engine.social.platforms.x import shapes

TWEET_FIELDS = shapes.TWEET_FIELDS


class TrendShape(msgspec.Struct, frozen=True):
    trend_name: str
    tweet_count: int | None = None


class TrendsAnswer(msgspec.Struct, frozen=True):
    data: list[TrendShape] = []
    errors: list[shapes.LookupError_] = []


@dataclass(frozen=True)
class TimelinePost:
    type: str  # tweet.new | tweet.reply | tweet.quote | tweet.retweet
    id: str
    text: str
    created_at: str | None
    referenced_id: str | None
    metrics: dict[str, int]


@dataclass(frozen=True)
class TimelinePage:
    posts: list[TimelinePost]  # newest first, only those newer than the previous sweep
    cursor: str
    more: bool


def classify(tweet: shapes.XTweet) -> tuple[str, str | None]:
    refs = {ref.type: ref.id for ref in tweet.referenced_tweets or []}
    for kind, event in (
        ("retweeted", "tweet.retweet"),
        ("quoted", "tweet.quote"),
        ("replied_to", "tweet.reply"),
    ):
        if kind in refs:
            return event, refs[kind]
    return "tweet.new", None


def _metrics(tweet: shapes.XTweet) -> dict[str, int]:
    m = tweet.public_metrics
    if m is None:
        return {"likes": 0, "retweets": 0, "replies": 0}
    return {
        "likes": m.like_count,
        "retweets": m.retweet_count,
        "replies": m.reply_count,
        "quotes": m.quote_count,
    }


class XSource:
    def __init__(self, http: PlatformHttp, *, bearer: str) -> None:
        self._http = http
        self.bearer = bearer  # may be replaced at run time (a rotated token)

    def _token(self) -> str:
        if not self.bearer:
            raise AuthExpired("no X app bearer token configured (monitors.x_bearer_token)", platform="x")
        return self.bearer

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        return await self._http.call("GET", path, None, params=params, bearer=self._token())

    async def user(self, username: str) -> shapes.XUser:
        response = await self._get(f"/2/users/by/username/{username}", {"user.fields": shapes.USER_FIELDS})
        answer = self._http.decode(response, shapes.UserAnswer)
        if answer.data is None:
            detail = answer.errors[0].detail if answer.errors else "user not found"
            raise Permanent("not_found", detail, platform="x", status=200, detail=detail)
        return answer.data

    async def newest_cursor(self, user_id: str) -> str:
        """A cursor whose sweeps hand out only posts newer than the user's newest one now."""
        response = await self._get(f"/2/users/{user_id}/tweets", {"max_results": "5"})
        answer = self._http.decode(response, shapes.TweetsAnswer)
        newest = answer.meta.newest_id or (answer.data[0].id if answer.data else None)
        return SweepState(watermark=newest).dump()

    async def timeline(self, user_id: str, cursor: str | None, size: int) -> TimelinePage:
        state = SweepState.load(cursor)
        params = {"max_results": str(max(5, min(100, size))), "tweet.fields": TWEET_FIELDS}
        if state.watermark is not None:
            params["since_id"] = state.watermark
        if state.token is not None:
            params["pagination_token"] = state.token
        response = await self._get(f"/2/users/{user_id}/tweets", params)
        answer = self._http.decode(response, shapes.TweetsAnswer)
        keep, state, more = state.advance(
            [t.id for t in answer.data], answer.meta.next_token, newer_snowflake
        )
        posts = []
        for index in keep:
            tweet = answer.data[index]
            kind, referenced = classify(tweet)
            posts.append(
                TimelinePost(kind, tweet.id, tweet.text, tweet.created_at, referenced, _metrics(tweet))
            )
        return TimelinePage(posts, state.dump(), more)

    async def trends(self, woeid: int, count: int) -> list[TrendShape]:
        params = {"max_trends": str(max(1, min(50, count))), "trend.fields": "trend_name,tweet_count"}
        response = await self._get(f"/2/trends/by/woeid/{woeid}", params)
        answer = self._http.decode(response, TrendsAnswer)
        if not answer.data and answer.errors:
            detail = answer.errors[0].detail
            raise Permanent("not_found", detail, platform="x", status=200, detail=detail)
        return answer.data
