"""A simulated Bluesky PDS (with its AppView and chat service) over XRPC, for the tests and the demo.

    async with BlueskySimulator() as sim:
        demo = sim.world.add_account("demo.bsky.social", password="app-pass")
        connector = BlueskyConnector(service_url=sim.base_url)
        sim.faults.fail_next(1, status=502)
        sim.limits["writes.hour"] = (9, 3600)          # points, as the PDS counts them

It serves the XRPC methods the connector calls with the lexicons' shapes: sessions (createSession,
refreshSession rotating single-use refresh JWTs; an expired access JWT answers 400 ExpiredToken, an
unknown one 401), repo records (createRecord, putRecord, deleteRecord, getRecord), the AppView reads
(getPosts with viewer.like, getAuthorFeed, getPostThread, listNotifications, getProfile) and chat
(getConvoForMembers, sendMessage refusing recipients who do not accept messages, getLog, getMessages;
the atproto-proxy header is required). Writes cost points (create 3, update 2, delete 1) against
5,000 per hour and 35,000 per day per account, requests count against 3,000 per 5 minutes per address;
every answer carries ratelimit-limit / -remaining / -reset / -policy, 429 past a limit.
`smsengine simulate-bluesky` runs it standalone.
This module must never be imported by the engine's production path.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.social.platforms.bluesky.rules import WINDOWS, WRITE_COSTS
from engine.social.simulation.bsky_state import BlueskyWorld, SimRecord
from engine.social.simulation.common import FaultMiddleware, Faults, RateWindows, SimulatorServer
from engine.social.text.limits import check_text

CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"


def _json(body: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status, media_type="application/json")


def xrpc_error(status: int, error: str, message: str) -> Response:
    return _json({"error": error, "message": message}, status)


Handler = Callable[[Request, str], Awaitable[Response]]


def _fault_body(status: int) -> bytes:
    return msgspec.json.encode({"error": "InternalServerError", "message": "Internal Server Error"})


class BlueskySimulator(SimulatorServer):
    def __init__(self, *, clock: Callable[[], float] = time.time, faults: Faults | None = None) -> None:
        self.world = BlueskyWorld(clock)
        self.faults = faults or Faults()
        self.windows = RateWindows(clock)
        self.limits: dict[str, tuple[int, int]] = dict(WINDOWS)
        self.requests: list[str] = []  # XRPC method of every authenticated call
        methods: list[tuple[str, str, Handler, str | None]] = [
            ("POST", "com.atproto.repo.createRecord", self.create_record, "create"),
            ("POST", "com.atproto.repo.putRecord", self.put_record, "update"),
            ("POST", "com.atproto.repo.deleteRecord", self.delete_record, "delete"),
            ("GET", "com.atproto.repo.getRecord", self.get_record, None),
            ("GET", "app.bsky.feed.getPosts", self.get_posts, None),
            ("GET", "app.bsky.feed.getAuthorFeed", self.author_feed, None),
            ("GET", "app.bsky.feed.getPostThread", self.post_thread, None),
            ("GET", "app.bsky.notification.listNotifications", self.notifications, None),
            ("GET", "app.bsky.actor.getProfile", self.profile, None),
            ("GET", "chat.bsky.convo.getConvoForMembers", self.convo_for_members, None),
            ("POST", "chat.bsky.convo.sendMessage", self.send_message, None),
            ("GET", "chat.bsky.convo.getLog", self.get_log, None),
            ("GET", "chat.bsky.convo.getMessages", self.get_messages, None),
        ]
        routes = [
            Route("/xrpc/com.atproto.server.createSession", self.create_session, methods=["POST"]),
            Route("/xrpc/com.atproto.server.refreshSession", self.refresh_session, methods=["POST"]),
            *(self._route(verb, name, handler, write) for verb, name, handler, write in methods),
        ]
        super().__init__(FaultMiddleware(Starlette(routes=routes), self.faults, _fault_body))

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        await super().start(host, port)
        self.world.service_url = self.base_url  # the PDS endpoint sessions name in their DID document

    def _peers(self, target: str) -> list[str]:
        me = self.world.account(target)
        return [a.handle for a in self.world.accounts.values() if me is not None and a.did != me.did]

    def _latest_post(self, target: str) -> str | None:
        me = self.world.account(target)
        posts = self.world.posts_by(me.did) if me is not None else []
        return posts[0].uri if posts else None

    # ---------------------------------------------------------------------- auth and limits

    def _limit(self, caller: str, window: str, cost: int = 1) -> tuple[bool, dict[str, str]]:
        limit, seconds = self.limits[window]
        state = self.windows.hit(caller, window, limit, seconds, cost)
        headers = {
            "ratelimit-limit": str(state.limit),
            "ratelimit-remaining": str(state.remaining),
            "ratelimit-reset": str(state.reset),
            "ratelimit-policy": f"{limit};w={seconds}",
        }
        return state.allowed, headers

    def _route(self, verb: str, name: str, handler: Handler, write: str | None) -> Route:
        async def endpoint(request: Request) -> Response:
            header = request.headers.get("authorization", "")
            if not header.lower().startswith("bearer "):
                return xrpc_error(401, "AuthMissing", "Authentication Required")
            did, expired = self.world.session_did(header[7:])
            if did is None:
                return xrpc_error(401, "InvalidToken", "Token could not be verified")
            if expired:
                return xrpc_error(400, "ExpiredToken", "Token has expired")
            if name.startswith("chat.") and request.headers.get("atproto-proxy") != CHAT_PROXY:
                return xrpc_error(
                    400, "InvalidRequest", "chat.bsky.* methods need atproto-proxy: " + CHAT_PROXY
                )
            self.requests.append(name)
            client = request.client.host if request.client else "local"
            allowed, headers = self._limit(client, "requests")
            if allowed and write is not None:
                cost = WRITE_COSTS[write]
                allowed, headers = self._limit(did, "writes.hour", cost)
                if allowed:
                    allowed, day_headers = self._limit(did, "writes.day", cost)
                    headers = headers if allowed else day_headers
            response = (
                await handler(request, did)
                if allowed
                else xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded")
            )
            response.headers.update(headers)
            return response

        return Route(f"/xrpc/{name}", endpoint, methods=[verb])

    async def _body(self, request: Request) -> dict[str, Any] | None:
        try:
            body = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return None
        return body if isinstance(body, dict) else None

    async def create_session(self, request: Request) -> Response:
        body = await self._body(request) or {}
        account = self.world.account(str(body.get("identifier", "")))
        if account is not None:
            allowed, headers = self._limit(account.did, "sessions")
            if not allowed:
                response = xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded")
                response.headers.update(headers)
                return response
        if account is None or body.get("password") != account.password:
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        return _json(self.world.new_session(account.did))

    async def refresh_session(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        did = self.world.refresh.pop(header[7:], None) if header.lower().startswith("bearer ") else None
        if did is None:
            return xrpc_error(400, "ExpiredToken", "Token has been revoked")
        return _json(self.world.new_session(did))

    # --------------------------------------------------------------------------------- views

    def _author(self, did: str) -> dict[str, Any]:
        account = self.world.accounts[did]
        return {"did": did, "handle": account.handle, "displayName": account.display_name}

    def _post_view(self, record: SimRecord, viewer: str) -> dict[str, Any]:
        likes = [r for r in self.world.records.values() if r.collection == "app.bsky.feed.like"
                 and r.value.get("subject", {}).get("uri") == record.uri]  # fmt: skip
        mine = next((r.uri for r in likes if r.did == viewer), None)
        return {
            "uri": record.uri,
            "cid": record.cid,
            "author": self._author(record.did),
            "record": record.value,
            "replyCount": len(self.world.replies_to(record.uri)),
            "repostCount": 0,
            "likeCount": len(likes),
            "quoteCount": 0,
            "indexedAt": record.indexed_at,
            "viewer": {"like": mine} if mine else {},
        }

    def _actor(self, actor: str) -> str | None:
        account = self.world.account(actor)
        return account.did if account else None

    # ------------------------------------------------------------------------------- records

    async def create_record(self, request: Request, did: str) -> Response:
        body = await self._body(request)
        if body is None or not isinstance(body.get("record"), dict) or not body.get("collection"):
            return xrpc_error(
                400, "InvalidRequest", "Input must have the properties repo, collection, record"
            )
        if self._actor(str(body.get("repo", ""))) != did:
            return xrpc_error(400, "InvalidRequest", "Input/repo must be the authenticated account")
        record, collection = body["record"], str(body["collection"])
        if collection == "app.bsky.feed.post":
            check = check_text("bluesky", "post", str(record.get("text", "")) or " ")
            if check.length > check.limit or (check.bytes or 0) > (check.byte_limit or 0):
                message = f"Record/text must not be longer than {check.limit} graphemes"
                return xrpc_error(400, "InvalidRecord", "Invalid app.bsky.feed.post record: " + message)
            reply = record.get("reply")
            if reply is not None and str(reply.get("parent", {}).get("uri")) not in self.world.records:
                return xrpc_error(400, "InvalidRequest", "Could not locate record: parent")
        if (
            collection == "app.bsky.feed.like"
            and str(record.get("subject", {}).get("uri")) not in self.world.records
        ):
            return xrpc_error(400, "InvalidRequest", "Could not locate record: subject")
        created = self.world.put_record(did, collection, record, body.get("rkey"))
        return _json({"uri": created.uri, "cid": created.cid, "validationStatus": "valid"})

    async def put_record(self, request: Request, did: str) -> Response:
        body = await self._body(request)
        if body is None or not body.get("rkey") or not isinstance(body.get("record"), dict):
            return xrpc_error(
                400, "InvalidRequest", "Input must have the properties repo, collection, rkey, record"
            )
        if self._actor(str(body.get("repo", ""))) != did:
            return xrpc_error(400, "InvalidRequest", "Input/repo must be the authenticated account")
        record = self.world.put_record(did, str(body["collection"]), body["record"], str(body["rkey"]))
        return _json({"uri": record.uri, "cid": record.cid, "validationStatus": "valid"})

    async def delete_record(self, request: Request, did: str) -> Response:
        body = await self._body(request) or {}
        if self._actor(str(body.get("repo", ""))) != did:
            return xrpc_error(400, "InvalidRequest", "Input/repo must be the authenticated account")
        self.world.records.pop(f"at://{did}/{body.get('collection')}/{body.get('rkey')}", None)
        return _json({})

    async def get_record(self, request: Request, did: str) -> Response:
        q = request.query_params
        repo = self._actor(q.get("repo", "")) or q.get("repo", "")
        uri = f"at://{repo}/{q.get('collection')}/{q.get('rkey')}"
        record = self.world.records.get(uri)
        if record is None:
            return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return _json({"uri": record.uri, "cid": record.cid, "value": record.value})

    # --------------------------------------------------------------------------------- reads

    async def get_posts(self, request: Request, did: str) -> Response:
        uris = request.query_params.getlist("uris")
        views = [self._post_view(self.world.records[u], did) for u in uris if u in self.world.records]
        return _json({"posts": views})

    @staticmethod
    def _limit_param(request: Request, default: int = 50) -> int:
        try:
            return max(1, min(100, int(request.query_params.get("limit", default))))
        except ValueError:
            return default

    async def author_feed(self, request: Request, did: str) -> Response:
        actor = self._actor(request.query_params.get("actor", ""))
        if actor is None:
            return xrpc_error(400, "InvalidRequest", "Profile not found")
        cursor, limit = request.query_params.get("cursor"), self._limit_param(request)
        posts = [r for r in self.world.posts_by(actor) if cursor is None or r.indexed_at < cursor]
        page = posts[:limit]
        body: dict[str, Any] = {"feed": [{"post": self._post_view(r, did)} for r in page]}
        if len(posts) > limit:
            body["cursor"] = page[-1].indexed_at
        return _json(body)

    def _thread(self, record: SimRecord, viewer: str, depth: int) -> dict[str, Any]:
        replies = self.world.replies_to(record.uri) if depth > 0 else []
        return {
            "$type": "app.bsky.feed.defs#threadViewPost",
            "post": self._post_view(record, viewer),
            "replies": [self._thread(r, viewer, depth - 1) for r in replies],
        }

    async def post_thread(self, request: Request, did: str) -> Response:
        record = self.world.records.get(request.query_params.get("uri", ""))
        if record is None:
            return xrpc_error(400, "NotFound", f"Post not found: {request.query_params.get('uri')}")
        depth = int(request.query_params.get("depth", "6"))
        return _json({"thread": self._thread(record, did, min(depth, 1000))})

    async def notifications(self, request: Request, did: str) -> Response:
        reasons = set(request.query_params.getlist("reasons"))
        cursor, limit = request.query_params.get("cursor"), self._limit_param(request)
        mine = sorted(
            (
                n
                for n in self.world.notifications
                if n.recipient == did and (not reasons or n.reason in reasons)
            ),
            key=lambda n: n.indexed_at,
            reverse=True,
        )
        chosen = [n for n in mine if cursor is None or n.indexed_at < cursor]
        page = chosen[:limit]
        body: dict[str, Any] = {
            "notifications": [
                {"uri": n.uri, "cid": n.cid, "author": self._author(n.author), "reason": n.reason,
                 "record": n.record, "isRead": False, "indexedAt": n.indexed_at, "labels": []}
                for n in page
            ]
        }  # fmt: skip
        if len(chosen) > limit:
            body["cursor"] = page[-1].indexed_at
        return _json(body)

    async def profile(self, request: Request, did: str) -> Response:
        actor = self._actor(request.query_params.get("actor", ""))
        if actor is None:
            return xrpc_error(400, "InvalidRequest", "Profile not found")
        return _json({**self._author(actor), "followersCount": 0, "followsCount": 0, "postsCount": 0})

    # ---------------------------------------------------------------------------------- chat

    async def convo_for_members(self, request: Request, did: str) -> Response:
        members = frozenset(self._actor(m) or m for m in request.query_params.getlist("members"))
        if did not in members or any(m not in self.world.accounts for m in members):
            return xrpc_error(400, "InvalidRequest", "members must be existing accounts including the caller")
        convo = self.world.convo_for(members)
        return _json({"convo": {"id": convo.id, "rev": convo.messages[-1]["rev"] if convo.messages else "",
                                "members": [self._author(m) for m in sorted(members)], "muted": False,
                                "unreadCount": 0}})  # fmt: skip

    async def send_message(self, request: Request, did: str) -> Response:
        body = await self._body(request) or {}
        convo = self.world.convos.get(str(body.get("convoId")))
        if convo is None or did not in convo.members:
            return xrpc_error(400, "InvalidRequest", "Convo not found")
        text = str((body.get("message") or {}).get("text", ""))
        check = check_text("bluesky", "dm", text or " ")
        if not text or check.length > check.limit or (check.bytes or 0) > (check.byte_limit or 0):
            return xrpc_error(400, "InvalidRequest", "Invalid message: text is empty or too long")
        if any(not self.world.may_message(did, member) for member in convo.members if member != did):
            return xrpc_error(400, "InvalidRequest", "recipient has disabled incoming messages")
        return _json(self.world.send(convo, did, text))

    async def get_log(self, request: Request, did: str) -> Response:
        cursor = request.query_params.get("cursor")
        entries = [e for e in self.world.logs[did] if cursor is None or e["rev"] > cursor][:100]
        body: dict[str, Any] = {"logs": entries}
        if entries:
            body["cursor"] = entries[-1]["rev"]
        elif cursor:
            body["cursor"] = cursor
        return _json(body)

    async def get_messages(self, request: Request, did: str) -> Response:
        convo = self.world.convos.get(request.query_params.get("convoId", ""))
        if convo is None or did not in convo.members:
            return xrpc_error(400, "InvalidRequest", "Convo not found")
        cursor, limit = request.query_params.get("cursor"), self._limit_param(request)
        newest_first = [m for m in reversed(convo.messages) if cursor is None or m["rev"] < cursor]
        page = newest_first[:limit]
        body: dict[str, Any] = {"messages": page}
        if len(newest_first) > limit:
            body["cursor"] = page[-1]["rev"]
        return _json(body)
