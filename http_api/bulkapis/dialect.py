"""The BulkAPIs document's way of speaking: `Authorization: Bearer bulk_ak_...`, its envelopes, its codes.

    success  {"success": true, "data": ...}
    error    {"success": false, "error": {"code": "RATE_LIMITED", "message": "...", "retryAfter": "2026-..."}}

    UNAUTHORIZED 401, FORBIDDEN 403, NOT_FOUND 404, VALIDATION_ERROR 400, RATE_LIMITED 429 (Retry-After),
    ACCOUNT_NEEDS_REAUTH 400, PLAN_LIMIT 403, NO_SOCIAL_PACK 403, API_CALLS_EXCEEDED 403,
    SOCIAL_ACCOUNTS_EXCEEDED 403, PLATFORM_ERROR 502, INTERNAL_ERROR 500

Authentication is the one key store's (http_api/auth.py `verify_token`); each authenticated call is
counted against the membership's yearly quota (plans.py) before anything else runs, and the membership
is left in the request scope for the social checks. The pipeline (rate limits, bodies, idempotency) is
http_api/operations.py's, like every surface's. This module must never do a surface's business.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import Response

from engine.core.rejections import Rejected
from engine.identity.errors import IdentityError
from engine.social.errors import NeedsReauth, Permanent, RateLimited, SocialError
from engine.social.jobs.service import SocialJobError
from http_api.auth import Principal, token_of, unauthorized
from http_api.bulkapis import plans
from http_api.errors import ApiError, identity_error, not_found
from http_api.operations import ApiContext, Call, Dialect, Reply

log = structlog.get_logger("http_api.bulkapis")

T = TypeVar("T")
MEMBERSHIP = "bulkapis.membership"  # request scope key: the caller's Membership after counting the call
# The document's "API Requests: 60 / min per API key": a bucket of 60 refilled at one a second.
RATE_LIMIT = 1.0
RATE_BURST = 60


class BulkApisOk(msgspec.Struct, Generic[T], frozen=True):
    data: T
    success: bool = True


class BulkApisErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    code: str
    message: str
    retryAfter: str | None = None


class BulkApisErrorEnvelope(msgspec.Struct, frozen=True):
    error: BulkApisErrorBody
    success: bool = False


def ok(item: object, status: int = 200) -> Reply:
    return Reply(status, BulkApisOk(item))


# Codes of other layers (the shared pipeline, the engine) -> this document's codes.
_CODES = {
    "PAYLOAD_TOO_LARGE": "VALIDATION_ERROR",
    "IDEMPOTENCY_KEY_REUSED": "VALIDATION_ERROR",
    "CONFLICT": "VALIDATION_ERROR",
    "UNSAFE_URL": "VALIDATION_ERROR",
}
_STATUS = {"VALIDATION_ERROR": 400, "NOT_FOUND": 404}


def _encode(status: int, body: BulkApisErrorBody, headers: dict[str, str] | None = None) -> Response:
    return Response(
        msgspec.json.encode(BulkApisErrorEnvelope(body)), status, headers, media_type="application/json"
    )


def error_response(exc: BaseException, request_id: str) -> Response:
    """Any failure, in this document's error envelope (the request id stays in X-Request-Id)."""
    if isinstance(exc, ApiError):
        return _api_error(exc)
    if isinstance(exc, msgspec.ValidationError | msgspec.DecodeError):
        return _encode(400, BulkApisErrorBody("VALIDATION_ERROR", str(exc)))
    if isinstance(exc, Rejected):
        return _encode(400, BulkApisErrorBody("VALIDATION_ERROR", exc.reason))
    if isinstance(exc, IdentityError):
        return _api_error(identity_error(exc))
    if isinstance(exc, SocialJobError | SocialError):
        return _api_error(social_error(exc))
    log.exception("unhandled error", request_id=request_id, exc_info=exc)
    return _encode(500, BulkApisErrorBody("INTERNAL_ERROR", "unexpected server error"))


# The social job service's refusals (engine/social/jobs/service.py) in this document's codes.
_SOCIAL = {
    "account_not_found": (404, "NOT_FOUND"),
    "not_found": (404, "NOT_FOUND"),
    "ACCOUNT_NEEDS_REAUTH": (400, "ACCOUNT_NEEDS_REAUTH"),
    "INSUFFICIENT_BALANCE": (403, "FORBIDDEN"),
    "SERVICE_UNAVAILABLE": (500, "INTERNAL_ERROR"),
    "opted_out": (400, "VALIDATION_ERROR"),  # the document has no opt-out code: a refused request
}


