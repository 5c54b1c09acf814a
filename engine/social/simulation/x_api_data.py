"""The X simulator's bulk-data reads that x_api_lookups.py does not serve, for Xquik's draws,
extractions and media downloads (engine/xquik/), with X API v2's paths, parameters and shapes:

    GET /2/tweets/search/all?query=             full-archive search (10-500 a page, next_token)
    GET /2/tweets/:id/retweeted_by              1-100 a page
    GET /2/tweets/:id/quote_tweets              10-100 a page
    GET /2/users?ids=                           user lookup (up to 100) with user.fields
    GET /2/users/search?query=                  people search (1-1000, next_token)
    GET /2/lists/:id/members | followers | tweets

Follows (SimUser.followers), retweets (SimPost.retweeted_by), media (SimPost.media), profiles and
rendering are shared with x_api_lookups; tweets carry `lang` (SimPost.lang) and quotes
(SimPost.quoted_post_id) on top of its rendering. Search operators:
`conversation_id:`, `from:`, `to:`, `lang:`, `has:media|images|videos`, `is:reply|quote|verified`,
`#tag`, `@user`, `"exact phrase"`, `-term` (negation of any) and bare words, all ANDed (no `OR`).
Knobs: `quote(world, post_id, by)`, `add_list(world, owner, name)` (then `.members` / `.followers`).
Registered by one line in XSimulator. This module must never be imported by the engine's production path.
"""

from __future__ import annotations

import base64
import re
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.social.simulation.x_api_lookups import render_user, tweets_body
from engine.social.simulation.x_state import Grant, SimPost, XWorld

if TYPE_CHECKING:
    from engine.social.simulation.x_api import XSimulator


@dataclass
class SimList:
    id: str
    name: str
    owner_id: str
    members: list[str] = field(default_factory=list)
    followers: list[str] = field(default_factory=list)


_LISTS: weakref.WeakKeyDictionary[XWorld, dict[str, SimList]] = weakref.WeakKeyDictionary()


def lists_of(world: XWorld) -> dict[str, SimList]:
    found = _LISTS.get(world)
    if found is None:
        found = _LISTS[world] = {}
    return found


def quote(world: XWorld, post_id: str, by: str, text: str = "") -> SimPost:
    author = world._user(by)
    post = world.create_post(author.id, text or f"quoting {post_id}")
    post.quoted_post_id = post_id
    return post


def add_list(world: XWorld, owner: str, name: str) -> SimList:
    item = SimList(world.new_id(), name, world._user(owner).id)
    lists_of(world)[item.id] = item
    return item


def _fields(request: Request, name: str) -> set[str]:
    return {f for f in request.query_params.get(name, "").split(",") if f}


def tweets_answer(
    sim: XSimulator, request: Request, posts: list[SimPost], meta: dict[str, Any] | None
) -> dict[str, Any]:
    """x_api_lookups' rendering, with lang, quote counts and quoted references."""
    body = tweets_body(sim, request, posts, meta)
    fields = _fields(request, "tweet.fields")
    by_id = {p.id: p for p in posts}
    live = [p for p in sim.world.posts.values() if not p.deleted]
    for tweet in body.get("data") or []:
        post = by_id[tweet["id"]]
        if "lang" in fields:
            tweet["lang"] = post.lang
        if "public_metrics" in tweet:
            tweet["public_metrics"]["quote_count"] = sum(1 for p in live if p.quoted_post_id == post.id)
        if "referenced_tweets" in fields and post.quoted_post_id:
            tweet.setdefault("referenced_tweets", []).append({"type": "quoted", "id": post.quoted_post_id})
    return body


def _offset_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _offset(token: str | None) -> int | None:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("o:")) if text.startswith("o:") else None
    except ValueError:
        return None


# ------------------------------------------------------------------------------------ search

_TOKEN = re.compile(r'-?"[^"]*"|\S+')
_KINDS = {"media": {"photo", "video", "animated_gif"}, "images": {"photo"}, "videos": {"video"},
          "gifs": {"animated_gif"}}  # fmt: skip


def _matches(world: XWorld, post: SimPost, term: str) -> bool:
    author = world.users.get(post.author_id)
    text = post.text.lower()
    key, _, value = term.partition(":")
    if term.startswith('"'):
        return term.strip('"').lower() in text
    if value and key == "conversation_id":
        return post.conversation_id == value and post.id != value
    if value and key == "from":
        return author is not None and author.username.lower() == value.lower().lstrip("@")
    if value and key == "to":
        parent = world.users.get(post.in_reply_to_user_id or "")
        return parent is not None and parent.username.lower() == value.lower().lstrip("@")
    if value and key == "lang":
        return post.lang == value
    if value and key == "has":
        kinds = {m["type"] for m in post.media}
        return bool(kinds & _KINDS.get(value, set()))
    if value and key == "is":
        if value == "reply":
            return post.in_reply_to_post_id is not None
        if value == "verified":
            return author is not None and author.verified
        if value == "quote":
            return post.quoted_post_id is not None
        return False  # is:retweet: the world holds no retweets as posts
    if term.startswith("#"):
        return re.search(r"(?<!\w)" + re.escape(term.lower()) + r"\b", text) is not None
    return term.lower() in text


def search(world: XWorld, query: str) -> list[SimPost]:
    terms = _TOKEN.findall(query)
    found = []
    for post in world.visible_posts():
        for term in terms:
            negated = term.startswith("-") and len(term) > 1
            if _matches(world, post, term[1:] if negated else term) == negated:
                break
        else:
            found.append(post)
    return found


