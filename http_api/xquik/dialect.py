"""The Xquik document's way of speaking (seed 002), through the one operations pipeline.

    base URL     /xquik/api/v1 (PREFIX): its paths collide with the BulkAPIs surface at /api/v1 and its
                 `x-api-key` header with the BulkSMSRates document's X-API-Key, so it has its own prefix;
                 a client of the document changes only its base URL
    API keys     `x-api-key: xq_<64 hex>` (or `Authorization: Bearer xq_...`): single-token rows of the
                 one key store (api_keys, secret_hash 'sha256:...'; http_api/auth.py `verify_token`),
                 with their document-facing id, prefix and lastUsedAt in xquik_api_keys
    sessions     the identity system's access token (engine/identity): `Authorization: Bearer <JWT>`,
                 or the dashboard's cookie `session_token=<JWT>`. SESSION_DIALECT's operations (the
                 document's "session auth only") refuse an API key: 401 unauthenticated
    errors       {"error": "<lowercase code>", "message": "..."} (+ "retryAfter" seconds on 429), the
                 codes of the document's table; `xquik_error(status, code, message)` raises one
    fields       camelCase (XquikOut / XquikIn bases), big figures as strings (`figure`), times as
                 ISO 8601 with milliseconds and Z (`stamp`)
    pages        `?after=<cursor>&limit=1..100` (PageQuery); answers carry `hasMore` and `nextCursor`
                 (`page_of`); cursors are opaque (base64url of the last row's sort key)

Credit refusals (engine/xquik/credits.py) are 402 no_credits / insufficient_credits. This module must
never do a surface's business: route modules (mount.py) do.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import msgspec
import structlog
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from engine.identity.errors import IdentityError
from engine.identity.tokens import looks_like_jwt
from engine.social.errors import NeedsReauth, Permanent, RateLimited, SocialError
from engine.xquik.credits import CreditError, InsufficientCredits, NoCredits
from http_api.auth import ROLE_PERMISSIONS, Principal
from http_api.errors import ApiError, identity_error
from http_api.operations import ApiContext, Call, Dialect

log = structlog.get_logger("http_api.xquik")

PREFIX = "/xquik/api/v1"
KEY_PREFIX = "xq_"
T = TypeVar("T")


class XquikError(msgspec.Struct, frozen=True, omit_defaults=True):
    error: str
    message: str
    retryAfter: int | None = None
    limit: int | None = None  # 403 api_key_limit_reached: the limit reached


class XquikErrorBody(msgspec.Struct, frozen=True):
    """The envelope every error carries, as documented (a 429 adds `retryAfter`, a 403
    api_key_limit_reached `limit`)."""

    error: str
    message: str


class XquikOut(msgspec.Struct, frozen=True, rename="camel"):
    """Base of answers: snake_case attributes, camelCase on the wire."""


class XquikIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """Base of request bodies: camelCase on the wire, unknown fields refused (400 invalid_input)."""


def xquik_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> ApiError:
    """An answer in the document's error envelope: raise it from a handler (`limit=` rides along)."""
    return ApiError(status, code, message, extra or None, headers=headers)


def stamp(at: datetime | None) -> str | None:
    """2026-02-24T10:30:00.000Z, as the document writes times."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def figure(value: int) -> str:
    """A credit figure: a bigint, written as a string."""
    return str(value)


def id_param(call: Call, name: str = "id") -> int:
    """A numeric path id, or 400 invalid_id."""
    raw = call.path(name)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise xquik_error(400, "invalid_id", f"{name} must be a numeric id")
    return int(raw)


# ------------------------------------------------------------------------------------------ pages


class PageQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """`?after=&limit=` (limit 1..100, default 50); extend it with an operation's own filters."""

    after: Annotated[str, Meta(max_length=512)] | None = None
    limit: Annotated[int, Meta(ge=1, le=100)] = 50


def encode_cursor(*parts: str | int) -> str:
    raw = msgspec.json.encode(list(parts))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The parts of a cursor this surface handed out, or 400 invalid_input."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        parts = None
    if not isinstance(parts, list) or len(parts) != arity:
        raise xquik_error(400, "invalid_input", "after is not a cursor from this API")
    return parts


