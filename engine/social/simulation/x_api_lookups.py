"""More of the X API v2 in the X simulator: lookups with fields and expansions, the follow graph,
bookmarks, timelines, retweets, media upload and the v1.1 profile endpoints (the Xquik surface's rows).

    graph = graph_of(sim.world)                 # the extra state, beside the world
    graph.follow(alice.id, demo.id); graph.bookmark(demo.id, post.id); demo.verified = True
    graph.attach(post.id, "photo"); graph.article(post.id, "Title", "Body text")
    graph.premium.add(demo.id)                  # long posts (note_tweet) up to 25,000 weighted characters

Endpoints (registered ahead of x_api's own, which they extend with fields X documents, so an older
caller that asks for fewer fields gets exactly what it got before):

    GET  /2/tweets/:id, /2/tweets?ids=       tweet.fields, expansions=author_id,attachments.media_keys,
                                              user.fields, media.fields; unknown ids in `errors`
    GET  /2/tweets/search/recent              query: words, "phrases", from:, to:, #tags, -exclusions,
                                              OR, has:media, conversation_id: (10-100 a page, next_token)
    GET  /2/users/by/username/:username       user.fields (public_metrics, description, verified, ...)
    GET  /2/users/:id/tweets                  5-100 a page, pagination_token
    GET  /2/users/:id/following|followers     1-1000 a page
    GET  /2/users/:id/liked_tweets            5-100;   GET /2/tweets/:id/liking_users   1-100
    GET  /2/users/:id/bookmarks               1-100, bookmark.read, only the caller's own
    GET  /2/users/:id/bookmarks/folders       the caller's own folders
    GET  /2/users/:id/timelines/reverse_chronological   posts of whom the caller follows and its own
    GET  /2/dm_conversations/with/:participant_id/dm_events
    POST /2/tweets                            text (280 weighted, 25,000 for premium), reply, media,
                                              community_id, quote_tweet_id
    POST /2/users/:id/retweets {tweet_id};    DELETE /2/users/:id/retweets/:source_tweet_id
    POST /2/users/:id/following {target_user_id};  DELETE /2/users/:source_user_id/following/:target_user_id
    POST /2/media/upload                      multipart `media` (+ media_category): {data: {id, media_key}}
    POST /1.1/account/update_profile.json     name, description, location, url (form)
    POST /1.1/account/update_profile_image.json   multipart `image`, < 700 KB GIF/JPEG/PNG
    POST /1.1/account/update_profile_banner.json  multipart `banner`, < 2 MB (X's own banner limit is 5 MB;
                                              the Xquik document's is kept so both refuse the same files)

The v1.1 account endpoints take OAuth 1.0a user context on X; the simulator accepts the account's
OAuth 2.0 bearer for them (the engine connects accounts with OAuth 2.0 only): see the connector.
This module must never be imported by the engine's production path.
"""

from __future__ import annotations

import re
import secrets
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.social.forms import Part, form_parts
from engine.social.simulation.x_api_monitoring import references
from engine.social.simulation.x_state import Grant, SimPost, SimUser, XWorld
from engine.social.text.limits import x_post_length

if TYPE_CHECKING:
    from engine.social.simulation.x_api import XSimulator

_15M = 15 * 60
AVATAR_MAX_BYTES = 700 * 1024
BANNER_MAX_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = {b"GIF8": "image/gif", b"\xff\xd8\xff": "image/jpeg", b"\x89PNG": "image/png"}
NOTE_TWEET_MAX = 25_000