def social_error(exc: SocialJobError | SocialError) -> ApiError:
    """A social refusal or a platform failure as this document answers it."""
    if isinstance(exc, SocialJobError):
        status, code = _SOCIAL.get(exc.code, (400, "VALIDATION_ERROR"))
        return ApiError(status, code, exc.message)
    if isinstance(exc, RateLimited):
        seconds = max(1, math.ceil((exc.reset_at - datetime.now(UTC)).total_seconds()))
        return ApiError(
            429, "RATE_LIMITED", str(exc), {"retry_after": seconds}, {"Retry-After": str(seconds)}
        )
    if isinstance(exc, NeedsReauth):
        return ApiError(400, "ACCOUNT_NEEDS_REAUTH", "the connected account needs re-authorization")
    if isinstance(exc, Permanent) and exc.code == "not_found":
        return ApiError(404, "NOT_FOUND", str(exc))
    return ApiError(502, "PLATFORM_ERROR", f"upstream platform error: {exc}")


def _api_error(exc: ApiError) -> Response:
    code = _CODES.get(exc.code, exc.code)
    status = exc.status if code == exc.code else _STATUS.get(code, exc.status)
    retry_after: str | None = None
    if exc.code == "RATE_LIMITED":
        seconds = int(exc.details.get("retry_after") or exc.headers.get("Retry-After") or 1)
        retry_after = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    return _encode(status, BulkApisErrorBody(code, exc.message, retry_after), exc.headers)


async def authenticate(ctx: ApiContext, request: Request) -> Principal:
    """A bulk_ak_ key of the one key store; its call counted against the membership's quota."""
    token = token_of(request)
    if token is None:
        raise unauthorized("missing or invalid API key: send Authorization: Bearer bulk_ak_...")
    found = await ctx.auth.verify_token(token)
    # the document's 60 / min per key, unless the operator gave this key its own limit
    found = msgspec.structs.replace(
        found, rate_limit=found.rate_limit or RATE_LIMIT, rate_burst=found.rate_burst or RATE_BURST
    )
    principal = ctx.auth.key_principal(found, request)
    request.scope[MEMBERSHIP] = await plans.count_call(ctx.pool, principal.account_id)
    return principal


# The shapes of the document's path ids (X's ids: posts are digits, one-to-one conversations
# `<low>-<high>`; accounts `acc_<n>`; jobs 16 hex digits): a path id of another shape is no such thing
# (404 NOT_FOUND, `path_id`), and the OpenAPI document says so (None: the shared shape).
PATH_IDS = {
    "accountId": r"^(acc_)?[0-9]{1,18}$",
    "postId": r"^[0-9]{1,19}$",
    "conversationId": r"^[0-9]{1,19}(-[0-9]{1,19})?$",
    "jobId": r"^[0-9A-Fa-f]{1,16}$",
}
_PATH_IDS = {name: re.compile(pattern) for name, pattern in PATH_IDS.items()}


def path_schema(path: str, name: str) -> dict[str, Any] | None:
    pattern = PATH_IDS.get(name)
    return None if pattern is None else {"type": "string", "pattern": pattern}


def path_id(call: Call, name: str, what: str) -> str:
    """The path parameter `name`, 404 NOT_FOUND (`what` not found) unless it has the shape of its ids."""
    value = call.path(name)
    if _PATH_IDS[name].fullmatch(value) is None:
        raise not_found(what)
    return value


# The document's credentials, for the OpenAPI document: `Authorization: Bearer bulk_ak_...`.
_SCHEMES = {
    "BulkApisKey": {"type": "http", "scheme": "bearer", "bearerFormat": "bulk_ak_ API key",
                    "description": "a BulkAPIs API key: Authorization: Bearer bulk_ak_..."},
}  # fmt: skip

DIALECT = Dialect(
    name="bulkapis",
    authenticate=authenticate,
    error_response=error_response,
    error_schema=BulkApisErrorEnvelope,
    error_codes={
        "400": "VALIDATION_ERROR, ACCOUNT_NEEDS_REAUTH",
        "401": "UNAUTHORIZED",
        "403": "FORBIDDEN, PLAN_LIMIT, NO_SOCIAL_PACK, API_CALLS_EXCEEDED, SOCIAL_ACCOUNTS_EXCEEDED",
        "404": "NOT_FOUND",
        "429": "RATE_LIMITED (Retry-After)",
        "500": "INTERNAL_ERROR",
        "502": "PLATFORM_ERROR",
    },
    path_schema=path_schema,
    security=[{"BulkApisKey": []}],
    security_schemes=_SCHEMES,
)


def membership_of(call: Call) -> plans.Membership:
    found = call.request.scope.get(MEMBERSHIP)
    assert isinstance(found, plans.Membership), "BulkApisDialect.authenticate sets it"
    return found


def social_membership(call: Call) -> plans.Membership:
    """The caller's membership, 403 NO_SOCIAL_PACK unless it has a Social BulkApisAccounts pack."""
    current = membership_of(call)
    plans.require_social(current)
    return current


def stamp(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def camel(data: dict[str, Any]) -> dict[str, Any]:
    """snake_case keys as the document's camelCase (`account_id` -> `accountId`)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        head, *rest = key.split("_")
        out[head + "".join(part[:1].upper() + part[1:] for part in rest)] = value
    return out
