"""What the X simulator serves for account monitors and trends: app-only bearer tokens, quotes and
reposts on the user timeline, and GET /2/trends/by/woeid/{woeid}.

    token = app_bearer(sim.world)                        # an app-only token (OAuth 2.0 client credentials)
    quote(sim.world, by="alice", of=post_id, text="so true")
    repost(sim.world, by="alice", of=post_id)            # "RT @bob: ..." with referenced_tweets retweeted
    sim.monitoring.trends[1] = [("#AI", 12000), ("Python", None)]

X's user timeline (GET /2/users/:id/tweets) names what a post refers to in `referenced_tweets`
(`replied_to`, `quoted`, `retweeted`): `references(sim, post, out)` adds the quoted and retweeted ones
to the rendering of `x_api` (which adds `replied_to`) and counts them in the referenced posts'
public_metrics. Trends answer X API v2's shape `{"data": [{"trend_name", "tweet_count"}]}` with
`max_trends` 1-50 (default 20); a WOEID X has no trends for answers 200 with a resource-not-found
error, as X does. App-only tokens read (tweet.read, users.read) and are rate-limited per app, as X does.
This module must never be imported by the engine's production path.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.social.simulation.x_state import Grant, SimPost, XWorld

if TYPE_CHECKING:
    from engine.social.simulation.x_api import XSimulator

APP_USER = "app"  # the rate-window caller of app-only tokens: one window per app, as X counts them
TRENDS_WINDOW = (75, 900)  # X: GET /2/trends/by/woeid/:id, 75 requests per 15 minutes per app


@dataclass
class MonitoringWorld:
    trends: dict[int, list[tuple[str, int | None]]] = field(default_factory=dict)
    """WOEID -> (trend name, tweet count or None), in rank order."""


def app_bearer(world: XWorld, client_id: str = "xquik-app") -> str:
    """A new app-only bearer token of `client_id` that never expires."""
    token = "AAAA" + secrets.token_urlsafe(40)
    world.access_tokens[token] = Grant(
        APP_USER + ":" + client_id, client_id, frozenset({"tweet.read", "users.read"}), float("inf")
    )
    return token


def quote(world: XWorld, *, by: str, of: str, text: str = "") -> SimPost:
    author = world.user_by_name(by) or world.users[by]
    post = world.create_post(author.id, text or f"quoting {of}")
    post.quoted_post_id = of
    return post


def repost(world: XWorld, *, by: str, of: str) -> SimPost:
    author = world.user_by_name(by) or world.users[by]
    original = world.posts[of]
    original_author = world.users[original.author_id]
    post = world.create_post(author.id, f"RT @{original_author.username}: {original.text}"[:280])
    post.retweeted_post_id = of
    original.retweeted_by.add(author.id)  # as POST /2/users/:id/retweets records it (x_api_lookups)
    return post


def references(
    sim: XSimulator, post: SimPost, out: dict[str, Any], fields: set[str] | None = None
) -> dict[str, Any]:
    """`out` (a rendering of `post`: x_api's, or x_api_lookups' with the `fields` asked for) with its
    quoted / retweeted references and its quote and repost counts."""
    if fields is not None and "referenced_tweets" not in fields:
        return _counts(sim, post, out)
    refs = list(out.get("referenced_tweets") or [])
    if post.quoted_post_id:
        refs.append({"type": "quoted", "id": post.quoted_post_id})
    if post.retweeted_post_id:
        refs.append({"type": "retweeted", "id": post.retweeted_post_id})
    if refs:
        out["referenced_tweets"] = refs
    return _counts(sim, post, out)


def _counts(sim: XSimulator, post: SimPost, out: dict[str, Any]) -> dict[str, Any]:
    metrics = out.get("public_metrics")
    if isinstance(metrics, dict):
        live = [p for p in sim.world.posts.values() if not p.deleted]
        metrics["retweet_count"] = len(post.retweeted_by)
        metrics["quote_count"] = sum(1 for p in live if p.quoted_post_id == post.id)
    return out


def routes(sim: XSimulator) -> list[Route]:
    """The routes this module adds to the simulator (behind its auth, rate windows and faults)."""
    sim.limits.setdefault(("GET", "/2/trends/by/woeid/{woeid}"), TRENDS_WINDOW)

    async def trends(request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import _json, invalid, not_found

        raw = request.path_params["woeid"]
        if not raw.isdigit():
            return invalid(f"The `id` query parameter value [{raw}] is not valid", "id", raw)
        try:
            size = int(request.query_params.get("max_trends", "20"))
        except ValueError:
            size = -1
        if not 1 <= size <= 50:
            value = str(request.query_params.get("max_trends"))
            return invalid(
                f"The `max_trends` query parameter value [{value}] is not between 1 and 50",
                "max_trends",
                value,
            )
        listed = sim.monitoring.trends.get(int(raw))
        if listed is None:
            return not_found("trends", "woeid", raw)
        data = []
        for name, count in listed[:size]:
            entry: dict[str, Any] = {"trend_name": name}
            if count is not None:
                entry["tweet_count"] = count
            data.append(entry)
        return _json({"data": data})

    return [sim._route("GET", "/2/trends/by/woeid/{woeid}", trends)]