# X's published per-user windows for these endpoints (docs.x.com, each endpoint's reference page).
WINDOWS: dict[tuple[str, str], tuple[int, int]] = {
    ("GET", "/2/tweets"): (900, _15M),
    ("GET", "/2/users/{id}/following"): (15, _15M),
    ("GET", "/2/users/{id}/followers"): (15, _15M),
    ("GET", "/2/users/{id}/liked_tweets"): (75, _15M),
    ("GET", "/2/tweets/{id}/liking_users"): (75, _15M),
    ("GET", "/2/users/{id}/bookmarks"): (180, _15M),
    ("GET", "/2/users/{id}/bookmarks/folders"): (50, _15M),
    ("GET", "/2/users/{id}/timelines/reverse_chronological"): (180, _15M),
    ("GET", "/2/dm_conversations/with/{participant_id}/dm_events"): (300, _15M),
    ("POST", "/2/users/{id}/retweets"): (50, _15M),
    ("DELETE", "/2/users/{id}/retweets/{source_tweet_id}"): (50, _15M),
    ("POST", "/2/users/{id}/following"): (50, _15M),
    ("DELETE", "/2/users/{source_user_id}/following/{target_user_id}"): (50, _15M),
    ("POST", "/2/media/upload"): (500, _15M),
    ("POST", "/1.1/account/update_profile.json"): (75, _15M),
    ("POST", "/1.1/account/update_profile_image.json"): (75, _15M),
    ("POST", "/1.1/account/update_profile_banner.json"): (75, _15M),
}
SCOPES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/2/users/{id}/following"): frozenset({"tweet.read", "users.read", "follows.read"}),
    ("GET", "/2/users/{id}/followers"): frozenset({"tweet.read", "users.read", "follows.read"}),
    ("GET", "/2/users/{id}/liked_tweets"): frozenset({"tweet.read", "users.read", "like.read"}),
    ("GET", "/2/tweets/{id}/liking_users"): frozenset({"tweet.read", "users.read", "like.read"}),
    ("GET", "/2/users/{id}/bookmarks"): frozenset({"tweet.read", "users.read", "bookmark.read"}),
    ("GET", "/2/users/{id}/bookmarks/folders"): frozenset({"tweet.read", "users.read", "bookmark.read"}),
    ("GET", "/2/dm_conversations/with/{participant_id}/dm_events"): frozenset(
        {"dm.read", "tweet.read", "users.read"}
    ),
    ("POST", "/2/users/{id}/retweets"): frozenset({"tweet.read", "tweet.write", "users.read"}),
    ("DELETE", "/2/users/{id}/retweets/{source_tweet_id}"): frozenset(
        {"tweet.read", "tweet.write", "users.read"}
    ),
    ("POST", "/2/users/{id}/following"): frozenset({"tweet.read", "users.read", "follows.write"}),
    ("DELETE", "/2/users/{source_user_id}/following/{target_user_id}"): frozenset(
        {"tweet.read", "users.read", "follows.write"}
    ),
    ("POST", "/2/media/upload"): frozenset({"media.write"}),
    ("POST", "/2/tweets"): frozenset({"tweet.read", "tweet.write", "users.read"}),
}


@dataclass
class Profile:
    """What SimUser does not hold (its verified, description, location, followers are there)."""

    url: str = ""
    profile_image_url: str = ""
    profile_banner_url: str = ""


@dataclass
class Article:
    title: str
    plain_text: str
    cover_media: str | None = None  # a media_key
    media_entities: list[str] = field(default_factory=list)


@dataclass
class Folder:
    id: str
    name: str
    post_ids: list[str] = field(default_factory=list)


