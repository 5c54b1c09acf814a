"""Bluesky over AT Protocol XRPC: every PlatformConnector action as the lexicon call that does it.

| action                     | XRPC                                                                   |
|----------------------------|------------------------------------------------------------------------|
| create_post, reply         | com.atproto.repo.createRecord app.bsky.feed.post (reply: root and parent) |
| delete_post                | com.atproto.repo.deleteRecord                                          |
| get_post                   | app.bsky.feed.getPosts                                                 |
| list_posts                 | app.bsky.feed.getAuthorFeed (cursor)                                   |
| like / unlike              | createRecord app.bsky.feed.like / deleteRecord of viewer.like          |
| hide_reply                 | putRecord app.bsky.feed.threadgate (hiddenReplies) on the thread's root |
| send_dm                    | chat.bsky.convo.getConvoForMembers + chat.bsky.convo.sendMessage       |
| send_conversation_dm       | chat.bsky.convo.sendMessage                                            |
| list_dm_events             | chat.bsky.convo.getLog (a forward cursor: the log's rev)               |
| list_conversation_messages | chat.bsky.convo.getMessages (cursor)                                   |
| list_mentions              | app.bsky.notification.listNotifications reasons mention, reply, quote  |
| list_replies               | app.bsky.feed.getPostThread, replies handed out oldest first           |
| lookup_user, me            | app.bsky.actor.getProfile (DID or handle)                              |

Post ids are at:// URIs, user ids DIDs. Calls go to the account's PDS (its service_url); chat calls
carry `atproto-proxy` so the PDS forwards them to the chat service. Rules it holds: a refused access
token is 400 ExpiredToken (or 401), refreshed once; 429 carries ratelimit-reset (unix seconds);
errors are {"error", "message"} and classified by name and message.
This module must never enforce rate limits or store anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from engine.social.actions import (
    ConversationPage,
    CreatePost,
    DmEvent,
    DmRef,
    Done,
    HideReply,
    ListPage,
    NoParams,
    Page,
    Post,
    PostMetrics,
    PostRef,
    PostTarget,
    RepliesPage,
    Reply,
    SendConversationDm,
    SendDm,
    User,
    UserLookup,
)
from engine.social.connector import AccountSession
from engine.social.cursors import Ascending, SweepState, newer_text
from engine.social.errors import Permanent, SocialError
from engine.social.platform_http import PlatformHttp
from engine.social.platforms.bluesky import shapes
from engine.social.platforms.bluesky.auth import PLATFORM, rate_limited, rejected, xrpc_error
from engine.social.platforms.bluesky.rules import RULES
from engine.social.text.urls import find_urls

_NOT_FOUND = ("not found", "could not locate record", "recordnotfound", "could not find")
_DM_REFUSED = ("recipient", "disabled incoming messages", "blocked", "not accept")


def _classify(response: httpx.Response) -> SocialError:
    error, message = xrpc_error(response)
    text = f"{error}: {message}".strip(": ") or f"Bluesky answered {response.status_code}"
    lowered = text.lower()
    path = response.request.url.path
    if any(marker in lowered for marker in _NOT_FOUND) or error == "RecordNotFound":
        code = "not_found"
    elif "/xrpc/chat.bsky." in path and any(marker in lowered for marker in _DM_REFUSED):
        code = "recipient_not_accepting_dms"
    elif "longer than" in lowered or "too long" in lowered:
        code = "text_too_long"
    elif error in ("AccountTakedown", "AccountDeactivated") or response.status_code == 403:
        code = "forbidden"
    else:
        code = "invalid_request"
    return Permanent(code, text, platform=PLATFORM, status=response.status_code, detail=text)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _split(uri: str) -> tuple[str, str, str]:
    """at://did/collection/rkey -> (did, collection, rkey); Permanent for anything else."""
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3 or not all(parts):
        raise Permanent("invalid_request", f"not an at:// record URI: {uri!r}", platform=PLATFORM)
    return parts[0], parts[1], parts[2]


def _link(view: shapes.PostView) -> str:
    return f"https://bsky.app/profile/{view.author.handle}/post/{view.uri.rsplit('/', 1)[-1]}"


