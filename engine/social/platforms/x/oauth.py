"""Connecting an X account: OAuth 2.0 authorization code with PKCE (S256), and token refresh.

    oauth = XOAuth(api_base_url=..., authorize_url="https://x.com/i/oauth2/authorize",
                   default_app=AppCredentials(id=None, platform="x", client_id=..., client_secret=...))
    start = await oauth.begin(store, account_id=7, redirect_uri="https://app.example/cb")
    # the user opens start.url, approves, and X redirects to redirect_uri?state=...&code=...
    record = await oauth.complete(store, connector, state=state, code=code)     # tokens stored sealed

The protocol work (authorize URI, S256 challenge, token request bodies, client authentication) is
authlib's (authlib.oauth2.rfc6749 / rfc7636), sent over our own httpx client so that the token
endpoint's failures are classified like every other call: a 5xx or a timeout is Transient (try again),
an OAuth error answer on refresh (X says invalid_request "Value passed for the token was invalid." for
a spent or revoked refresh token) is NeedsReauth. X rotates refresh tokens: every refresh returns a new
one and the old one stops working, which is why refreshes go through AccountStore.refresh_tokens.

A customer's own app (seed 004 Twitter BYOK) is an AppCredentials with an id: `begin(app=...)` sends
its client id, the account row remembers it, and refreshes use it; otherwise the deployment's default
app from settings.
This module must never log a code, a verifier, a token or a client secret.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
from authlib.common.security import generate_token
from authlib.oauth2.auth import encode_client_secret_basic
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from engine.social.accounts.store import (
    AccountRecord,
    AccountStore,
    AppCredentials,
    PendingAuthorization,
    TokenSet,
)
from engine.social.actions import NoParams
from engine.social.connector import AccountSession, ConnectedAccount
from engine.social.errors import NeedsReauth, Permanent, SocialError
from engine.social.platform_http import PlatformHttp, json_body
from engine.social.platforms.x.connector import PLATFORM, XConnector, _rate_limited

DEFAULT_SCOPES = (
    "tweet.read", "tweet.write", "tweet.moderate.write", "users.read", "like.read", "like.write",
    "dm.read", "dm.write", "offline.access",
)  # fmt: skip


class Authorization(msgspec.Struct, frozen=True):
    url: str
    """Send the user here."""
    state: str
    expires_at: datetime


class _TokenAnswer(msgspec.Struct, frozen=True):
    access_token: str
    token_type: str = "bearer"
    expires_in: int | None = None
    refresh_token: str | None = None
    scope: str = ""


def _oauth_refusal(response: httpx.Response) -> SocialError:
    body = json_body(response)
    error = body.get("error", "") if isinstance(body, dict) else ""
    description = body.get("error_description", "") if isinstance(body, dict) else ""
    text = f"{error}: {description}".strip(": ") or f"token endpoint answered {response.status_code}"
    return Permanent("invalid_request", text, platform=PLATFORM, status=response.status_code, detail=text)


class _FixedToken:
    """A TokenSource for the one call made with tokens that are not stored yet (users/me at connect)."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def access_token(self) -> str:
        return self._token

    async def refreshed(self, rejected: str) -> str:
        raise NeedsReauth("the token just issued was refused", platform=PLATFORM)


