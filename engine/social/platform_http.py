"""The HTTP layer under every connector: one httpx client per platform, policy in the client.

As httpx's design suggests, the transport only moves bytes; this layer holds the policy every platform
shares and takes the platform's rules as functions:

- authentication: `RefreshingBearer` (an httpx.Auth flow) puts the session's access token on the
  request and, when the platform answers that it was refused (`rejected(response)`), asks the token
  source for a refreshed one and sends the request once more;
- classification: 2xx is returned; 429 becomes RateLimited (`rate_limited(response)` reads the
  platform's reset headers); 5xx becomes Transient; a refused token that survived the retry becomes
  AuthExpired; any other 4xx goes to `classify(response)` for a Permanent with the right code;
- translation: httpx's own errors (connect, timeouts, protocol) become Transient here, and bodies that
  do not decode as the expected shape become Transient too (`decode`). This is the one boundary where
  foreign exceptions are translated: nothing but engine.social.errors leaves a connector.

This module must never know a platform's paths or shapes.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import msgspec

from engine.social.connector import TokenSource
from engine.social.errors import AuthExpired, Permanent, RateLimited, SocialError, Transient

T = TypeVar("T")

Rejected = Callable[[httpx.Response], bool]
Classify = Callable[[httpx.Response], SocialError]
ReadRateLimit = Callable[[httpx.Response], RateLimited]


class RefreshingBearer(httpx.Auth):
    """Bearer token from a TokenSource; on a refused token, refresh once and resend."""

    requires_response_body = True  # Bluesky says "ExpiredToken" in the body of a 400

    def __init__(self, tokens: TokenSource, rejected: Rejected) -> None:
        self._tokens = tokens
        self._rejected = rejected

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("connectors are async only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._tokens.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        await response.aread()  # a flow of our own must read the body that requires_response_body promises
        if self._rejected(response):
            token = await self._tokens.refreshed(token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def reset_from_epoch(value: str | None, fallback_seconds: float) -> datetime:
    """A reset header holding unix seconds, as a UTC datetime; now + fallback when absent or bad."""
    try:
        if value:
            return datetime.fromtimestamp(int(float(value)), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    return datetime.fromtimestamp(time.time() + fallback_seconds, UTC)


def int_header(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


class PlatformHttp:
    """One platform's HTTP client: base URL (a setting), timeouts, auth, error classification."""

    def __init__(
        self,
        platform: str,
        base_url: str,
        *,
        rejected: Rejected,
        classify: Classify,
        rate_limited: ReadRateLimit,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.platform = platform
        self._rejected = rejected
        self._classify = classify
        self._rate_limited = rate_limited
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"User-Agent": "smsengine-social/1", **(headers or {})},
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def call(
        self,
        method: str,
        url: str,
        tokens: TokenSource | None,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        bearer: str | None = None,
    ) -> httpx.Response:
        """Send a request and return its 2xx response, or raise the classified SocialError.

        `tokens` authenticates with refresh-on-refusal; `bearer` sends a fixed token instead (a refresh
        call, which authenticates with the refresh token itself); neither: no Authorization."""
        auth: httpx.Auth | None = RefreshingBearer(tokens, self._rejected) if tokens is not None else None
        request_headers = dict(headers or {})
        if bearer is not None:
            request_headers["Authorization"] = f"Bearer {bearer}"
        try:
            response = await self.client.request(
                method,
                url,
                json=json,
                content=content,
                params=params,
                headers=request_headers,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Transient(
                f"cannot reach {self.platform}: {exc!r}", platform=self.platform, maybe_done=False
            ) from exc
        except httpx.TimeoutException as exc:
            raise Transient(
                f"{self.platform} did not answer in time", platform=self.platform, maybe_done=method != "GET"
            ) from exc
        except httpx.HTTPError as exc:  # protocol errors, a connection cut mid-response
            raise Transient(f"{self.platform} connection failed: {exc!r}", platform=self.platform) from exc
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status == 429:
            raise self._rate_limited(response)
        if status >= 500:
            raise Transient(
                f"{self.platform} answered {status}",
                platform=self.platform,
                status=status,
                maybe_done=method != "GET",
                retry_after=retry_after_seconds(response),
            )
        if self._rejected(response):
            raise AuthExpired(
                f"{self.platform} refused the access token", platform=self.platform, status=status
            )
        error = self._classify(response)
        if isinstance(error, SocialError):
            raise error
        raise Permanent("invalid_request", f"{self.platform} answered {status}", platform=self.platform)

    def decode(self, response: httpx.Response, type_: type[T]) -> T:
        """The body as `type_`; a body that is not that shape is the platform misbehaving: Transient."""
        try:
            return msgspec.json.decode(response.content, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise Transient(
                f"{self.platform} answered {response.status_code} with an unexpected body: {exc}",
                platform=self.platform,
                status=response.status_code,
            ) from exc


def json_body(response: httpx.Response) -> Any:
    """The body as plain JSON, or None when it is not JSON (for classifying error answers)."""
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return None