def _post(view: shapes.PostView) -> Post:
    reply = view.record.reply
    return Post(
        id=view.uri,
        text=view.record.text,
        author_id=view.author.did,
        author_username=view.author.handle,
        created_at=_time(view.record.createdAt) or _time(view.indexedAt),
        conversation_id=reply.root.uri if reply else view.uri,
        in_reply_to=reply.parent.uri if reply else None,
        url=_link(view),
        metrics=PostMetrics(
            likes=view.likeCount, replies=view.replyCount, reposts=view.repostCount, quotes=view.quoteCount
        ),
    )


def _link_facets(text: str) -> list[dict[str, Any]]:
    """Facets making each http(s) URL a link: Bluesky does not link text by itself. Byte offsets."""
    facets = []
    for start, end in find_urls(text):
        url = text[start:end]
        if not url.lower().startswith(("http://", "https://")):
            continue
        byte_start = len(text[:start].encode())
        facets.append(
            {
                "index": {"byteStart": byte_start, "byteEnd": byte_start + len(url.encode())},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
            }
        )
    return facets


def _message(view: shapes.MessageView, conversation_id: str) -> DmEvent:
    return DmEvent(
        id=view.id, conversation_id=conversation_id, sender_id=view.sender.did, text=view.text,
        created_at=_time(view.sentAt),
    )  # fmt: skip


