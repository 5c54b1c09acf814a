"""Sessions for connected accounts: the account plus a token source that refreshes when it must.

    accounts = SocialAccounts(store, refreshers={"x": x_oauth, "bluesky": bsky_auth},
                              default_apps={"x": AppCredentials(id=None, platform="x", ...)})
    session = await accounts.session(social_account_id)       # NeedsReauth if the account needs it
    await connector.create_post(session, CreatePost(text="hi"))

`StoredTokenSource.access_token()` refreshes ahead of expiry (`margin_seconds` before it) and
`refreshed(rejected)` after the platform refused a token (a 401 once). Both go through
`AccountStore.refresh_tokens`, which serialises refreshes of one account across processes; an
in-process lock per account keeps concurrent jobs of one process from queueing on the row lock. A
refresh that fails for good (the platform refuses the refresh token) marks the account needs_reauth
and raises NeedsReauth; one that fails for now keeps using a token that has not yet expired, and
otherwise raises AuthExpired.
This module must never call a platform itself: `TokenRefresher` (one per platform) does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

from engine.social.accounts.store import AccountStore, AppCredentials, TokenSet
from engine.social.connector import AccountSession, ConnectedAccount
from engine.social.errors import AuthExpired, NeedsReauth, Transient


class TokenRefresher(Protocol):
    """A platform's refresh: new tokens for `tokens`, or NeedsReauth when the grant is gone for good,
    or Transient/AuthExpired when the platform's token endpoint failed for now."""

    async def refresh(
        self, account: ConnectedAccount, tokens: TokenSet, app: AppCredentials | None
    ) -> TokenSet: ...


class StoredTokenSource:
    """TokenSource of one account, backed by the store (engine.social.connector.TokenSource)."""

    def __init__(
        self,
        store: AccountStore,
        account: ConnectedAccount,
        refresher: TokenRefresher,
        app: AppCredentials | None,
        *,
        lock: asyncio.Lock,
        margin_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._account = account
        self._refresher = refresher
        self._app = app
        self._lock = lock
        self._margin = margin_seconds
        self._clock = clock
        self._tokens: TokenSet | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _expiring(self, tokens: TokenSet) -> bool:
        return (
            tokens.expires_at is not None
            and tokens.expires_at - timedelta(seconds=self._margin) <= self._now()
        )

    async def _refresh(self, due: Callable[[TokenSet], bool]) -> TokenSet:
        async def call(current: TokenSet) -> TokenSet:
            return await self._refresher.refresh(self._account, current, self._app)

        async with self._lock:
            self._tokens = await self._store.refresh_tokens(self._account.id, call, due=due)
        return self._tokens

    async def access_token(self) -> str:
        tokens = self._tokens or await self._store.tokens(self._account.id)
        self._tokens = tokens
        if not self._expiring(tokens):
            return tokens.access_token
        try:
            return (await self._refresh(self._expiring)).access_token
        except (Transient, AuthExpired) as exc:
            if isinstance(exc, NeedsReauth):
                raise
            # The token endpoint failed for now: a token inside the margin still works until it expires.
            if tokens.expires_at is not None and tokens.expires_at > self._now():
                return tokens.access_token
            raise AuthExpired(f"access token expired and refresh failed: {exc.message}") from exc

    async def refreshed(self, rejected: str) -> str:
        try:
            tokens = await self._refresh(lambda current: current.access_token == rejected)
        except Transient as exc:
            raise AuthExpired(f"token refused and refresh failed: {exc.message}") from exc
        return tokens.access_token


class SocialAccounts:
    """Hands out AccountSessions; holds each platform's refresher and default app."""

    def __init__(
        self,
        store: AccountStore,
        refreshers: Mapping[str, TokenRefresher],
        default_apps: Mapping[str, AppCredentials] | None = None,
        *,
        margin_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._refreshers = dict(refreshers)
        self._default_apps = dict(default_apps or {})
        self._margin = margin_seconds
        self._clock = clock
        self._locks: dict[int, asyncio.Lock] = {}

    async def app_for(self, platform: str, app_credentials_id: int | None) -> AppCredentials | None:
        """The customer's own app when the account was connected through one, else the default."""
        if app_credentials_id is not None:
            app = await self.store.app_credentials(app_credentials_id)
            if app is not None:
                return app
        return self._default_apps.get(platform)

    async def session(self, social_account_id: int, *, account_id: int | None = None) -> AccountSession:
        """The session of a connected account (of `account_id` when given). KeyError when there is no
        such account; NeedsReauth when it must be connected again (or was disconnected)."""
        record = await self.store.get(social_account_id, account_id=account_id)
        if record is None:
            raise KeyError(social_account_id)
        platform = record.account.platform
        if record.state != "active":
            raise NeedsReauth(record.state_reason or f"the account is {record.state}", platform=platform)
        refresher = self._refreshers.get(platform)
        if refresher is None:
            raise KeyError(f"no refresher for platform {platform!r}")
        app = await self.app_for(platform, record.app_credentials_id)
        lock = self._locks.setdefault(social_account_id, asyncio.Lock())
        source = StoredTokenSource(
            self.store,
            record.account,
            refresher,
            app,
            lock=lock,
            margin_seconds=self._margin,
            clock=self._clock,
        )
        return AccountSession(record.account, source)