@dataclass
class XGraph:
    """What the world does not hold: bookmarks, uploads, profile images, articles, communities. The
    follow graph (SimUser.followers), retweets (SimPost.retweeted_by) and media (SimPost.media) are the
    world's, shared with x_api_data."""

    world: XWorld
    bookmarks: dict[str, set[str]] = field(default_factory=dict)  # user -> post ids
    folders: dict[str, list[Folder]] = field(default_factory=dict)
    uploads: dict[str, tuple[str, dict[str, str], int]] = field(
        default_factory=dict
    )  # id -> (user, media, size)
    profiles: dict[str, Profile] = field(default_factory=dict)
    articles: dict[str, Article] = field(default_factory=dict)
    communities: dict[str, str] = field(default_factory=dict)  # post -> community id
    premium: set[str] = field(default_factory=set)

    def profile(self, user_id: str) -> Profile:
        return self.profiles.setdefault(user_id, Profile())

    def follow(self, who: str, whom: str) -> None:
        self.world.users[whom].followers.add(who)

    def unfollow(self, who: str, whom: str) -> None:
        if whom in self.world.users:
            self.world.users[whom].followers.discard(who)

    def followers_of(self, user_id: str) -> set[str]:
        return set(self.world.users[user_id].followers)

    def following_of(self, user_id: str) -> set[str]:
        return {u.id for u in self.world.users.values() if user_id in u.followers}

    def bookmark(self, user_id: str, post_id: str) -> None:
        self.bookmarks.setdefault(user_id, set()).add(post_id)

    def add_folder(self, user_id: str, name: str, post_ids: list[str] | None = None) -> Folder:
        folder = Folder(self.world.new_id(), name, list(post_ids or []))
        self.folders.setdefault(user_id, []).append(folder)
        return folder

    def attach(self, post_id: str, kind: str = "photo") -> dict[str, str]:
        item = new_media(self.world, kind)
        self.world.posts[post_id].media.append(item)
        return item

    def article(self, post_id: str, title: str, plain_text: str) -> Article:
        cover = self.attach(post_id)["media_key"]
        self.articles[post_id] = article = Article(title, plain_text, cover, [cover])
        return article


def new_media(world: XWorld, kind: str) -> dict[str, str]:
    key = f"{3 if kind == 'photo' else 7 if kind == 'video' else 16}_{world.new_id()}"
    ext = "jpg" if kind == "photo" else "mp4"
    return {"media_key": key, "type": kind, "url": f"https://pbs.twimg.com/media/{key}.{ext}"}


_GRAPHS: weakref.WeakKeyDictionary[XWorld, XGraph] = weakref.WeakKeyDictionary()


def graph_of(world: XWorld) -> XGraph:
    graph = _GRAPHS.get(world)
    if graph is None:
        graph = _GRAPHS[world] = XGraph(world)
    return graph


# ------------------------------------------------------------------------------------------ search


_TOKEN = re.compile(r'-?"[^"]*"|\S+')


def _matches(term: str, post: SimPost, world: XWorld, graph: XGraph) -> bool:
    negate = term.startswith("-") and len(term) > 1
    term = term[1:] if negate else term
    text = post.text.lower()
    author = world.users.get(post.author_id)
    if term.startswith('"') and term.endswith('"'):
        hit = term[1:-1].lower() in text
    elif term.startswith("from:"):
        hit = author is not None and author.username.lower() == term[5:].lstrip("@").lower()
    elif term.startswith("to:"):
        replied = world.users.get(post.in_reply_to_user_id or "")
        hit = (replied is not None and replied.username.lower() == term[3:].lstrip("@").lower()) or (
            "@" + term[3:].lstrip("@").lower() in text
        )
    elif term.startswith("conversation_id:"):
        hit = post.conversation_id == term[16:] and post.id != term[16:]
    elif term == "has:media":
        hit = bool(post.media)
    elif term.startswith("#"):
        hit = re.search(r"(?<!\w)" + re.escape(term.lower()) + r"\b", text) is not None
    else:
        hit = term.lower() in text
    return hit != negate


def search(world: XWorld, graph: XGraph, query: str) -> list[SimPost]:
    """X's search operators the simulator knows: groups joined by OR, terms in a group all required."""
    groups: list[list[str]] = [[]]
    for token in _TOKEN.findall(query):
        if token == "OR":
            groups.append([])
        else:
            groups[-1].append(token)
    groups = [g for g in groups if g]
    return [
        p
        for p in world.visible_posts()
        if any(all(_matches(t, p, world, graph) for t in group) for group in groups)
    ]


# --------------------------------------------------------------------------------------- rendering


def _fields(request: Request, name: str) -> set[str]:
    return {f for f in request.query_params.get(name, "").split(",") if f}


