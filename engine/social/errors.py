"""What a platform connector raises when an action did not happen, classified for the dispatch loop.

    SocialError                      base; `retryable` says whether trying again can help
    ├── RateLimited(reset_at)        the platform said 429: try again at reset_at (x-rate-limit-reset,
    │                                ratelimit-reset), not before; the action did not happen
    ├── Transient(message)           5xx, timeout, connection refused or cut: retry with backoff; the
    │                                action may or may not have happened (see `maybe_done`)
    ├── AuthExpired(message)         the platform rejected the access token. The connector refreshes and
    │   │                            retries once by itself, so this escapes only when no refresh was
    │   │                            possible right now: retry soon
    │   └── NeedsReauth(message)     the grant is gone (refresh token revoked or expired, app access
    │                                removed): the account is marked needs_reauth and nothing on it can
    │                                succeed until the user connects again -> ACCOUNT_NEEDS_REAUTH
    └── Permanent(code, message)     a 4xx that retrying cannot fix; `code` is one of PERMANENT_CODES

The dispatch loop maps them to its outcomes: RateLimited -> reschedule at reset_at (no attempt counted
against the job, the platform refused before doing anything); Transient / AuthExpired -> retry with
backoff, counting attempts; NeedsReauth -> final failure ACCOUNT_NEEDS_REAUTH; Permanent -> final
failure with `code` (surfaces turn it into their PLATFORM_ERROR / validation codes).

Foreign exceptions (httpx, authlib, msgspec) are translated at one boundary, `platform_call`, in each
connector's HTTP layer; nothing else ever escapes a connector method.
This module must never import a platform or do I/O: it is the vocabulary the loop and connectors share.
"""

from __future__ import annotations

from datetime import datetime

PERMANENT_CODES = frozenset(
    {
        "invalid_request",  # the platform refused the parameters (bad id, missing field)
        "text_too_long",  # over the platform's length limit
        "duplicate_content",  # X: "You are not allowed to create a Tweet with duplicate content."
        "recipient_not_accepting_dms",  # the recipient's settings refuse DMs from this account
        "not_found",  # the post, user or conversation does not exist (or is not visible)
        "forbidden",  # the account may not do this (suspended, protected, not the author)
        "unsupported",  # the platform has no such action
        "scope_missing",  # the token lacks the OAuth scope the action needs
    }
)


class SocialError(Exception):
    """Base of everything a connector raises. `platform` names the platform ("x", "bluesky")."""

    retryable = False

    def __init__(self, message: str, *, platform: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.status = status  # the HTTP status the platform answered, when there was one


class RateLimited(SocialError):
    """429: the platform will refuse until `reset_at` (UTC). `limit` / `remaining` as it reported them."""

    retryable = True

    def __init__(
        self,
        reset_at: datetime,
        *,
        message: str = "rate limit exceeded",
        platform: str = "",
        limit: int | None = None,
        remaining: int | None = None,
    ) -> None:
        super().__init__(message, platform=platform, status=429)
        self.reset_at = reset_at
        self.limit = limit
        self.remaining = remaining


class Transient(SocialError):
    """The platform or the path to it failed in a way that may pass: 5xx, timeout, connection error.

    `maybe_done` is True when the request may have reached the platform (a timeout or a 5xx after the
    body was sent): a retried create may then duplicate, which X answers as duplicate_content."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        platform: str = "",
        status: int | None = None,
        maybe_done: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, platform=platform, status=status)
        self.maybe_done = maybe_done
        self.retry_after = retry_after  # seconds, when the platform said (Retry-After on a 503)


class AuthExpired(SocialError):
    """The access token was rejected and could not be renewed just now (e.g. the token endpoint failed)."""

    retryable = True


class NeedsReauth(AuthExpired):
    """The authorization is gone for good; the account is marked needs_reauth (ACCOUNT_NEEDS_REAUTH)."""

    retryable = False


class Permanent(SocialError):
    """A refusal that retrying cannot change. `code` is one of PERMANENT_CODES; `detail` is what the
    platform said, kept for logs and for surfaces that pass it on."""

    def __init__(
        self, code: str, message: str, *, platform: str = "", status: int | None = None, detail: str = ""
    ) -> None:
        if code not in PERMANENT_CODES:
            raise ValueError(f"unknown permanent error code {code!r}")
        super().__init__(message, platform=platform, status=status)
        self.code = code
        self.detail = detail
