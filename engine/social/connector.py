"""The interface the dispatch loop calls: one `PlatformConnector` per platform, one method per action.

    connector = connectors["x"]
    session = await accounts.session(social_account_id)        # decrypted, refreshed-on-demand tokens
    try:
        ref = await connector.create_post(session, CreatePost(text="hello"))
    except RateLimited as exc: ...  # reschedule at exc.reset_at      (engine.social.errors has the tree)

A connector holds the platform's rules (endpoints, shapes, error classification, which responses mean
"refresh the token", its published rate windows as data) over one httpx client whose base URL is a
setting; the transport only moves bytes. It never enforces the rate rules itself: the dispatch loop
does, per account (and per app for app-wide rules), and the connector reports the 429s that slip
through as RateLimited with the platform's reset time.

This module must never import a platform: connectors depend on it, not the other way round.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, runtime_checkable

import msgspec

from engine.social.actions import (
    Action,
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
    PostRef,
    PostTarget,
    RepliesPage,
    Reply,
    SendConversationDm,
    SendDm,
    User,
    UserLookup,
)


class RateRule(msgspec.Struct, frozen=True, kw_only=True):
    """At most `limit` calls of any of `actions` per `window_seconds`, per connected account
    (scope "account") or per platform app, i.e. per client id (scope "app")."""

    name: str
    actions: frozenset[Action]
    limit: int
    window_seconds: int
    scope: Literal["account", "app"] = "account"
    costs: dict[Action, int] | None = None
    """Units one call of an action takes from `limit` (Bluesky counts writes in points); None: 1 each."""
    source: str = ""
    """Where the number comes from (a seed document's table, the platform's published limits)."""


class ConnectedAccount(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's connected platform account as connectors see it (no secrets)."""

    id: int
    """Our id of the connection (social_accounts.id)."""
    account_id: int
    """The customer account that owns it."""
    platform: str
    platform_user_id: str
    username: str
    display_name: str = ""
    service_url: str = ""
    """Where this account's API lives when the platform has several hosts (a Bluesky PDS)."""
    scopes: tuple[str, ...] = ()


@runtime_checkable
class TokenSource(Protocol):
    """Access tokens for one connected account.

    `access_token()` returns a token that is not known to be expired (refreshing it first when it
    expires within the refresh margin). `refreshed(rejected)` is called after the platform refused
    `rejected`: it refreshes once (or returns the token another caller has refreshed meanwhile).
    Both raise NeedsReauth when the grant is gone (the account is then marked needs_reauth), and
    AuthExpired or Transient when the token endpoint cannot be reached just now."""

    async def access_token(self) -> str: ...

    async def refreshed(self, rejected: str) -> str: ...


class AccountSession(msgspec.Struct, frozen=True):
    """What every connector method gets: the account and a source of its tokens."""

    account: ConnectedAccount
    tokens: TokenSource


class PlatformConnector(Protocol):
    """One platform's actions. Every method either returns its typed result or raises one of
    engine.social.errors (RateLimited, Transient, AuthExpired/NeedsReauth, Permanent); nothing else."""

    platform: str
    rate_rules: tuple[RateRule, ...]

    async def create_post(self, session: AccountSession, params: CreatePost) -> PostRef: ...
    async def delete_post(self, session: AccountSession, params: PostTarget) -> Done: ...
    async def reply(self, session: AccountSession, params: Reply) -> PostRef: ...
    async def get_post(self, session: AccountSession, params: PostTarget) -> Post: ...
    async def list_posts(self, session: AccountSession, params: ListPage) -> Page[Post]: ...
    async def like(self, session: AccountSession, params: PostTarget) -> Done: ...
    async def unlike(self, session: AccountSession, params: PostTarget) -> Done: ...
    async def hide_reply(self, session: AccountSession, params: HideReply) -> Done: ...
    async def send_dm(self, session: AccountSession, params: SendDm) -> DmRef: ...
    async def send_conversation_dm(self, session: AccountSession, params: SendConversationDm) -> DmRef: ...
    async def list_dm_events(self, session: AccountSession, params: ListPage) -> Page[DmEvent]: ...
    async def list_conversation_messages(
        self, session: AccountSession, params: ConversationPage
    ) -> Page[DmEvent]: ...
    async def list_mentions(self, session: AccountSession, params: ListPage) -> Page[Post]: ...
    async def list_replies(self, session: AccountSession, params: RepliesPage) -> Page[Post]: ...
    async def lookup_user(self, session: AccountSession, params: UserLookup) -> User: ...
    async def me(self, session: AccountSession, params: NoParams) -> User: ...
    async def aclose(self) -> None: ...


METHODS: dict[Action, str] = {
    Action.CREATE_POST: "create_post",
    Action.DELETE_POST: "delete_post",
    Action.REPLY: "reply",
    Action.GET_POST: "get_post",
    Action.LIST_POSTS: "list_posts",
    Action.LIKE: "like",
    Action.UNLIKE: "unlike",
    Action.HIDE_REPLY: "hide_reply",
    Action.SEND_DM: "send_dm",
    Action.SEND_CONVERSATION_DM: "send_conversation_dm",
    Action.LIST_DM_EVENTS: "list_dm_events",
    Action.LIST_CONVERSATION_MESSAGES: "list_conversation_messages",
    Action.LIST_MENTIONS: "list_mentions",
    Action.LIST_REPLIES: "list_replies",
    Action.LOOKUP_USER: "lookup_user",
    Action.ME: "me",
}


async def perform(
    connector: PlatformConnector, session: AccountSession, action: Action, params: msgspec.Struct
) -> Any:
    """Run `action` with its params Struct (engine.social.actions.PARAMS[action]) on `connector`."""
    method: Callable[[AccountSession, Any], Awaitable[Any]] = getattr(connector, METHODS[action])
    return await method(session, params)


def cost_of(rule: RateRule, action: Action) -> int:
    return 1 if rule.costs is None else rule.costs.get(action, 1)


def rules_for(connector: PlatformConnector, action: Action) -> tuple[RateRule, ...]:
    """The rate rules that count a call of `action` (several may: a 15-minute and a 24-hour window)."""
    return tuple(rule for rule in connector.rate_rules if action in rule.actions)