def render_user(sim: XSimulator, user: SimUser, fields: set[str]) -> dict[str, Any]:
    from engine.social.simulation.x_api import _iso

    graph = graph_of(sim.world)
    profile = graph.profile(user.id)
    out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
    if "description" in fields:
        out["description"] = user.description
    if "location" in fields and user.location:
        out["location"] = user.location
    if "url" in fields:
        out["url"] = profile.url
    if "verified" in fields:
        out["verified"] = user.verified
    if "profile_image_url" in fields:
        out["profile_image_url"] = profile.profile_image_url or (
            f"https://pbs.twimg.com/profile_images/{user.id}/avatar_normal.jpg"
        )
    if "profile_banner_url" in fields and profile.profile_banner_url:
        out["profile_banner_url"] = profile.profile_banner_url
    if "created_at" in fields:
        out["created_at"] = _iso(user.created_at)
    if "protected" in fields:
        out["protected"] = False
    if "public_metrics" in fields:
        out["public_metrics"] = {
            "followers_count": len(user.followers),
            "following_count": len(graph.following_of(user.id)),
            "tweet_count": sum(1 for p in sim.world.visible_posts() if p.author_id == user.id),
            "listed_count": 0,
            "like_count": sum(1 for p in sim.world.visible_posts() if user.id in p.liked_by),
        }
    return out


def render_tweet(sim: XSimulator, post: SimPost, fields: set[str]) -> dict[str, Any]:
    from engine.social.simulation.x_api import _iso

    world, graph = sim.world, graph_of(sim.world)
    text = post.text
    out: dict[str, Any] = {"id": post.id, "text": text, "edit_history_tweet_ids": [post.id]}
    if x_post_length(text) > 280:  # a long post: `text` is its first 280 characters, the rest in note_tweet
        out["text"] = text[:280]
        if "note_tweet" in fields:
            out["note_tweet"] = {"text": text}
    if "author_id" in fields:
        out["author_id"] = post.author_id
    if "created_at" in fields:
        out["created_at"] = _iso(post.created_at)
    if "conversation_id" in fields:
        out["conversation_id"] = post.conversation_id
    if "in_reply_to_user_id" in fields and post.in_reply_to_user_id:
        out["in_reply_to_user_id"] = post.in_reply_to_user_id
    if "referenced_tweets" in fields and post.in_reply_to_post_id:
        out["referenced_tweets"] = [{"type": "replied_to", "id": post.in_reply_to_post_id}]
    if "attachments" in fields and post.media:
        out["attachments"] = {"media_keys": [m["media_key"] for m in post.media]}
    if "community_id" in fields and post.id in graph.communities:
        out["community_id"] = graph.communities[post.id]
    if "public_metrics" in fields:
        likes = len(post.liked_by)
        out["public_metrics"] = {
            "retweet_count": len(post.retweeted_by),
            "reply_count": sum(1 for p in world.visible_posts() if p.in_reply_to_post_id == post.id),
            "like_count": likes,
            "quote_count": 0,
            "bookmark_count": sum(1 for marks in graph.bookmarks.values() if post.id in marks),
            "impression_count": 10 * (1 + likes),
        }
    article = graph.articles.get(post.id)
    if "article" in fields and article is not None:
        out["article"] = {
            "title": article.title,
            "plain_text": article.plain_text,
            "preview_text": article.plain_text[:200],
            "cover_media": article.cover_media,
            "media_entities": article.media_entities,
        }
    return references(sim, post, out, fields)  # quotes and reposts (x_api_monitoring)


def render_media(item: dict[str, str], fields: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"media_key": item["media_key"], "type": item["type"]}
    if item["type"] == "photo" and "url" in fields:
        out["url"] = item["url"]
    if item["type"] != "photo":
        if "preview_image_url" in fields:
            out["preview_image_url"] = item["url"].rsplit(".", 1)[0] + ".jpg"
        if "variants" in fields:
            out["variants"] = [{"content_type": "video/mp4", "bit_rate": 2176000, "url": item["url"]}]
    if "width" in fields:
        out["width"] = 1200
    if "height" in fields:
        out["height"] = 675
    return out


