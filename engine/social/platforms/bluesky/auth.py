"""Connecting a Bluesky account and keeping its session: com.atproto.server.createSession/refreshSession.

    auth = BlueskyAuth(service_url="https://bsky.social")
    record = await auth.connect(store, account_id=7, identifier="alice.bsky.social", password=app_password)

Bluesky accounts sign in with their handle (or DID) and an app password; the PDS answers a session:
an access JWT (short-lived, about two hours), a refresh JWT (long-lived, single use: refreshSession
returns a new pair and revokes the old one) and the account's DID document, whose #atproto_pds service
is where this account's XRPC calls go. The app password is never stored: only the session is, sealed.
A refused refresh (400 ExpiredToken / InvalidToken, 401) is NeedsReauth; the user connects again.
This module must never log a password or a token.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import msgspec

from engine.social.accounts.store import AccountRecord, AccountStore, AppCredentials, TokenSet
from engine.social.connector import ConnectedAccount
from engine.social.errors import NeedsReauth, Permanent, RateLimited, SocialError
from engine.social.platform_http import PlatformHttp, int_header, json_body, reset_from_epoch

PLATFORM = "bluesky"
_WINDOW_FALLBACK = 300.0


class _Service(msgspec.Struct, frozen=True):
    id: str
    type: str = ""
    serviceEndpoint: str = ""


class _DidDoc(msgspec.Struct, frozen=True):
    service: list[_Service] = []


class Session(msgspec.Struct, frozen=True):
    did: str
    handle: str
    accessJwt: str
    refreshJwt: str
    didDoc: _DidDoc | None = None
    active: bool = True


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT, read without verifying it (the PDS verifies; we only schedule)."""
    try:
        payload = token.split(".")[1]
        claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError, msgspec.DecodeError):
        return None


def tokens_of(session: Session) -> TokenSet:
    return TokenSet(
        access_token=session.accessJwt,
        refresh_token=session.refreshJwt,
        expires_at=jwt_expiry(session.accessJwt),
        token_type="bearer",
    )


def pds_of(session: Session, fallback: str) -> str:
    for service in session.didDoc.service if session.didDoc else []:
        if service.id.endswith("#atproto_pds") and service.serviceEndpoint:
            return service.serviceEndpoint.rstrip("/")
    return fallback.rstrip("/")


def xrpc_error(response: httpx.Response) -> tuple[str, str]:
    body = json_body(response)
    if isinstance(body, dict):
        return str(body.get("error", "")), str(body.get("message", ""))
    return "", ""


def rejected(response: httpx.Response) -> bool:
    """The access token was refused: 401, or 400 ExpiredToken / InvalidToken (how the PDS says it)."""
    error, _ = xrpc_error(response)
    return response.status_code == 401 or (
        response.status_code == 400 and error in ("ExpiredToken", "InvalidToken")
    )


def rate_limited(response: httpx.Response) -> RateLimited:
    return RateLimited(
        reset_from_epoch(response.headers.get("ratelimit-reset"), _WINDOW_FALLBACK),
        platform=PLATFORM,
        limit=int_header(response, "ratelimit-limit"),
        remaining=int_header(response, "ratelimit-remaining"),
        message=xrpc_error(response)[1] or "rate limit exceeded",
    )


def _session_refusal(response: httpx.Response) -> SocialError:
    error, message = xrpc_error(response)
    text = f"{error}: {message}".strip(": ") or f"Bluesky answered {response.status_code}"
    return Permanent("invalid_request", text, platform=PLATFORM, status=response.status_code, detail=text)


class BlueskyAuth:
    """createSession for connecting; TokenRefresher (refreshSession) for engine.social.accounts."""

    platform = PLATFORM

    def __init__(
        self,
        *,
        service_url: str = "https://bsky.social",
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service_url = service_url.rstrip("/")
        self._http = PlatformHttp(
            PLATFORM,
            self.service_url,
            rejected=lambda response: False,
            classify=_session_refusal,
            rate_limited=rate_limited,
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def connect(
        self, store: AccountStore, *, account_id: int, identifier: str, password: str, service_url: str = ""
    ) -> AccountRecord:
        """Sign in with a handle (or DID) and an app password and store the session. Permanent
        ("invalid_request") when Bluesky refuses the credentials."""
        service = (service_url or self.service_url).rstrip("/")
        response = await self._http.call(
            "POST",
            f"{service}/xrpc/com.atproto.server.createSession",
            None,
            json={"identifier": identifier, "password": password},
        )
        session = self._http.decode(response, Session)
        account = ConnectedAccount(
            id=0,
            account_id=account_id,
            platform=PLATFORM,
            platform_user_id=session.did,
            username=session.handle,
            service_url=pds_of(session, service),
        )
        return await store.connect_account(account, tokens_of(session))

    async def refresh(
        self, account: ConnectedAccount, tokens: TokenSet, app: AppCredentials | None
    ) -> TokenSet:
        if not tokens.refresh_token:
            raise NeedsReauth("no refresh token for this Bluesky session", platform=PLATFORM)
        service = (account.service_url or self.service_url).rstrip("/")
        try:
            response = await self._http.call(
                "POST", f"{service}/xrpc/com.atproto.server.refreshSession", None, bearer=tokens.refresh_token
            )
        except Permanent as exc:
            raise NeedsReauth(f"Bluesky refused the refresh token: {exc.message}", platform=PLATFORM) from exc
        return tokens_of(self._http.decode(response, Session))
