"""The X simulator's read endpoints for bulk data: what Xquik's draws, extractions and media
downloads call (engine/xquik/), with X API v2's paths, parameters and shapes.

    GET /2/tweets?ids=                          tweet lookup (up to 100), media and author expansions
    GET /2/tweets/search/all?query=             full-archive search (next_token); the operators below
    GET /2/tweets/:id/retweeted_by | liking_users | quote_tweets
    GET /2/users?ids=                           user lookup with user.fields
    GET /2/users/:id/followers | following | liked_tweets
    GET /2/users/search?query=                  people search (next_token)
    GET /2/lists/:id/members | followers | tweets

Search operators understood: `conversation_id:`, `from:`, `to:`, `lang:`, `has:media|images|videos`,
`is:reply`, `is:verified`, `#tag`, `@user`, `"exact phrase"`, `-term` (negation of any of them) and bare
words (all ANDed; `OR` is not understood). Knobs: `follow(world, follower, followed)`, `retweet`,
`add_media`, `quote`, `data_world(world).lists` for X lists. Registered by one line in XSimulator.
This module must never be imported by the engine's production path.
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

from engine.social.simulation.x_state import Grant, SimPost, SimUser, XWorld

if TYPE_CHECKING:
    from engine.social.simulation.x_api import XSimulator


@dataclass
class SimList:
    id: str
    name: str
    owner_id: str
    members: list[str] = field(default_factory=list)
    followers: list[str] = field(default_factory=list)


@dataclass
class DataWorld:
    lists: dict[str, SimList] = field(default_factory=dict)


_DATA: weakref.WeakKeyDictionary[XWorld, DataWorld] = weakref.WeakKeyDictionary()


def data_world(world: XWorld) -> DataWorld:
    state = _DATA.get(world)
    if state is None:
        state = _DATA[world] = DataWorld()
    return state


# ------------------------------------------------------------------------------------- knobs


def follow(world: XWorld, follower: str, followed: str) -> None:
    a, b = world._user(follower), world._user(followed)
    b.followers.add(a.id)


def retweet(world: XWorld, post_id: str, by: str) -> None:
    world.posts[post_id].retweeted_by.add(world._user(by).id)


def add_media(world: XWorld, post_id: str, kind: str = "photo") -> dict[str, str]:
    post = world.posts[post_id]
    key = f"3_{world.new_id()}"
    ext = "jpg" if kind == "photo" else "mp4"
    item = {"media_key": key, "type": kind, "url": f"https://pbs.twimg.com/media/{key}.{ext}"}
    post.media.append(item)
    return item


def quote(world: XWorld, post_id: str, by: str, text: str = "") -> SimPost:
    author = world._user(by)
    post = world.create_post(author.id, text or f"quoting {post_id}")
    post.quoted_post_id = post_id
    return post


def add_list(world: XWorld, owner: str, name: str) -> SimList:
    item = SimList(world.new_id(), name, world._user(owner).id)
    data_world(world).lists[item.id] = item
    return item


# --------------------------------------------------------------------------------- rendering

USER_FIELDS = ("created_at", "description", "location", "public_metrics", "verified")


def _iso(seconds: float) -> str:
    from engine.social.simulation.x_api import _iso as iso

    return iso(seconds)


def render_user(world: XWorld, user: SimUser, fields: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
    if "created_at" in fields:
        out["created_at"] = _iso(user.created_at)
    if "description" in fields:
        out["description"] = user.description
    if "location" in fields and user.location:
        out["location"] = user.location
    if "verified" in fields:
        out["verified"] = user.verified
    if "public_metrics" in fields:
        following = sum(1 for u in world.users.values() if user.id in u.followers)
        out["public_metrics"] = {
            "followers_count": len(user.followers),
            "following_count": following,
            "tweet_count": sum(1 for p in world.posts.values() if p.author_id == user.id and not p.deleted),
            "listed_count": 0,
        }
    return out


def render_tweet(world: XWorld, post: SimPost) -> dict[str, Any]:
    live = [p for p in world.posts.values() if not p.deleted]
    out: dict[str, Any] = {
        "id": post.id,
        "text": post.text,
        "author_id": post.author_id,
        "created_at": _iso(post.created_at),
        "conversation_id": post.conversation_id,
        "lang": post.lang,
        "edit_history_tweet_ids": [post.id],
        "public_metrics": {
            "retweet_count": len(post.retweeted_by),
            "reply_count": sum(1 for p in live if p.in_reply_to_post_id == post.id),
            "like_count": len(post.liked_by),
            "quote_count": sum(1 for p in live if p.quoted_post_id == post.id),
            "bookmark_count": 0,
            "impression_count": 10 * (1 + len(post.liked_by)),
        },
    }
    refs = []
    if post.in_reply_to_post_id:
        out["in_reply_to_user_id"] = post.in_reply_to_user_id
        refs.append({"type": "replied_to", "id": post.in_reply_to_post_id})
    if post.quoted_post_id:
        refs.append({"type": "quoted", "id": post.quoted_post_id})
    if refs:
        out["referenced_tweets"] = refs
    if post.media:
        out["attachments"] = {"media_keys": [m["media_key"] for m in post.media]}
    return out


def _user_fields(request: Request) -> set[str]:
    return set(filter(None, request.query_params.get("user.fields", "").split(",")))


def _tweets_body(world: XWorld, request: Request, posts: list[SimPost]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if not posts:
        return body
    body["data"] = [render_tweet(world, p) for p in posts]
    fields = _user_fields(request)
    authors = sorted({p.author_id for p in posts})
    includes: dict[str, Any] = {
        "users": [render_user(world, world.users[a], fields) for a in authors if a in world.users]
    }
    media = [m for p in posts for m in p.media]
    if media:
        includes["media"] = [
            {"media_key": m["media_key"], "type": m["type"], "url": m["url"]}
            if m["type"] == "photo"
            else {
                "media_key": m["media_key"],
                "type": m["type"],
                "variants": [{"content_type": "video/mp4", "bit_rate": 2176000, "url": m["url"]}],
            }
            for m in media
        ]
    body["includes"] = includes
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
        wanted = {"media": {"photo", "video", "animated_gif"}, "images": {"photo"}}.get(value)
        return bool(kinds & (wanted or {value.rstrip("s")}))
    if value and key == "is":
        if value == "reply":
            return post.in_reply_to_post_id is not None
        if value == "verified":
            return author is not None and author.verified
        if value == "quote":
            return post.quoted_post_id is not None
        return False
    if value and key == "url":
        return value.lower() in text
    return term.lower() in text


def search(world: XWorld, query: str) -> list[SimPost]:
    terms = _TOKEN.findall(query)
    found = []
    for post in world.visible_posts():
        ok = True
        for term in terms:
            negated = term.startswith("-") and len(term) > 1
            hit = _matches(world, post, term[1:] if negated else term)
            if hit == negated:
                ok = False
                break
        if ok:
            found.append(post)
    return found


# ------------------------------------------------------------------------------------ routes


class XData:
    """The data endpoints of one XSimulator."""

    def __init__(self, sim: XSimulator) -> None:
        self.sim = sim
        self.world = sim.world
        self.routes: list[Route] = [
            sim._route("GET", "/2/tweets", self.tweets_lookup),
            sim._route("GET", "/2/tweets/search/all", self.search_all),
            sim._route("GET", "/2/tweets/{id}/retweeted_by", self.retweeted_by),
            sim._route("GET", "/2/tweets/{id}/liking_users", self.liking_users),
            sim._route("GET", "/2/tweets/{id}/quote_tweets", self.quote_tweets),
            sim._route("GET", "/2/users", self.users_lookup),
            sim._route("GET", "/2/users/search", self.users_search),
            sim._route("GET", "/2/users/{id}/followers", self.followers),
            sim._route("GET", "/2/users/{id}/following", self.following),
            sim._route("GET", "/2/users/{id}/liked_tweets", self.liked_tweets),
            sim._route("GET", "/2/lists/{id}/members", self.list_members),
            sim._route("GET", "/2/lists/{id}/followers", self.list_followers),
            sim._route("GET", "/2/lists/{id}/tweets", self.list_tweets),
        ]

    # paging over a list of ids or posts with an opaque offset token
    def _window(
        self, request: Request, items: list[Any], low: int, high: int, default: int, param: str
    ) -> tuple[list[Any], dict[str, Any]] | Response:
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
        if start:
            meta["previous_token"] = _offset_token(max(0, start - size))
        return page, meta

    def _users(self, request: Request, ids: list[str], high: int = 1000, default: int = 100) -> Response:
        from engine.social.simulation.x_api import _json

        paged = self._window(request, ids, 1, high, default, "pagination_token")
        if isinstance(paged, Response):
            return paged
        page, meta = paged
        fields = _user_fields(request)
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = [render_user(self.world, self.world.users[i], fields) for i in page]
        return _json(body)

    def _tweets(
        self, request: Request, posts: list[SimPost], low: int, high: int, default: int, param: str
    ) -> Response:
        from engine.social.simulation.x_api import _json

        paged = self._window(request, posts, low, high, default, param)
        if isinstance(paged, Response):
            return paged
        page, meta = paged
        return _json({**_tweets_body(self.world, request, page), "meta": meta})

    def _post(self, request: Request) -> SimPost | Response:
        from engine.social.simulation.x_api import invalid, not_found

        tweet_id = request.path_params["id"]
        if not tweet_id.isdigit():
            return invalid(f"The `id` query parameter value [{tweet_id}] is not valid", "id", tweet_id)
        post = self.world.posts.get(tweet_id)
        if post is None or post.deleted:
            return not_found("tweet", "id", tweet_id)
        return post

    def _user(self, request: Request) -> SimUser | Response:
        from engine.social.simulation.x_api import not_found

        user = self.world.users.get(request.path_params["id"])
        return user if user is not None else not_found("user", "id", request.path_params["id"])

    def _ids(self, request: Request) -> list[str] | Response:
        from engine.social.simulation.x_api import invalid

        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not ids or len(ids) > 100 or not all(i.isdigit() for i in ids):
            return invalid("The `ids` query parameter value is not valid", "ids", ",".join(ids)[:40])
        return ids

    # ------------------------------------------------------------------------------ tweets

    async def tweets_lookup(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import NOT_FOUND, _json

        ids = self._ids(request)
        if isinstance(ids, Response):
            return ids
        found = [p for i in ids if (p := self.world.posts.get(i)) is not None and not p.deleted]
        body = _tweets_body(self.world, request, found)
        missing = [i for i in ids if i not in {p.id for p in found}]
        if missing:
            body["errors"] = [
                {
                    "value": i,
                    "detail": f"Could not find tweet with ids: [{i}].",
                    "title": "Not Found Error",
                    "resource_type": "tweet",
                    "parameter": "ids",
                    "resource_id": i,
                    "type": NOT_FOUND,
                }
                for i in missing
            ]
        return _json(body)

    async def search_all(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import invalid

        query = request.query_params.get("query", "").strip()
        if not query:
            return invalid("The `query` query parameter can not be empty", "query", "")
        return self._tweets(request, search(self.world, query), 10, 500, 10, "next_token")

    async def retweeted_by(self, request: Request, grant: Grant) -> Response:
        post = self._post(request)
        if isinstance(post, Response):
            return post
        return self._users(request, sorted(post.retweeted_by, key=int), high=100)

    async def liking_users(self, request: Request, grant: Grant) -> Response:
        post = self._post(request)
        if isinstance(post, Response):
            return post
        return self._users(request, sorted(post.liked_by, key=int), high=100)

    async def quote_tweets(self, request: Request, grant: Grant) -> Response:
        post = self._post(request)
        if isinstance(post, Response):
            return post
        quotes = [p for p in self.world.visible_posts() if p.quoted_post_id == post.id]
        return self._tweets(request, quotes, 10, 100, 10, "pagination_token")

    # ------------------------------------------------------------------------------- users

    async def users_lookup(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import _json

        ids = self._ids(request)
        if isinstance(ids, Response):
            return ids
        fields = _user_fields(request)
        users = [render_user(self.world, self.world.users[i], fields) for i in ids if i in self.world.users]
        return _json({"data": users} if users else {})

    async def users_search(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import invalid

        query = request.query_params.get("query", "").strip().lower()
        if not query:
            return invalid("The `query` query parameter can not be empty", "query", "")
        ids = [
            u.id
            for u in sorted(self.world.users.values(), key=lambda u: int(u.id))
            if query in u.username.lower() or query in u.name.lower() or query in u.description.lower()
        ]
        return self._users(request, ids)

    async def followers(self, request: Request, grant: Grant) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        return self._users(request, sorted(user.followers, key=int, reverse=True))

    async def following(self, request: Request, grant: Grant) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        ids = [u.id for u in self.world.users.values() if user.id in u.followers]
        return self._users(request, sorted(ids, key=int, reverse=True))

    async def liked_tweets(self, request: Request, grant: Grant) -> Response:
        user = self._user(request)
        if isinstance(user, Response):
            return user
        liked = [p for p in self.world.visible_posts() if user.id in p.liked_by]
        return self._tweets(request, liked, 5, 100, 100, "pagination_token")

    # ------------------------------------------------------------------------------- lists

    def _list(self, request: Request) -> SimList | Response:
        from engine.social.simulation.x_api import not_found

        item = data_world(self.world).lists.get(request.path_params["id"])
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