def tweets_body(
    sim: XSimulator, request: Request, posts: list[SimPost], meta: dict[str, Any] | None
) -> dict[str, Any]:
    tweet_fields, expansions = _fields(request, "tweet.fields"), _fields(request, "expansions")
    body: dict[str, Any] = {} if meta is None else {"meta": meta}
    if not posts:
        return body
    body["data"] = [render_tweet(sim, p, tweet_fields) for p in posts]
    includes: dict[str, Any] = {}
    if "author_id" in expansions:
        authors = sorted({p.author_id for p in posts})
        user_fields = _fields(request, "user.fields")
        includes["users"] = [
            render_user(sim, sim.world.users[a], user_fields) for a in authors if a in sim.world.users
        ]
    if "attachments.media_keys" in expansions or "article.cover_media" in expansions:
        media = {m["media_key"]: m for p in posts for m in p.media}
        if media:
            media_fields = _fields(request, "media.fields")
            includes["media"] = [render_media(m, media_fields) for m in media.values()]
    if includes:
        body["includes"] = includes
    return body


# ---------------------------------------------------------------------------------------- handlers


class Lookups:
    """The handlers, over one simulator (its world, its pager, its problem answers)."""

    def __init__(self, sim: XSimulator) -> None:
        self.sim = sim
        self.world = sim.world
        self.graph = graph_of(sim.world)

    def _json(self, body: Any, status: int = 200) -> Response:
        return Response(msgspec.json.encode(body), status, media_type="application/json")

    def _posts_page(self, request: Request, posts: list[SimPost], low: int, high: int = 100) -> Response:
        token = "next_token" if request.url.path.endswith("/search/recent") else "pagination_token"
        paged = self.sim._page(request, posts, low, high, token)
        if isinstance(paged, Response):
            return paged
        page, meta = paged
        return self._json(tweets_body(self.sim, request, page, meta))

    def _users_page(self, request: Request, users: list[SimUser], low: int, high: int) -> Response:
        ordered = sorted(users, key=lambda u: int(u.id), reverse=True)
        paged = self.sim._page(request, ordered, low, high, "pagination_token")
        if isinstance(paged, Response):
            return paged
        page, meta = paged
        body: dict[str, Any] = {"meta": meta}
        if page:
            fields = _fields(request, "user.fields")
            body["data"] = [render_user(self.sim, u, fields) for u in page]
        return self._json(body)

    def _own(self, request: Request, grant: Grant, param: str = "id") -> Response | None:
        from engine.social.simulation.x_api import problem

        if request.path_params[param] != grant.user_id:
            return problem(
                403, "Forbidden", "You are not permitted to perform this action on behalf of another user."
            )
        return None

    def _known_user(self, user_id: str) -> Response | None:
        from engine.social.simulation.x_api import invalid, not_found

        if not user_id.isdigit():
            return invalid(f"The `id` query parameter value [{user_id}] is not valid", "id", user_id)
        return None if user_id in self.world.users else not_found("user", "id", user_id)

    async def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return {}
        return body if isinstance(body, dict) else {}

    # ------------------------------------------------------------------------------- lookups

    async def tweets(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import invalid

        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not ids or len(ids) > 100 or not all(i.isdigit() for i in ids):
            return invalid("The `ids` query parameter value is not valid", "ids", ",".join(ids))
        found = [
            self.world.posts[i] for i in ids if i in self.world.posts and not self.world.posts[i].deleted
        ]
        body = tweets_body(self.sim, request, found, None)
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
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
                for i in missing
            ]
        return self._json(body)

    async def tweet(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import invalid, not_found

        tweet_id = request.path_params["id"]
        if not tweet_id.isdigit():
            return invalid(f"The `id` query parameter value [{tweet_id}] is not valid", "id", tweet_id)
        post = self.world.posts.get(tweet_id)
        if post is None or post.deleted:
            return not_found("tweet", "id", tweet_id)
        body = tweets_body(self.sim, request, [post], None)
        return self._json({**body, "data": body["data"][0]})

    async def search_recent(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import invalid

        query = request.query_params.get("query", "").strip()
        if not query or len(query) > 512:
            return invalid("The `query` query parameter value is not valid", "query", query)
        return self._posts_page(request, search(self.world, self.graph, query), 10)

    async def user_by_username(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import not_found

        username = request.path_params["username"]
        user = self.world.user_by_name(username)
        if user is None:
            return not_found("user", "username", username)
        return self._json({"data": render_user(self.sim, user, _fields(request, "user.fields"))})

    async def user_tweets(self, request: Request, grant: Grant) -> Response:
        user_id = request.path_params["id"]
        refused = self._known_user(user_id)
        if refused is not None:
            return refused
        posts = [p for p in self.world.visible_posts() if p.author_id == user_id]
        return self._posts_page(request, posts, 5)

    async def following(self, request: Request, grant: Grant) -> Response:
        user_id = request.path_params["id"]
        refused = self._known_user(user_id)
        if refused is not None:
            return refused
        users = [self.world.users[u] for u in self.graph.following_of(user_id)]
        return self._users_page(request, users, 1, 1000)

    async def followers(self, request: Request, grant: Grant) -> Response:
        user_id = request.path_params["id"]
        refused = self._known_user(user_id)
        if refused is not None:
            return refused
        users = [self.world.users[u] for u in self.graph.followers_of(user_id) if u in self.world.users]
        return self._users_page(request, users, 1, 1000)

    async def liked_tweets(self, request: Request, grant: Grant) -> Response:
        user_id = request.path_params["id"]
        refused = self._known_user(user_id)
        if refused is not None:
            return refused
        return self._posts_page(request, [p for p in self.world.visible_posts() if user_id in p.liked_by], 5)

    async def liking_users(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import not_found

        post = self.world.posts.get(request.path_params["id"])
        if post is None or post.deleted:
            return not_found("tweet", "id", request.path_params["id"])
        users = [self.world.users[u] for u in post.liked_by if u in self.world.users]
        return self._users_page(request, users, 1, 100)

    async def bookmarks(self, request: Request, grant: Grant) -> Response:
        refused = self._own(request, grant)
        if refused is not None:
            return refused
        marks = self.graph.bookmarks.get(grant.user_id, set())
        return self._posts_page(request, [p for p in self.world.visible_posts() if p.id in marks], 1)

    async def bookmark_folders(self, request: Request, grant: Grant) -> Response:
        refused = self._own(request, grant)
        if refused is not None:
            return refused
        folders = sorted(self.graph.folders.get(grant.user_id, []), key=lambda f: int(f.id), reverse=True)
        paged = self.sim._page(request, folders, 1, 100, "pagination_token")
        if isinstance(paged, Response):
            return paged
        page, meta = paged
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = [{"id": f.id, "name": f.name} for f in page]
        return self._json(body)

    async def home_timeline(self, request: Request, grant: Grant) -> Response:
        refused = self._own(request, grant)
        if refused is not None:
            return refused
        authors = self.graph.following_of(grant.user_id) | {grant.user_id}
        posts = [p for p in self.world.visible_posts() if p.author_id in authors]
        return self._posts_page(request, posts, 1)

    async def dm_with_events(self, request: Request, grant: Grant) -> Response:
        participant = request.path_params["participant_id"]
        refused = self._known_user(participant)
        if refused is not None:
            return refused
        conversation = self.world.one_to_one(grant.user_id, participant)
        return self.sim._events(request, self.world.dm_events_of(grant.user_id, conversation))

    # -------------------------------------------------------------------------------- writes

    async def create_tweet(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import INVALID, invalid, problem

        body = await self._body(request)
        text = body.get("text")
        media_ids = list((body.get("media") or {}).get("media_ids") or [])
        if (not isinstance(text, str) or not text) and not media_ids:
            return invalid("$.text: text is required", "text", "")
        text = text if isinstance(text, str) else ""
        limit = NOTE_TWEET_MAX if grant.user_id in self.graph.premium else 280
        if x_post_length(text) > limit:
            return invalid("$.text: Tweet text is too long", "text", text[:40])
        if len(media_ids) > 4 or any(
            m not in self.graph.uploads or self.graph.uploads[m][0] != grant.user_id for m in media_ids
        ):
            return problem(400, "Invalid Request", "Your media IDs are invalid.", INVALID)
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if reply_to is not None and (reply_to not in self.world.posts or self.world.posts[reply_to].deleted):
            return problem(
                403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible to you."
            )
        if text and self.world.is_duplicate(grant.user_id, text):
            return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        post = self.world.create_post(grant.user_id, text, reply_to)
        for media_id in media_ids:
            post.media.append(self.graph.uploads[media_id][1])
        if isinstance(body.get("community_id"), str):
            self.graph.communities[post.id] = body["community_id"]
        return self._json(
            {"data": {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}}, 201
        )

    async def retweet(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import not_found

        refused = self._own(request, grant)
        if refused is not None:
            return refused
        tweet_id = str((await self._body(request)).get("tweet_id"))
        post = self.world.posts.get(tweet_id)
        if post is None or post.deleted:
            return not_found("tweet", "tweet_id", tweet_id)
        post.retweeted_by.add(grant.user_id)
        return self._json({"data": {"retweeted": True}})

    async def unretweet(self, request: Request, grant: Grant) -> Response:
        refused = self._own(request, grant)
        if refused is not None:
            return refused
        post = self.world.posts.get(request.path_params["source_tweet_id"])
        if post is not None:
            post.retweeted_by.discard(grant.user_id)
        return self._json({"data": {"retweeted": False}})

    async def follow(self, request: Request, grant: Grant) -> Response:
        from engine.social.simulation.x_api import invalid

        refused = self._own(request, grant)
        if refused is not None:
            return refused
        target = str((await self._body(request)).get("target_user_id"))
        if target not in self.world.users or target == grant.user_id:
            return invalid("$.target_user_id: not a user you can follow", "target_user_id", target)
        self.graph.follow(grant.user_id, target)
        return self._json({"data": {"following": True, "pending_follow": False}})

    async def unfollow(self, request: Request, grant: Grant) -> Response:
        refused = self._own(request, grant, "source_user_id")
        if refused is not None:
            return refused
        self.graph.unfollow(grant.user_id, request.path_params["target_user_id"])
        return self._json({"data": {"following": False}})

    async def _form(self, request: Request) -> dict[str, Part]:
        return form_parts(request.headers.get("content-type", ""), await request.body())

    async def _upload(self, request: Request, part: str, limit: int) -> bytes | Response:
        from engine.social.simulation.x_api import INVALID, problem

        item = (await self._form(request)).get(part)
        data = item.data if item is not None else b""
        if not data:
            return problem(400, "Invalid Request", f"`{part}` is required", INVALID)
        if len(data) > limit:
            return problem(400, "Invalid Request", f"File size exceeds {limit} bytes.", INVALID)
        return data

    async def media_upload(self, request: Request, grant: Grant) -> Response:
        data = await self._upload(request, "media", 512 * 1024 * 1024)
        if isinstance(data, Response):
            return data
        kind = "photo" if any(data.startswith(m) for m in IMAGE_TYPES) else "video"
        item = new_media(self.world, kind)
        media_id = item["media_key"].split("_", 1)[1]
        self.graph.uploads[media_id] = (grant.user_id, item, len(data))
        body = {
            "id": media_id,
            "media_key": item["media_key"],
            "size": len(data),
            "expires_after_secs": 86400,
        }
        return self._json({"data": body})

    def _v1_user(self, user_id: str) -> dict[str, Any]:
        user, profile = self.world.users[user_id], self.graph.profile(user_id)
        return {
            "id": int(user.id), "id_str": user.id, "name": user.name, "screen_name": user.username,
            "description": user.description, "location": user.location, "url": profile.url or None,
            "profile_image_url_https": profile.profile_image_url,
        }  # fmt: skip

    def _v1_error(self, status: int, code: int, message: str) -> Response:
        return self._json({"errors": [{"code": code, "message": message}]}, status)

    async def update_profile(self, request: Request, grant: Grant) -> Response:
        values = {k: v.text for k, v in (await self._form(request)).items()}
        limits = {"name": 50, "description": 160, "location": 30, "url": 100}
        for key, most in limits.items():
            if len(values.get(key, "")) > most:
                return self._v1_error(403, 120, f"Account update failed: {key} is too long.")
        user, profile = self.world.users[grant.user_id], self.graph.profile(grant.user_id)
        if values.get("name"):
            user.name = values["name"]
        user.description = values.get("description", user.description)
        user.location = values.get("location", user.location)
        profile.url = values.get("url", profile.url)
        return self._json(self._v1_user(grant.user_id))

    async def _image(self, request: Request, part: str, limit: int) -> bytes | Response:
        data = await self._upload(request, part, limit)
        if isinstance(data, Response):
            return self._v1_error(422, 131, "The image could not be processed or is too large.")
        if not any(data.startswith(magic) for magic in IMAGE_TYPES):
            return self._v1_error(400, 324, "Image file format is not GIF, JPEG or PNG.")
        return data

    async def update_profile_image(self, request: Request, grant: Grant) -> Response:
        data = await self._image(request, "image", AVATAR_MAX_BYTES)
        if isinstance(data, Response):
            return data
        token = secrets.token_hex(6)
        self.graph.profile(
            grant.user_id
        ).profile_image_url = f"https://pbs.twimg.com/profile_images/{grant.user_id}/{token}_normal.jpg"
        return self._json(self._v1_user(grant.user_id))

    async def update_profile_banner(self, request: Request, grant: Grant) -> Response:
        data = await self._image(request, "banner", BANNER_MAX_BYTES)
        if isinstance(data, Response):
            return data
        self.graph.profile(
            grant.user_id
        ).profile_banner_url = f"https://pbs.twimg.com/profile_banners/{grant.user_id}/{secrets.token_hex(5)}"
        return Response(status_code=201)


def lookup_routes(sim: XSimulator) -> list[Route]:
    """The routes above, through the simulator's bearer, scope and rate-window checks."""
    from engine.social.simulation import x_api

    x_api.SCOPES.update(SCOPES)
    for key, window in WINDOWS.items():
        sim.limits.setdefault(key, window)
    h = Lookups(sim)
    table = [
        ("GET", "/2/tweets", h.tweets),
        ("POST", "/2/tweets", h.create_tweet),
        ("GET", "/2/tweets/search/recent", h.search_recent),
        ("GET", "/2/tweets/{id}", h.tweet),
        ("GET", "/2/tweets/{id}/liking_users", h.liking_users),
        ("GET", "/2/users/by/username/{username}", h.user_by_username),
        ("GET", "/2/users/{id}/tweets", h.user_tweets),
        ("GET", "/2/users/{id}/following", h.following),
        ("POST", "/2/users/{id}/following", h.follow),
        ("DELETE", "/2/users/{source_user_id}/following/{target_user_id}", h.unfollow),
        ("GET", "/2/users/{id}/followers", h.followers),
        ("GET", "/2/users/{id}/liked_tweets", h.liked_tweets),
        ("GET", "/2/users/{id}/bookmarks", h.bookmarks),
        ("GET", "/2/users/{id}/bookmarks/folders", h.bookmark_folders),
        ("GET", "/2/users/{id}/timelines/reverse_chronological", h.home_timeline),
        ("POST", "/2/users/{id}/retweets", h.retweet),
        ("DELETE", "/2/users/{id}/retweets/{source_tweet_id}", h.unretweet),
        ("GET", "/2/dm_conversations/with/{participant_id}/dm_events", h.dm_with_events),
        ("POST", "/2/media/upload", h.media_upload),
        ("POST", "/1.1/account/update_profile.json", h.update_profile),
        ("POST", "/1.1/account/update_profile_image.json", h.update_profile_image),
        ("POST", "/1.1/account/update_profile_banner.json", h.update_profile_banner),
    ]
    return [sim._route(method, path, handler) for method, path, handler in table]
