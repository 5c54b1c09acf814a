"""A simulated X API v2 over HTTP: what the tests and the demo point the X connector's base URL at.

    async with XSimulator() as sim:                      # in-process, on a free port
        sim.world.add_user("demo"); sim.world.register_app("client-1", "secret-1")
        connector = XConnector(base_url=sim.base_url)
        sim.faults.fail_next(2, status=503)              # the next two requests answer 503
        sim.limits[("POST", "/2/tweets")] = (3, 900)     # tighter than X's window, for a test

It serves the endpoints the connector calls with X's shapes (data / includes / meta, 200-with-errors
for lookups of unknown ids, problem objects for refusals), OAuth 2.0 (`/i/oauth2/authorize` approves
at once as `world.authorizing_user` and redirects with the code; `/2/oauth2/token` checks the client,
the redirect URI and the PKCE S256 verifier, and rotates refresh tokens), bearer checks (401 for an
unknown, expired or revoked token), the scopes each endpoint needs (403), per-user fixed rate windows
with x-rate-limit-limit / -remaining / -reset on every answer (429 past the limit; X's own windows
from engine.social.platforms.x.rules unless `limits` overrides one), and the faults of
engine.social.simulation.common. `smsengine simulate-x` runs it standalone.
This module must never be imported by the engine's production path.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.social.platforms.x.rules import ENDPOINT_WINDOWS
from engine.social.simulation.common import FaultMiddleware, Faults, RateWindows, SimulatorServer
from engine.social.simulation.x_api_data import XData
from engine.social.simulation.x_api_lookups import lookup_routes
from engine.social.simulation.x_api_monitoring import MonitoringWorld, references
from engine.social.simulation.x_api_monitoring import routes as monitoring_routes
from engine.social.simulation.x_state import Grant, SimDm, SimPost, XWorld, s256
from engine.social.text.limits import x_post_length

NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
INVALID = "https://api.twitter.com/2/problems/invalid-request"
DM_MAX_CHARS = 10_000

# Scopes each endpoint requires (X API v2 reference, "OAuth 2.0 scopes required by this endpoint").
SCOPES: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/2/tweets"): frozenset({"tweet.read", "tweet.write", "users.read"}),
    ("DELETE", "/2/tweets/{id}"): frozenset({"tweet.read", "tweet.write", "users.read"}),
    ("PUT", "/2/tweets/{id}/hidden"): frozenset({"tweet.read", "tweet.moderate.write", "users.read"}),
    ("POST", "/2/users/{id}/likes"): frozenset({"tweet.read", "users.read", "like.write"}),
    ("DELETE", "/2/users/{id}/likes/{tweet_id}"): frozenset({"tweet.read", "users.read", "like.write"}),
    ("POST", "/2/dm_conversations/with/{participant_id}/messages"): frozenset({"dm.write", "dm.read"}),
    ("POST", "/2/dm_conversations/{dm_conversation_id}/messages"): frozenset({"dm.write", "dm.read"}),
    ("GET", "/2/dm_events"): frozenset({"dm.read", "tweet.read", "users.read"}),
    ("GET", "/2/dm_conversations/{dm_conversation_id}/dm_events"): frozenset({"dm.read", "tweet.read"}),
}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(body), status, headers=headers, media_type="application/json")


def problem(status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any) -> Response:
    return _json({"title": title, "detail": detail, "type": type_, "status": status, **extra}, status)


def invalid(message: str, parameter: str, value: str) -> Response:
    return problem(
        400,
        "Invalid Request",
        "One or more parameters to your request was invalid.",
        INVALID,
        errors=[{"parameters": {parameter: [value]}, "message": message}],
    )


def not_found(kind: str, parameter: str, value: str) -> Response:
    return _json(
        {
            "errors": [
                {
                    "value": value,
                    "detail": f"Could not find {kind} with {parameter}: [{value}].",
                    "title": "Not Found Error",
                    "resource_type": kind,
                    "parameter": parameter,
                    "resource_id": value,
                    "type": NOT_FOUND,
                }
            ]
        }
    )


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"


def _token(after_id: str) -> str:
    return base64.urlsafe_b64encode(f"before:{after_id}".encode()).decode().rstrip("=")


def _before(token: str | None) -> int | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("before:"))
    except ValueError:
        return -1


Handler = Callable[[Request, Grant], Awaitable[Response]]


class XSimulator(SimulatorServer):
    """The X API v2 simulator: a Starlette app over an XWorld, served in-process or standalone."""

    def __init__(self, *, clock: Callable[[], float] = time.time, faults: Faults | None = None) -> None:
        self.world = XWorld(clock)
        self.faults = faults or Faults()
        self.windows = RateWindows(clock)
        self.limits: dict[tuple[str, str], tuple[int, int]] = dict(ENDPOINT_WINDOWS)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API call, for tests
        self.rate_limited = 0  # requests answered 429 (a client that respects the windows causes none)
        self.monitoring = MonitoringWorld()  # trends; app-only tokens, quotes, reposts: x_api_monitoring
        routes = [
            Route("/i/oauth2/authorize", self.authorize, methods=["GET"]),
            Route("/2/oauth2/token", self.token, methods=["POST"]),
            *lookup_routes(self),  # engine/social/simulation/x_api_lookups.py: fields, graph, more endpoints
            self._route("POST", "/2/tweets", self.create_tweet),
            self._route("GET", "/2/tweets/search/recent", self.search_recent),
            self._route("GET", "/2/tweets/{id}", self.get_tweet),
            self._route("DELETE", "/2/tweets/{id}", self.delete_tweet),
            self._route("PUT", "/2/tweets/{id}/hidden", self.hide_reply),
            self._route("POST", "/2/users/{id}/likes", self.like),
            self._route("DELETE", "/2/users/{id}/likes/{tweet_id}", self.unlike),
            self._route("GET", "/2/users/me", self.me),
            self._route("GET", "/2/users/by/username/{username}", self.user_by_username),
            self._route("GET", "/2/users/{id}/mentions", self.mentions),
            self._route("GET", "/2/users/{id}/tweets", self.timeline),
            self._route("GET", "/2/users/{id}", self.user_by_id),
            self._route("POST", "/2/dm_conversations/with/{participant_id}/messages", self.dm_with),
            self._route("POST", "/2/dm_conversations/{dm_conversation_id}/messages", self.dm_in_conversation),
            self._route("GET", "/2/dm_events", self.dm_events),
            self._route(
                "GET", "/2/dm_conversations/{dm_conversation_id}/dm_events", self.conversation_events
            ),
            *monitoring_routes(self),
        ]
        routes[:0] = XData(self).routes  # bulk-data reads (x_api_data.py), first: /2/users/search
        body = lambda status: msgspec.json.encode(  # noqa: E731
            {
                "title": "Service Unavailable",
                "detail": "Service Unavailable",
                "type": "about:blank",
                "status": status,
            }
        )
        super().__init__(FaultMiddleware(Starlette(routes=routes), self.faults, body))

    def _peers(self, target: str) -> list[str]:
        me = self.world.user_by_name(target)
        return [u.username for u in self.world.users.values() if me is not None and u.id != me.id]

    def _latest_post(self, target: str) -> str | None:
        me = self.world.user_by_name(target)
        return next(
            (p.id for p in self.world.visible_posts() if me is not None and p.author_id == me.id), None
        )

    # -------------------------------------------------------------------------- auth, limits

    def _route(self, method: str, template: str, handler: Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            self.requests.append((method, request.url.path))
            header = request.headers.get("authorization", "")
            grant = self.world.grant_for(header[7:]) if header.lower().startswith("bearer ") else None
            if grant is None:
                return problem(401, "Unauthorized", "Unauthorized")
            needed = SCOPES.get((method, template), frozenset({"tweet.read", "users.read"}))
            if not needed <= grant.scopes:
                missing = ", ".join(sorted(needed - grant.scopes))
                return problem(403, "Forbidden", f"Missing required OAuth scope: {missing}")
            limit, seconds = self.limits.get((method, template), (900, 900))
            window = self.windows.hit(grant.user_id, f"{method} {template}", limit, seconds)
            headers = {
                "x-rate-limit-limit": str(window.limit),
                "x-rate-limit-remaining": str(window.remaining),
                "x-rate-limit-reset": str(window.reset),
            }
            if not window.allowed:
                self.rate_limited += 1
                response = problem(429, "Too Many Requests", "Too Many Requests")
            else:
                response = await handler(request, grant)
            response.headers.update(headers)
            return response

        return Route(template, endpoint, methods=[method])

    # ---------------------------------------------------------------------------------- OAuth

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        client_id, redirect_uri = q.get("client_id", ""), q.get("redirect_uri", "")
        if client_id not in self.world.apps or not redirect_uri:
            return problem(400, "Invalid Request", "unknown client_id or missing redirect_uri")
        if (
            q.get("response_type") != "code"
            or q.get("code_challenge_method") != "S256"
            or not q.get("code_challenge")
        ):
            return problem(
                400, "Invalid Request", "response_type=code and an S256 code_challenge are required"
            )
        user = (
            self.world.user_by_name(self.world.authorizing_user or "")
            if self.world.authorizing_user
            else None
        )
        if user is None:
            return problem(
                400, "Invalid Request", "no simulated user is set to approve (world.authorizing_user)"
            )
        scopes = frozenset(q.get("scope", "").split())
        code = self.world.issue_code(client_id, redirect_uri, q["code_challenge"], scopes, user.id)
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(
            f"{redirect_uri}{separator}{urlencode({'state': q.get('state', ''), 'code': code})}", 302
        )

    def _client(self, request: Request, form: dict[str, str]) -> str | None:
        """The authenticated client id: HTTP Basic for a confidential app, client_id for a public one."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
            return client_id if self.world.apps.get(client_id) == secret and secret else None
        client_id = form.get("client_id", "")
        return client_id if self.world.apps.get(client_id) == "" else None

    async def token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id = self._client(request, form)
        if client_id is None:
            return _json(
                {"error": "unauthorized_client", "error_description": "Missing valid authorization header"},
                401,
            )
        refused = _json(
            {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}, 400
        )
        if form.get("grant_type") == "authorization_code":
            pending = self.world.codes.pop(form.get("code", ""), None)
            if (
                pending is None
                or pending.client_id != client_id
                or pending.expires_at < self.world.clock()
                or pending.redirect_uri != form.get("redirect_uri")
                or s256(form.get("code_verifier", "")) != pending.challenge
            ):
                return refused
            return _json(self.world.issue_tokens(pending.user_id, client_id, pending.scopes))
        if form.get("grant_type") == "refresh_token":
            grant = self.world.refresh_tokens.pop(form.get("refresh_token", ""), None)  # single use: rotates
            if grant is None or grant.client_id != client_id:
                return refused
            return _json(self.world.issue_tokens(grant.user_id, client_id, grant.scopes))
        return _json({"error": "unsupported_grant_type", "error_description": "grant_type"}, 400)

    # ----------------------------------------------------------------------------- rendering

    def _tweet(self, post: SimPost) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": post.id,
            "text": post.text,
            "author_id": post.author_id,
            "created_at": _iso(post.created_at),
            "conversation_id": post.conversation_id,
            "edit_history_tweet_ids": [post.id],
            "public_metrics": {
                "retweet_count": 0,
                "reply_count": sum(1 for p in self.world.visible_posts() if p.in_reply_to_post_id == post.id),
                "like_count": len(post.liked_by),
                "quote_count": 0,
                "impression_count": 10 * (1 + len(post.liked_by)),
            },
        }
        if post.in_reply_to_post_id:
            out["in_reply_to_user_id"] = post.in_reply_to_user_id
            out["referenced_tweets"] = [{"type": "replied_to", "id": post.in_reply_to_post_id}]
        return references(self, post, out)

    def _includes(self, posts: list[SimPost]) -> dict[str, Any]:
        authors = {p.author_id for p in posts}
        return {"users": [self._user(self.world.users[a]) for a in sorted(authors) if a in self.world.users]}

    @staticmethod
    def _user(user: Any) -> dict[str, str]:
        return {"id": user.id, "name": user.name, "username": user.username}

    @staticmethod
    def _dm(event: SimDm) -> dict[str, Any]:
        return {
            "id": event.id,
            "event_type": "MessageCreate",
            "text": event.text,
            "sender_id": event.sender_id,
            "dm_conversation_id": event.conversation_id,
            "created_at": _iso(event.created_at),
        }

    def _page(
        self, request: Request, items: list[Any], low: int, high: int, token_param: str
    ) -> tuple[list[Any], dict[str, Any]] | Response:
        q = request.query_params
        try:
            size = int(q.get("max_results", "10"))
        except ValueError:
            size = -1
        if not low <= size <= high:
            return invalid(
                f"The `max_results` query parameter value [{q.get('max_results')}] is not between "
                f"{low} and {high}",
                "max_results",
                str(q.get("max_results")),
            )
        token = q.get(token_param) or q.get("pagination_token")
        before = _before(token)
        if before == -1:
            return invalid(
                "The `pagination_token` query parameter value is not valid", token_param, token or ""
            )
        since = q.get("since_id")
        chosen = [
            i
            for i in items
            if (before is None or int(i.id) < before) and (not since or int(i.id) > int(since))
        ]
        page = chosen[:size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0].id, page[-1].id
        if len(chosen) > size:
            meta["next_token"] = _token(page[-1].id)
        return page, meta

    def _tweet_list(
        self, request: Request, posts: list[SimPost], low: int, token_param: str = "pagination_token"
    ) -> Response:
        paged = self._page(request, posts, low, 100, token_param)
        if isinstance(paged, Response):
            return paged
        page, meta = paged
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = [self._tweet(p) for p in page]
            body["includes"] = self._includes(page)
        return _json(body)

    # ---------------------------------------------------------------------------------- posts

    async def create_tweet(self, request: Request, grant: Grant) -> Response:
        try:
            body = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return problem(400, "Invalid Request", "body is not JSON", INVALID)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return invalid("$.text: text is required", "text", "")
        if x_post_length(text) > 280:
            return invalid("$.text: Tweet text is too long", "text", text[:40])
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if reply_to is not None and (reply_to not in self.world.posts or self.world.posts[reply_to].deleted):
            return problem(
                403, "Forbidden", "You attempted to reply to a Tweet that is deleted or not visible to you."
            )
        if self.world.is_duplicate(grant.user_id, text):
            return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        post = self.world.create_post(grant.user_id, text, reply_to)
        return _json({"data": {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}}, 201)

    async def delete_tweet(self, request: Request, grant: Grant) -> Response:
        post = self.world.posts.get(request.path_params["id"])
        if post is None or post.deleted:
            return _json({"data": {"deleted": False}})
        if post.author_id != grant.user_id:
            return problem(403, "Forbidden", "You are not authorized to delete this Tweet.")
        post.deleted = True
        return _json({"data": {"deleted": True}})

    async def get_tweet(self, request: Request, grant: Grant) -> Response:
        tweet_id = request.path_params["id"]
        if not tweet_id.isdigit():
            return invalid(f"The `id` query parameter value [{tweet_id}] is not valid", "id", tweet_id)
        post = self.world.posts.get(tweet_id)
        if post is None or post.deleted:
            return not_found("tweet", "id", tweet_id)
        return _json({"data": self._tweet(post), "includes": self._includes([post])})

    async def timeline(self, request: Request, grant: Grant) -> Response:
        user_id = request.path_params["id"]
        if user_id not in self.world.users:
            return not_found("user", "id", user_id)
        return self._tweet_list(request, [p for p in self.world.visible_posts() if p.author_id == user_id], 5)

    async def mentions(self, request: Request, grant: Grant) -> Response:
        user_id = request.path_params["id"]
        if user_id not in self.world.users:
            return not_found("user", "id", user_id)
        return self._tweet_list(request, self.world.mentions_of(user_id), 5)

    async def search_recent(self, request: Request, grant: Grant) -> Response:
        query = request.query_params.get("query", "")
        if not query.startswith("conversation_id:") or not query[16:].isdigit():
            return invalid("the simulator only searches conversation_id:<id>", "query", query)
        conversation = query[16:]
        posts = [
            p
            for p in self.world.visible_posts()
            if p.conversation_id == conversation and p.id != conversation
        ]
        return self._tweet_list(request, posts, 10, token_param="next_token")

    async def hide_reply(self, request: Request, grant: Grant) -> Response:
        post = self.world.posts.get(request.path_params["id"])
        try:
            hidden = msgspec.json.decode(await request.body()).get("hidden")
        except (msgspec.DecodeError, AttributeError):
            hidden = None
        if not isinstance(hidden, bool):
            return invalid("$.hidden: a boolean is required", "hidden", "")
        if post is None or post.deleted:
            return not_found("tweet", "id", request.path_params["id"])
        root = self.world.posts.get(post.conversation_id)
        if post.in_reply_to_post_id is None or root is None or root.author_id != grant.user_id:
            return problem(403, "Forbidden", "You can only hide replies to conversations you started.")
        post.hidden = hidden
        return _json({"data": {"hidden": hidden}})

    async def like(self, request: Request, grant: Grant) -> Response:
        if request.path_params["id"] != grant.user_id:
            return problem(
                403, "Forbidden", "You are not permitted to perform this action on behalf of another user."
            )
        try:
            tweet_id = msgspec.json.decode(await request.body()).get("tweet_id")
        except (msgspec.DecodeError, AttributeError):
            tweet_id = None
        post = self.world.posts.get(str(tweet_id))
        if post is None or post.deleted:
            return not_found("tweet", "tweet_id", str(tweet_id))
        post.liked_by.add(grant.user_id)
        return _json({"data": {"liked": True}})

    async def unlike(self, request: Request, grant: Grant) -> Response:
        if request.path_params["id"] != grant.user_id:
            return problem(
                403, "Forbidden", "You are not permitted to perform this action on behalf of another user."
            )
        post = self.world.posts.get(request.path_params["tweet_id"])
        if post is not None:
            post.liked_by.discard(grant.user_id)
        return _json({"data": {"liked": False}})

    # ---------------------------------------------------------------------------------- users

    async def me(self, request: Request, grant: Grant) -> Response:
        return _json({"data": self._user(self.world.users[grant.user_id])})

    async def user_by_id(self, request: Request, grant: Grant) -> Response:
        user_id = request.path_params["id"]
        if not user_id.isdigit():
            return invalid(f"The `id` query parameter value [{user_id}] is not valid", "id", user_id)
        user = self.world.users.get(user_id)
        return _json({"data": self._user(user)}) if user else not_found("user", "id", user_id)

    async def user_by_username(self, request: Request, grant: Grant) -> Response:
        username = request.path_params["username"]
        user = self.world.user_by_name(username)
        return _json({"data": self._user(user)}) if user else not_found("user", "username", username)

    # ------------------------------------------------------------------------------------ DMs

    async def _dm_text(self, request: Request) -> str | Response:
        try:
            text = msgspec.json.decode(await request.body()).get("text")
        except (msgspec.DecodeError, AttributeError):
            text = None
        if not isinstance(text, str) or not text:
            return invalid("$.text: text or attachments is required", "text", "")
        if len(text) > DM_MAX_CHARS:
            return invalid("$.text: Text is too long (10000 characters at most)", "text", text[:40])
        return text

    async def dm_with(self, request: Request, grant: Grant) -> Response:
        participant = request.path_params["participant_id"]
        recipient = self.world.users.get(participant)
        if recipient is None:
            return problem(400, "Invalid Request", f"Could not find user with id: [{participant}].", INVALID)
        if not recipient.accepts_dms or participant == grant.user_id:
            return problem(403, "Forbidden", "You cannot send messages to this user.")
        text = await self._dm_text(request)
        if isinstance(text, Response):
            return text
        conversation = self.world.one_to_one(grant.user_id, participant)
        event = self.world.add_dm(conversation, grant.user_id, text)
        return _json({"data": {"dm_conversation_id": conversation, "dm_event_id": event.id}}, 201)

    async def dm_in_conversation(self, request: Request, grant: Grant) -> Response:
        conversation = request.path_params["dm_conversation_id"]
        members = self.world.conversations.get(conversation)
        if members is None or grant.user_id not in members:
            return problem(403, "Forbidden", "You are not a participant of this conversation.")
        others = [self.world.users[m] for m in members if m != grant.user_id]
        if any(not u.accepts_dms for u in others):
            return problem(403, "Forbidden", "You cannot send messages to this user.")
        text = await self._dm_text(request)
        if isinstance(text, Response):
            return text
        event = self.world.add_dm(conversation, grant.user_id, text)
        return _json({"data": {"dm_conversation_id": conversation, "dm_event_id": event.id}}, 201)

    def _events(self, request: Request, events: list[SimDm]) -> Response:
        paged = self._page(request, events, 1, 100, "pagination_token")
        if isinstance(paged, Response):
            return paged
        page, meta = paged
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = [self._dm(e) for e in page]
        return _json(body)

    async def dm_events(self, request: Request, grant: Grant) -> Response:
        return self._events(request, self.world.dm_events_of(grant.user_id))

    async def conversation_events(self, request: Request, grant: Grant) -> Response:
        conversation = request.path_params["dm_conversation_id"]
        members = self.world.conversations.get(conversation)
        if members is None or grant.user_id not in members:
            return problem(403, "Forbidden", "You are not a participant of this conversation.")
        return self._events(request, self.world.dm_events_of(grant.user_id, conversation))