# ------------------------------------------------------------------------------------ routes


class XData:
    """The bulk-data endpoints of one XSimulator."""

    def __init__(self, sim: XSimulator) -> None:
        self.sim = sim
        self.world: XWorld = sim.world
        self.routes: list[Route] = [
            sim._route("GET", "/2/tweets/search/all", self.search_all),
            sim._route("GET", "/2/tweets/{id}/retweeted_by", self.retweeted_by),
            sim._route("GET", "/2/tweets/{id}/quote_tweets", self.quote_tweets),
            sim._route("GET", "/2/users", self.users_lookup),
            sim._route("GET", "/2/users/search", self.users_search),
            sim._route("GET", "/2/lists/{id}/members", self.list_members),
            sim._route("GET", "/2/lists/{id}/followers", self.list_followers),
            sim._route("GET", "/2/lists/{id}/tweets", self.list_tweets),
        ]

    @staticmethod
    def _json(body: Any) -> Response:
        from engine.social.simulation.x_api import _json

        return _json(body)

    def _window(
        self, request: Request, items: list[Any], low: int, high: int, default: int, param: str
    ) -> tuple[list[Any], dict[str, Any]] | Response:
        """One page by an opaque offset token (X's tokens are opaque)."""
        from engine.social.simulation.x_api import invalid

        q = request.query_params
        try:
            size = int(q.get("max_results", str(default)))
        except ValueError:
            size = -1
        if not low <= size <= high:
            return invalid(
                f"The `max_results` query parameter value [{q.get('max_results')}] is not between "
                f"{low} and {high}",
                "max_results",
                str(q.get("max_results")),
            )
        start = _offset(q.get(param))
        if start is None:
            return invalid(f"The `{param}` query parameter value is not valid", param, q.get(param) or "")
        page = items[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if start + size < len(items):
            meta["next_token"] = _offset_token(start + size)
        return page, meta

    def _users(self, request: Request, ids: list[str], high: int = 1000, default: int = 100,
               param: str = "pagination_token") -> Response:  # fmt: skip
        paged = self._window(request, ids, 1, high, default, param)
        if isinstance(paged, Response):
            return paged
        page, meta = paged
        fields = _fields(request, "user.fields")
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = [render_user(self.sim, self.world.users[i], fields) for i in page]
        return self._json(body)

    def _tweets(
        self, request: Request, posts: list[SimPost], low: int, high: int, default: int, param: str
    ) -> Response:
        paged = self._window(request, posts, low, high, default, param)
        if isinstance(paged, Response):
            return paged
        page, meta = paged
        return self._json(tweets_answer(self.sim, request, page, meta))

    def _post(self, request: Request) -> SimPost | Response:
        from engine.social.simulation.x_api import invalid, not_found

        tweet_id = str(request.path_params["id"])
        if not tweet_id.isdigit():
            return invalid(f"The `id` query parameter value [{tweet_id}] is not valid", "id", tweet_id)
        post = self.world.posts.get(tweet_id)
        if post is None or post.deleted:
            return not_found("tweet", "id", tweet_id)
        return post

    async def search_all(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import invalid

        query = request.query_params.get("query", "").strip()
        if not query or len(query) > 1024:
            return invalid("The `query` query parameter value is not valid", "query", query[:40])
        return self._tweets(request, search(self.world, query), 10, 500, 10, "next_token")

    async def retweeted_by(self, request: Request, grant: Grant) -> Response:
        post = self._post(request)
        if isinstance(post, Response):
            return post
        return self._users(request, sorted(post.retweeted_by, key=int), high=100)

    async def quote_tweets(self, request: Request, grant: Grant) -> Response:
        post = self._post(request)
        if isinstance(post, Response):
            return post
        quotes = [p for p in self.world.visible_posts() if p.quoted_post_id == post.id]
        return self._tweets(request, quotes, 10, 100, 10, "pagination_token")

    async def users_lookup(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import invalid

        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not ids or len(ids) > 100 or not all(i.isdigit() for i in ids):
            return invalid("The `ids` query parameter value is not valid", "ids", ",".join(ids)[:40])
        fields = _fields(request, "user.fields")
        users = [render_user(self.sim, self.world.users[i], fields) for i in ids if i in self.world.users]
        return self._json({"data": users} if users else {})

    async def users_search(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import invalid

        query = request.query_params.get("query", "").strip().lower()
        if not query:
            return invalid("The `query` query parameter can not be empty", "query", "")
        ids = [
            u.id
            for u in sorted(self.world.users.values(), key=lambda u: int(u.id))
            if query in u.username.lower() or query in u.name.lower()
            or query in u.description.lower()
        ]  # fmt: skip
        return self._users(request, ids, param="next_token")

    def _list(self, request: Request) -> SimList | Response:
        from engine.social.simulation.x_api import not_found

        item = lists_of(self.world).get(request.path_params["id"])
        return item if item is not None else not_found("list", "id", request.path_params["id"])

    async def list_members(self, request: Request, grant: Grant) -> Response:
        item = self._list(request)
        return item if isinstance(item, Response) else self._users(request, list(item.members))

    async def list_followers(self, request: Request, grant: Grant) -> Response:
        item = self._list(request)
        return item if isinstance(item, Response) else self._users(request, list(item.followers))

    async def list_tweets(self, request: Request, grant: Grant) -> Response:
        item = self._list(request)
        if isinstance(item, Response):
            return item
        posts = [p for p in self.world.visible_posts() if p.author_id in item.members]
        return self._tweets(request, posts, 1, 100, 100, "pagination_token")