class BlueskyConnector:
    """PlatformConnector for Bluesky (engine.social.connector)."""

    platform = PLATFORM
    rate_rules = RULES

    def __init__(
        self,
        service_url: str = "https://bsky.social",
        *,
        chat_proxy: str = "did:web:api.bsky.chat#bsky_chat",
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service_url = service_url.rstrip("/")
        self._chat = {"atproto-proxy": chat_proxy}
        self.http = PlatformHttp(
            PLATFORM,
            self.service_url,
            rejected=rejected,
            classify=_classify,
            rate_limited=rate_limited,
            timeout=timeout,
            transport=transport,
        )
        self._replies: Ascending[Post] = Ascending(
            lambda post: f"{post.created_at.isoformat() if post.created_at else ''}|{post.id}"
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def _url(self, session: AccountSession, method: str) -> str:
        return f"{(session.account.service_url or self.service_url).rstrip('/')}/xrpc/{method}"

    async def _get(
        self, session: AccountSession, method: str, params: Any, chat: bool = False
    ) -> httpx.Response:
        headers = self._chat if chat else None
        return await self.http.call(
            "GET", self._url(session, method), session.tokens, params=params, headers=headers
        )

    async def _post_json(
        self, session: AccountSession, method: str, body: Any, chat: bool = False
    ) -> httpx.Response:
        headers = self._chat if chat else None
        return await self.http.call(
            "POST", self._url(session, method), session.tokens, json=body, headers=headers
        )

    async def _view(self, session: AccountSession, uri: str) -> shapes.PostView:
        _split(uri)
        response = await self._get(session, "app.bsky.feed.getPosts", {"uris": [uri]})
        posts = self.http.decode(response, shapes.Posts).posts
        if not posts:
            raise Permanent("not_found", f"post not found: {uri}", platform=PLATFORM, status=200)
        return posts[0]

    # ------------------------------------------------------------------------------------ posts

    async def _create(
        self, session: AccountSession, collection: str, record: dict[str, Any]
    ) -> shapes.Created:
        body = {"repo": session.account.platform_user_id, "collection": collection, "record": record}
        response = await self._post_json(session, "com.atproto.repo.createRecord", body)
        return self.http.decode(response, shapes.Created)

    async def _create_post(self, session: AccountSession, text: str, reply: dict[str, Any] | None) -> PostRef:
        record: dict[str, Any] = {"$type": shapes.POST, "text": text, "createdAt": _now()}
        facets = _link_facets(text)
        if facets:
            record["facets"] = facets
        if reply is not None:
            record["reply"] = reply
        created = await self._create(session, shapes.POST, record)
        rkey = created.uri.rsplit("/", 1)[-1]
        profile = session.account.username or session.account.platform_user_id
        url = f"https://bsky.app/profile/{profile}/post/{rkey}"
        return PostRef(id=created.uri, text=text, url=url)

    async def create_post(self, session: AccountSession, params: CreatePost) -> PostRef:
        if params.media_ids:
            raise Permanent("unsupported", "media on Bluesky posts is not supported yet", platform=PLATFORM)
        return await self._create_post(session, params.text, None)

    async def reply(self, session: AccountSession, params: Reply) -> PostRef:
        parent = await self._view(session, params.in_reply_to)
        root = parent.record.reply.root if parent.record.reply else shapes.StrongRef(parent.uri, parent.cid)
        refs = {"root": {"uri": root.uri, "cid": root.cid}, "parent": {"uri": parent.uri, "cid": parent.cid}}
        return await self._create_post(session, params.text, refs)

    async def delete_post(self, session: AccountSession, params: PostTarget) -> Done:
        did, collection, rkey = _split(params.post_id)
        if did != session.account.platform_user_id:
            raise Permanent("forbidden", "only the account's own posts can be deleted", platform=PLATFORM)
        body = {"repo": did, "collection": collection, "rkey": rkey}
        await self._post_json(session, "com.atproto.repo.deleteRecord", body)
        return Done()  # deleteRecord is idempotent and does not say whether the record was there

    async def get_post(self, session: AccountSession, params: PostTarget) -> Post:
        return _post(await self._view(session, params.post_id))

    async def list_posts(self, session: AccountSession, params: ListPage) -> Page[Post]:
        state = SweepState.load(params.cursor)
        query: dict[str, Any] = {
            "actor": session.account.platform_user_id,
            "limit": max(1, min(100, params.limit)),
            "filter": "posts_with_replies",
        }
        if state.token:
            query["cursor"] = state.token
        answer = self.http.decode(
            await self._get(session, "app.bsky.feed.getAuthorFeed", query), shapes.AuthorFeed
        )
        own = [item.post for item in answer.feed if item.reason is None]
        keys = [f"{view.indexedAt}|{view.uri}" for view in own]
        keep, state, more = state.advance(keys, answer.cursor if own else None, newer_text)
        return Page(items=tuple(_post(own[i]) for i in keep), cursor=state.dump(), more=more)

    # ------------------------------------------------------------------------------- engagement

    async def like(self, session: AccountSession, params: PostTarget) -> Done:
        view = await self._view(session, params.post_id)
        if view.viewer.like:
            return Done(changed=False)
        subject = {"uri": view.uri, "cid": view.cid}
        await self._create(
            session, shapes.LIKE, {"$type": shapes.LIKE, "subject": subject, "createdAt": _now()}
        )
        return Done()

    async def unlike(self, session: AccountSession, params: PostTarget) -> Done:
        view = await self._view(session, params.post_id)
        if not view.viewer.like:
            return Done(changed=False)
        did, collection, rkey = _split(view.viewer.like)
        await self._post_json(
            session, "com.atproto.repo.deleteRecord", {"repo": did, "collection": collection, "rkey": rkey}
        )
        return Done()

    async def hide_reply(self, session: AccountSession, params: HideReply) -> Done:
        reply = await self._view(session, params.reply_id)
        if reply.record.reply is None:
            raise Permanent("invalid_request", "the post is not a reply", platform=PLATFORM)
        root_uri = reply.record.reply.root.uri
        did, _, rkey = _split(root_uri)
        if did != session.account.platform_user_id:
            raise Permanent(
                "forbidden", "replies can be hidden only in the account's own threads", platform=PLATFORM
            )
        gate: dict[str, Any] = {
            "$type": shapes.THREADGATE,
            "post": root_uri,
            "createdAt": _now(),
            "hiddenReplies": [],
        }
        try:
            query = {"repo": did, "collection": shapes.THREADGATE, "rkey": rkey}
            existing = self.http.decode(
                await self._get(session, "com.atproto.repo.getRecord", query), shapes.Record
            )
            gate = {**gate, **existing.value}
        except Permanent as exc:
            if exc.code != "not_found":
                raise
        hidden = list(gate.get("hiddenReplies") or [])
        if (reply.uri in hidden) == params.hidden:
            return Done(changed=False)
        gate["hiddenReplies"] = (
            [*hidden, reply.uri] if params.hidden else [u for u in hidden if u != reply.uri]
        )
        body = {"repo": did, "collection": shapes.THREADGATE, "rkey": rkey, "record": gate}
        await self._post_json(session, "com.atproto.repo.putRecord", body)
        return Done()

    async def list_mentions(self, session: AccountSession, params: ListPage) -> Page[Post]:
        state = SweepState.load(params.cursor)
        query: dict[str, Any] = {
            "limit": max(1, min(100, params.limit)),
            "reasons": ["mention", "reply", "quote"],
        }
        if state.token:
            query["cursor"] = state.token
        response = await self._get(session, "app.bsky.notification.listNotifications", query)
        answer = self.http.decode(response, shapes.Notifications)
        items = [n for n in answer.notifications if n.reason in ("mention", "reply", "quote")]
        keys = [f"{n.indexedAt}|{n.uri}" for n in answer.notifications]
        keep, state, more = state.advance(keys, answer.cursor if answer.notifications else None, newer_text)
        kept = [answer.notifications[i] for i in keep if answer.notifications[i] in items]
        posts = tuple(
            Post(
                id=n.uri,
                text=n.record.text,
                author_id=n.author.did,
                author_username=n.author.handle,
                created_at=_time(n.record.createdAt) or _time(n.indexedAt),
                conversation_id=n.record.reply.root.uri if n.record.reply else n.uri,
                in_reply_to=n.record.reply.parent.uri if n.record.reply else None,
            )
            for n in kept
        )
        return Page(items=posts, cursor=state.dump(), more=more)

    async def list_replies(self, session: AccountSession, params: RepliesPage) -> Page[Post]:
        _split(params.post_id)
        response = await self._get(
            session, "app.bsky.feed.getPostThread", {"uri": params.post_id, "depth": 1000}
        )
        thread = self.http.decode(response, shapes.Thread).thread
        replies: list[Post] = []
        stack = list(thread.replies)
        while stack:
            node = stack.pop()
            if node.post is not None:
                replies.append(_post(node.post))
            stack.extend(node.replies)
        items, cursor, more = self._replies.page(replies, params.cursor, params.limit)
        return Page(items=tuple(items), cursor=cursor, more=more)

    # -------------------------------------------------------------------------- direct messages

    async def _send(self, session: AccountSession, conversation_id: str, text: str) -> DmRef:
        body = {"convoId": conversation_id, "message": {"text": text}}
        response = await self._post_json(session, "chat.bsky.convo.sendMessage", body, chat=True)
        message = self.http.decode(response, shapes.MessageView)
        return DmRef(conversation_id=conversation_id, message_id=message.id)

    async def send_dm(self, session: AccountSession, params: SendDm) -> DmRef:
        members = {"members": [session.account.platform_user_id, params.recipient_id]}
        response = await self._get(session, "chat.bsky.convo.getConvoForMembers", members, chat=True)
        convo = self.http.decode(response, shapes.ConvoAnswer).convo
        return await self._send(session, convo.id, params.text)

    async def send_conversation_dm(self, session: AccountSession, params: SendConversationDm) -> DmRef:
        return await self._send(session, params.conversation_id, params.text)

    async def list_dm_events(self, session: AccountSession, params: ListPage) -> Page[DmEvent]:
        # getLog is a forward log: its cursor (the last rev seen) is all the state a poller needs.
        query = {"cursor": params.cursor} if params.cursor else {}
        response = await self._get(session, "chat.bsky.convo.getLog", query, chat=True)
        log = self.http.decode(response, shapes.Log)
        events = tuple(
            _message(entry.message, entry.convoId)
            for entry in log.logs
            if entry.type_.endswith("#logCreateMessage") and entry.message is not None
        )
        cursor = log.cursor or (log.logs[-1].rev if log.logs else params.cursor) or ""
        return Page(items=events, cursor=cursor, more=bool(log.logs) and cursor != params.cursor)

    async def list_conversation_messages(
        self, session: AccountSession, params: ConversationPage
    ) -> Page[DmEvent]:
        state = SweepState.load(params.cursor)
        query: dict[str, Any] = {"convoId": params.conversation_id, "limit": max(1, min(100, params.limit))}
        if state.token:
            query["cursor"] = state.token
        answer = self.http.decode(
            await self._get(session, "chat.bsky.convo.getMessages", query, chat=True), shapes.Messages
        )
        keep, state, more = state.advance(
            [m.rev for m in answer.messages], answer.cursor if answer.messages else None, newer_text
        )
        items = tuple(_message(answer.messages[i], params.conversation_id) for i in keep)
        return Page(items=items, cursor=state.dump(), more=more)

    # ------------------------------------------------------------------------------------ users

    async def _profile(self, session: AccountSession, actor: str) -> User:
        profile = self.http.decode(
            await self._get(session, "app.bsky.actor.getProfile", {"actor": actor}), shapes.Profile
        )
        return User(id=profile.did, username=profile.handle, display_name=profile.displayName)

    async def lookup_user(self, session: AccountSession, params: UserLookup) -> User:
        return await self._profile(session, params.user_id or params.username or "")

    async def me(self, session: AccountSession, params: NoParams) -> User:
        return await self._profile(session, session.account.platform_user_id)