class XOAuth:
    """Authorization code + PKCE for connecting accounts; TokenRefresher for X (engine.social.accounts)."""

    platform = PLATFORM

    def __init__(
        self,
        *,
        api_base_url: str = "https://api.x.com",
        authorize_url: str = "https://x.com/i/oauth2/authorize",
        token_url: str = "",
        default_app: AppCredentials | None = None,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        state_ttl_seconds: float = 600.0,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.authorize_url = authorize_url
        self.token_url = token_url or api_base_url.rstrip("/") + "/2/oauth2/token"
        self.default_app = default_app
        self.scopes = tuple(scopes)
        self.state_ttl = state_ttl_seconds
        self._http = PlatformHttp(
            PLATFORM,
            api_base_url,
            rejected=lambda response: False,
            classify=_oauth_refusal,
            rate_limited=_rate_limited,
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _app(self, app: AppCredentials | None) -> AppCredentials:
        chosen = app or self.default_app
        if chosen is None:
            raise Permanent(
                "invalid_request", "no X app configured (social.x_client_id, or BYOK)", platform=PLATFORM
            )
        return chosen

    async def begin(
        self,
        store: AccountStore,
        *,
        account_id: int,
        redirect_uri: str,
        app: AppCredentials | None = None,
        scopes: Sequence[str] | None = None,
    ) -> Authorization:
        """Start connecting an X account for `account_id`: the URL to send the user to."""
        chosen = self._app(app)
        state = secrets.token_urlsafe(24)
        verifier = generate_token(64)  # RFC 7636: 43-128 characters of the unreserved set
        granted = tuple(scopes or self.scopes)
        expires_at = datetime.now(UTC) + timedelta(seconds=self.state_ttl)
        await store.save_authorization(
            PendingAuthorization(
                state=state,
                account_id=account_id,
                platform=PLATFORM,
                redirect_uri=redirect_uri,
                scopes=granted,
                code_verifier=verifier,
                expires_at=expires_at,
                app_credentials_id=chosen.id,
            )
        )
        url = prepare_grant_uri(
            self.authorize_url,
            chosen.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(granted),
            state=state,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return Authorization(url=url, state=state, expires_at=expires_at)

    async def _token_request(self, app: AppCredentials, grant_type: str, **fields: str) -> TokenSet:
        body = prepare_token_request(grant_type, client_id=app.client_id, **fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if app.client_secret:  # a confidential client authenticates with HTTP Basic (RFC 6749 2.3.1)
            _, headers, body = encode_client_secret_basic(app, "POST", self.token_url, headers, body)
        response = await self._http.call("POST", self.token_url, None, content=body.encode(), headers=headers)
        answer = self._http.decode(response, _TokenAnswer)
        expires_at = None
        if answer.expires_in is not None:
            expires_at = datetime.fromtimestamp(time.time() + answer.expires_in, UTC)
        return TokenSet(
            access_token=answer.access_token,
            refresh_token=answer.refresh_token,
            expires_at=expires_at,
            token_type=answer.token_type,
            scope=answer.scope,
        )

    async def complete(
        self, store: AccountStore, connector: XConnector, *, state: str, code: str
    ) -> AccountRecord:
        """Finish the authorization `state` with the `code` X redirected back with: exchange it (with
        the PKCE verifier), look the user up, store the account. Permanent("invalid_request") for an
        unknown, used or expired state, or a code X refuses."""
        pending = await store.take_authorization(state)
        if pending is None or pending.platform != PLATFORM:
            raise Permanent("invalid_request", "unknown or expired authorization state", platform=PLATFORM)
        app = self.default_app
        if pending.app_credentials_id is not None:
            app = await store.app_credentials(pending.app_credentials_id)
        tokens = await self._token_request(
            self._app(app),
            "authorization_code",
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier,
        )
        probe = ConnectedAccount(
            id=0, account_id=pending.account_id, platform=PLATFORM, platform_user_id="", username=""
        )
        user = await connector.me(AccountSession(probe, _FixedToken(tokens.access_token)), NoParams())
        account = ConnectedAccount(
            id=0,
            account_id=pending.account_id,
            platform=PLATFORM,
            platform_user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            scopes=tuple(tokens.scope.split()) if tokens.scope else pending.scopes,
        )
        return await store.connect_account(account, tokens, app_credentials_id=pending.app_credentials_id)

    async def refresh(
        self, account: ConnectedAccount, tokens: TokenSet, app: AppCredentials | None
    ) -> TokenSet:
        """TokenRefresher: new tokens, or NeedsReauth when X refuses the refresh token."""
        if not tokens.refresh_token:
            raise NeedsReauth(
                "the access token expired and there is no refresh token (offline.access)", platform=PLATFORM
            )
        try:
            renewed = await self._token_request(
                self._app(app), "refresh_token", refresh_token=tokens.refresh_token
            )
        except Permanent as exc:
            raise NeedsReauth(
                f"X refused the refresh token: {exc.message}", platform=PLATFORM, status=exc.status
            ) from exc
        if renewed.refresh_token is None:  # X keeps the old one valid only if it sends none back
            renewed = msgspec.structs.replace(renewed, refresh_token=tokens.refresh_token)
        return renewed
