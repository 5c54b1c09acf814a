"""The X simulator's world: users, posts, likes, hidden replies, DM conversations, OAuth grants.

Pure state with the clock passed in; `engine.social.simulation.x_api` serves it over HTTP. Ids are
snowflake-like: one counter, increasing, so "larger" is "newer" as on X. Knobs for tests and the demo:

    world.add_user("alice", name="Alice", accepts_dms=False)
    world.mention(of="demo", by="alice", text="hi @demo")           # a post that mentions demo
    world.reply(to=post_id, by="bob", text="@demo nice")            # a reply in demo's conversation
    world.dm(to="demo", by="alice", text="hello")                   # inbound DM
    world.expire_access_tokens("demo"); world.revoke("demo")        # auth failures on demand

This module must never do I/O.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

ACCESS_TOKEN_SECONDS = 7200  # X: access tokens from the authorization code flow live two hours


@dataclass
class SimUser:
    id: str
    username: str
    name: str
    accepts_dms: bool = True
    # Profile data and the follow graph, read by the data endpoints (engine/social/simulation/x_api_data.py)
    verified: bool = False
    created_at: float = 0.0
    description: str = ""
    location: str = ""
    followers: set[str] = field(default_factory=set)  # ids of the users who follow this one


@dataclass
class SimPost:
    id: str
    author_id: str
    text: str
    created_at: float
    conversation_id: str
    in_reply_to_post_id: str | None = None
    in_reply_to_user_id: str | None = None
    hidden: bool = False
    deleted: bool = False
    liked_by: set[str] = field(default_factory=set)
    # Read by the data endpoints (engine/social/simulation/x_api_data.py)
    lang: str = "en"
    retweeted_by: set[str] = field(default_factory=set)
    media: list[dict[str, str]] = field(default_factory=list)  # {media_key, type, url}
    quoted_post_id: str | None = None
    retweeted_post_id: str | None = None  # a repost in its author's timeline (x_api_monitoring.repost)


@dataclass
class SimDm:
    id: str
    conversation_id: str
    sender_id: str
    text: str
    created_at: float


@dataclass
class Grant:
    user_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float = 0.0  # access tokens only


@dataclass
class PendingCode:
    client_id: str
    redirect_uri: str
    challenge: str
    scopes: frozenset[str]
    user_id: str
    expires_at: float


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


class XWorld:
    def __init__(self, clock: Callable[[], float], *, first_id: int = 1_790_000_000_000_000_000) -> None:
        self.clock = clock
        self._next_id = first_id
        self._next_user = 2_244_994_945
        self.users: dict[str, SimUser] = {}
        self.posts: dict[str, SimPost] = {}
        self.dms: list[SimDm] = []
        self.conversations: dict[str, frozenset[str]] = {}
        self.apps: dict[str, str] = {}  # client_id -> client_secret ("" for a public client)
        self.codes: dict[str, PendingCode] = {}
        self.access_tokens: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.authorizing_user: str | None = None  # who approves at /i/oauth2/authorize

    # ------------------------------------------------------------------------------------- ids

    def new_id(self) -> str:
        self._next_id += 1 + secrets.randbelow(4096)  # gaps as real snowflakes have
        return str(self._next_id)

    # ----------------------------------------------------------------------------------- users

    def add_user(self, username: str, *, name: str = "", accepts_dms: bool = True) -> SimUser:
        existing = self.user_by_name(username)
        if existing is not None:
            return existing
        self._next_user += 1 + secrets.randbelow(1000)
        user = SimUser(str(self._next_user), username, name or username.title(), accepts_dms)
        self.users[user.id] = user
        return user

    def user_by_name(self, username: str) -> SimUser | None:
        wanted = username.lower().lstrip("@")
        return next((u for u in self.users.values() if u.username.lower() == wanted), None)

    def _user(self, who: str) -> SimUser:
        user = self.users.get(who) or self.user_by_name(who)
        if user is None:
            raise KeyError(f"no simulated user {who!r}")
        return user

    # ----------------------------------------------------------------------------------- posts

    def create_post(self, author_id: str, text: str, in_reply_to: str | None = None) -> SimPost:
        post_id = self.new_id()
        parent = self.posts.get(in_reply_to) if in_reply_to else None
        post = SimPost(
            id=post_id,
            author_id=author_id,
            text=text,
            created_at=self.clock(),
            conversation_id=parent.conversation_id if parent else post_id,
            in_reply_to_post_id=parent.id if parent else None,
            in_reply_to_user_id=parent.author_id if parent else None,
        )
        self.posts[post_id] = post
        return post

    def is_duplicate(self, author_id: str, text: str) -> bool:
        return any(p.author_id == author_id and p.text == text and not p.deleted for p in self.posts.values())

    def visible_posts(self) -> list[SimPost]:
        """Live posts, newest first."""
        return sorted(
            (p for p in self.posts.values() if not p.deleted), key=lambda p: int(p.id), reverse=True
        )

    def mentions_of(self, user_id: str) -> list[SimPost]:
        handle = "@" + self.users[user_id].username.lower()
        return [p for p in self.visible_posts() if p.author_id != user_id and handle in p.text.lower()]

    def mention(self, *, of: str, by: str, text: str = "") -> SimPost:
        target, author = self._user(of), self._user(by)
        return self.create_post(author.id, text or f"@{target.username} hello from {author.username}")

    def reply(self, *, to: str, by: str, text: str = "") -> SimPost:
        parent = self.posts[to]
        author = self._user(by)
        parent_author = self.users[parent.author_id]
        return self.create_post(
            author.id, text or f"@{parent_author.username} reply from {author.username}", to
        )

    # ---------------------------------------------------------------------------------- DMs

    def one_to_one(self, a: str, b: str) -> str:
        low, high = sorted((a, b), key=int)
        conversation_id = f"{low}-{high}"
        self.conversations.setdefault(conversation_id, frozenset({a, b}))
        return conversation_id

    def add_dm(self, conversation_id: str, sender_id: str, text: str) -> SimDm:
        event = SimDm(self.new_id(), conversation_id, sender_id, text, self.clock())
        self.dms.append(event)
        return event

    def dm(self, *, to: str, by: str, text: str = "") -> SimDm:
        target, author = self._user(to), self._user(by)
        conversation = self.one_to_one(target.id, author.id)
        return self.add_dm(conversation, author.id, text or f"hello from {author.username}")

    def dm_events_of(self, user_id: str, conversation_id: str | None = None) -> list[SimDm]:
        """DM events visible to the user, newest first."""
        mine = {cid for cid, members in self.conversations.items() if user_id in members}
        return sorted(
            (
                e
                for e in self.dms
                if e.conversation_id in mine and conversation_id in (None, e.conversation_id)
            ),
            key=lambda e: int(e.id),
            reverse=True,
        )

    # ---------------------------------------------------------------------------------- OAuth

    def register_app(self, client_id: str, client_secret: str = "") -> None:
        self.apps[client_id] = client_secret

    def issue_code(
        self, client_id: str, redirect_uri: str, challenge: str, scopes: frozenset[str], user_id: str
    ) -> str:
        code = secrets.token_urlsafe(32)
        self.codes[code] = PendingCode(client_id, redirect_uri, challenge, scopes, user_id, self.clock() + 30)
        return code

    def issue_tokens(self, user_id: str, client_id: str, scopes: frozenset[str]) -> dict[str, object]:
        access = secrets.token_urlsafe(32)
        self.access_tokens[access] = Grant(user_id, client_id, scopes, self.clock() + ACCESS_TOKEN_SECONDS)
        answer: dict[str, object] = {
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "access_token": access,
            "scope": " ".join(sorted(scopes)),
        }
        if "offline.access" in scopes:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = Grant(user_id, client_id, scopes)
            answer["refresh_token"] = refresh
        return answer

    def grant_for(self, access_token: str) -> Grant | None:
        grant = self.access_tokens.get(access_token)
        if grant is None or grant.expires_at <= self.clock():
            return None
        return grant

    def expire_access_tokens(self, who: str) -> int:
        user = self._user(who)
        expired = 0
        for grant in self.access_tokens.values():
            if grant.user_id == user.id:
                grant.expires_at = 0.0
                expired += 1
        return expired

    def revoke(self, who: str) -> None:
        """The user removed the app: every token of theirs stops working, refresh tokens included."""
        user = self._user(who)
        for tokens in (self.access_tokens, self.refresh_tokens):
            for token in [t for t, g in tokens.items() if g.user_id == user.id]:
                del tokens[token]