class Page(msgspec.Struct, frozen=True):
    items: list[Any]
    has_more: bool
    next_cursor: str | None


def page_of(rows: Sequence[T], limit: int, key: Callable[[T], tuple[str | int, ...]]) -> Page:
    """Rows fetched with LIMIT limit + 1 as one page: the first `limit`, and a cursor after the last."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items, more, encode_cursor(*key(items[-1])) if more and items else None)


# --------------------------------------------------------------------------------------- errors

# Codes of other layers (the shared pipeline) -> the document's codes.
_CODES = {
    "UNAUTHORIZED": "unauthenticated",
    "VALIDATION_ERROR": "invalid_input",
    "RATE_LIMITED": "rate_limit_exceeded",
    "NOT_FOUND": "not_found",
    "INTERNAL_ERROR": "internal_error",
}
_EMPTY_BODY = "a JSON request body is required"


def _encode(status: int, body: XquikError, headers: dict[str, str] | None = None) -> Response:
    return Response(msgspec.json.encode(body), status, headers, media_type="application/json")


def error_response(exc: BaseException, request_id: str) -> Response:
    """Any failure in the document's envelope (the request id stays in X-Request-Id)."""
    if isinstance(exc, IdentityError):
        exc = identity_error(exc)
    if isinstance(exc, ApiError):
        if exc.message == _EMPTY_BODY:
            return _encode(400, XquikError("invalid_json", "a JSON request body is required"))
        code = _CODES.get(exc.code, exc.code.lower())
        retry: int | None = None
        if exc.code == "RATE_LIMITED":
            retry = int(exc.details.get("retry_after") or exc.headers.get("Retry-After") or 1)
        headers = dict(exc.headers)
        if retry is not None:
            headers.setdefault("Retry-After", str(retry))
        limit = exc.details.get("limit")
        body = XquikError(code, exc.message, retry, limit if isinstance(limit, int) else None)
        return _encode(exc.status, body, headers)
    if isinstance(exc, msgspec.ValidationError):
        return _encode(400, XquikError("invalid_input", str(exc)))
    if isinstance(exc, msgspec.DecodeError):
        return _encode(400, XquikError("invalid_json", f"invalid JSON in request body: {exc}"))
    if isinstance(exc, CreditError):
        code = "insufficient_credits" if isinstance(exc, InsufficientCredits) else "no_credits"
        return _encode(402, XquikError(code, str(exc)))
    if isinstance(exc, SocialError):
        return _api_social(exc)
    log.exception("unhandled error", request_id=request_id, exc_info=exc)
    return _encode(500, XquikError("internal_error", "unexpected server error"))


def _api_social(exc: SocialError) -> Response:
    """A platform failure (engine/social) as the document answers it."""
    if isinstance(exc, RateLimited):
        seconds = max(1, math.ceil((exc.reset_at - datetime.now(UTC)).total_seconds()))
        body = XquikError("x_api_rate_limited", str(exc), seconds)
        return _encode(429, body, {"Retry-After": str(seconds)})
    if isinstance(exc, NeedsReauth):
        return _encode(403, XquikError("account_needs_reauth", "the X account session expired"))
    if isinstance(exc, Permanent) and exc.code == "not_found":
        return _encode(404, XquikError("not_found", str(exc)))
    return _encode(502, XquikError("x_api_unavailable", f"X data source unavailable: {exc}"))


# --------------------------------------------------------------------------------- authentication

_LAST_USED_EVERY = 30.0  # seconds: lastUsedAt is written at most this often per key and process
_last_used: dict[str, float] = {}


def unauthenticated(message: str) -> ApiError:
    return xquik_error(401, "unauthenticated", message)


def _api_key_of(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key is not None:
        return key.strip()
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(KEY_PREFIX):
        return token
    return None


def _session_token_of(request: Request) -> str | None:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and looks_like_jwt(token):
        return token
    cookie = request.cookies.get("session_token")
    return cookie if cookie and looks_like_jwt(cookie) else None


async def _key_principal(ctx: ApiContext, request: Request, key: str) -> Principal:
    if not key.startswith(KEY_PREFIX):
        raise unauthenticated("missing or invalid API key: send x-api-key: xq_...")
    try:
        found = await ctx.auth.verify_token(key)
    except ApiError:
        raise unauthenticated("missing or invalid API key") from None
    now = time.monotonic()
    if now - _last_used.get(found.key, -_LAST_USED_EVERY) >= _LAST_USED_EVERY:
        _last_used[found.key] = now
        if len(_last_used) > 100_000:
            _last_used.clear()
        await ctx.pool.execute("UPDATE xquik_api_keys SET last_used_at = now() WHERE key = $1", found.key)
    return ctx.auth.key_principal(found, request)


async def _session_principal(ctx: ApiContext, token: str) -> Principal:
    try:
        session = await ctx.auth.user_session(token)
    except ApiError:
        raise unauthenticated("the session has ended: sign in again") from None
    permissions = ROLE_PERMISSIONS.get(session.role, frozenset())
    return Principal(session.account_id, permissions, True, False, user=session)


async def authenticate(ctx: ApiContext, request: Request) -> Principal:
    """An Xquik API key, or a signed-in user's session."""
    key = _api_key_of(request)
    if key is not None:
        return await _key_principal(ctx, request, key)
    token = _session_token_of(request)
    if token is not None:
        return await _session_principal(ctx, token)
    raise unauthenticated("missing or invalid API key: send x-api-key: xq_...")


async def authenticate_session(ctx: ApiContext, request: Request) -> Principal:
    """A signed-in user's session only: the document's "session auth only" operations."""
    token = _session_token_of(request)
    if token is not None:
        return await _session_principal(ctx, token)
    if _api_key_of(request) is not None:
        raise unauthenticated("session auth only: this endpoint does not accept API key auth")
    raise unauthenticated("missing session: send Authorization: Bearer <access token>")


_ERROR_CODES = {
    "400": "invalid_input, invalid_json, invalid_id, ...",
    "409": "monitor_already_exists, idempotency_key_reused (an Idempotency-Key sent again with another body)",
    "401": "unauthenticated",
    "402": "no_credits, insufficient_credits, no_subscription, subscription_inactive",
    "403": "api_key_limit_reached, account_needs_reauth",
    "404": "not_found, ...",
    "429": "rate_limit_exceeded (retryAfter), x_api_rate_limited",
    "500": "internal_error",
    "502": "x_api_unavailable, x_write_failed, ...",
}

# The document's path ids, as `id_param` and x_common.numeric read them: this surface's own rows are
# numbers (up to 18 digits), X's posts, users and communities numeric snowflakes (up to 19), usernames
# X's 1-15 letters, digits or _; draws, extractions and galleries have ids of their own (the default).
_OWN_ID = {"type": "string", "pattern": "^[0-9]{1,18}$"}
_X_ID = {"type": "string", "pattern": "^[0-9]{1,19}$"}
_USERNAME = {"type": "string", "pattern": "^@?[A-Za-z0-9_]{1,15}$"}
_X_PATHS = ("/x/tweets/", "/x/users/", "/x/articles/", "/x/dm/", "/x/communities/")
_OPAQUE_PATHS = ("/draws/", "/extractions/", "/gallery/")


def path_schema(path: str, name: str) -> dict[str, Any] | None:
    if name == "username":
        return _USERNAME
    if any(part in path for part in _OPAQUE_PATHS):
        return None
    return _X_ID if any(part in path for part in _X_PATHS) else _OWN_ID


DIALECT = Dialect(
    name="xquik",
    authenticate=authenticate,
    error_response=error_response,
    error_schema=XquikErrorBody,
    error_codes=_ERROR_CODES,
    path_schema=path_schema,
)

SESSION_DIALECT = Dialect(
    name="xquik-session",
    authenticate=authenticate_session,
    error_response=error_response,
    error_schema=XquikErrorBody,
    error_codes=_ERROR_CODES,
    path_schema=path_schema,
)

__all__ = [
    "DIALECT", "KEY_PREFIX", "PREFIX", "SESSION_DIALECT", "NoCredits", "Page", "PageQuery", "XquikError",
    "XquikIn", "XquikOut", "decode_cursor", "encode_cursor", "figure", "id_param", "page_of", "stamp",
    "xquik_error",
]  # fmt: skip
