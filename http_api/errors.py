"""The one error envelope of the HTTP API, and the translation of every failure into it.

Every error the API answers has the same shape, whatever raised it:

    {"error": {"code": "VALIDATION_ERROR", "message": "...", "details": {...}}, "meta": {"request_id": "..."}}

Exceptions, as a tree (translated at one boundary, `error_response`, by the operation wrapper):

    ApiError                     raised by handlers and the auth, limit and idempotency layers
    engine.core.rejections.Rejected   the accept path refused a message: its Reject carries status and code
    engine.identity.errors.IdentityError  sign-in refused: mapped by `identity_error` (401, 409, 429 ...)
    msgspec.ValidationError      a body or query that does not match its schema -> 400 VALIDATION_ERROR
    msgspec.DecodeError          malformed JSON -> 400 VALIDATION_ERROR
    anything else                500 INTERNAL_ERROR, logged with the request id; never shown to the client

This module must never look at a request's body or credentials: it only shapes answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import structlog
from starlette.responses import Response

from engine.core.rejections import Rejected
from engine.identity import errors as identity

log = structlog.get_logger("http_api")

JSON = "application/json"


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str
    details: dict[str, Any] = msgspec.field(default_factory=dict)


class Meta(msgspec.Struct, frozen=True):
    request_id: str


class ErrorEnvelope(msgspec.Struct, frozen=True):
    """What every 4xx and 5xx answer carries."""

    error: ErrorBody
    meta: Meta


class ApiError(Exception):
    """An answer other than success: the HTTP status, the API code, a readable message, details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def validation_error(message: str, **details: Any) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message, details)


def not_found(what: str) -> ApiError:
    # The same answer whether the thing does not exist or belongs to another account: ids never leak.
    return ApiError(404, "NOT_FOUND", f"{what} not found")


def envelope(
    status: int,
    code: str,
    message: str,
    request_id: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = ErrorEnvelope(ErrorBody(code, message, details or {}), Meta(request_id))
    return Response(msgspec.json.encode(body), status, headers=headers, media_type=JSON)


_PHONE_FIELDS = frozenset({"to", "destination", "phone", "number"})
_SENDER_FIELDS = frozenset({"from", "sender_id"})
_TEXT_FIELDS = frozenset({"body", "message"})


_FORMATS = {
    "INVALID_PHONE_NUMBER": "not an E.164 number: '+', a country code, then a national number of its length",
    "INVALID_SENDER_ID": "a sender ID is 1-11 letters, digits and spaces (a letter at least), or a number",
}


def field_code(field: str, message: str) -> str:
    """The document's code for a schema error: a phone, a sender or a text that is wrong has its own."""
    name = field.rsplit(".", 1)[-1]
    if name in _PHONE_FIELDS and "regex" in message:
        return "INVALID_PHONE_NUMBER"
    if name in _SENDER_FIELDS and "regex" in message:
        return "INVALID_SENDER_ID"
    if name in _TEXT_FIELDS and "length <=" in message:
        return "MESSAGE_TOO_LONG"
    return "VALIDATION_ERROR"


def identity_error(exc: identity.IdentityError) -> ApiError:
    """The document's answer to a refused sign-in (its error table: 401 UNAUTHORIZED, ACCOUNT_LOCKED ...).

    ACCOUNT_LOCKED is listed twice (401 "locked after repeated failed logins", 429 "temporarily locked (5
    failed logins)"): the failed login that locks answers 401, every attempt while the lock holds 429
    with Retry-After, so both rows hold and a client that backs off on 429 waits for the lock to end.
    """
    message = str(exc)
    bearer = {"WWW-Authenticate": 'Bearer realm="smsengine", error="invalid_token"'}
    if isinstance(exc, identity.AccountLocked):
        details = {"locked_until": exc.locked_until.isoformat(), "retry_after": exc.retry_after}
        retry = {"Retry-After": str(exc.retry_after)}
        return ApiError(401 if exc.just_locked else 429, "ACCOUNT_LOCKED", message, details, retry)
    if isinstance(exc, identity.InvalidCredentials):
        return ApiError(
            401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": 'Bearer realm="smsengine"'}
        )
    if isinstance(exc, identity.InvalidToken):
        return ApiError(401, "UNAUTHORIZED", message, headers=bearer)
    if isinstance(exc, identity.EmailTaken):
        return ApiError(409, "CONFLICT", message, {"field": "email"})
    if isinstance(exc, identity.WeakPassword):
        # Its length is the schema's (400 before this); what remains is a well-formed password the policy
        # refuses (too easy to guess): 422, as the document's other refusals of well-formed requests.
        return ApiError(422, "VALIDATION_ERROR", message, {"field": "password"})
    if isinstance(exc, identity.SignupClosed | identity.NotAUser):
        return ApiError(403, "FORBIDDEN", message)
    if isinstance(exc, identity.ProviderError):
        return ApiError(503, "SERVICE_UNAVAILABLE", message, {"configured": exc.configured})
    return ApiError(400, "VALIDATION_ERROR", message)


def error_response(exc: BaseException, request_id: str) -> Response:
    """The envelope for any exception raised while answering a request."""
    if isinstance(exc, identity.IdentityError):
        exc = identity_error(exc)
    if isinstance(exc, ApiError):
        return envelope(exc.status, exc.code, exc.message, request_id, exc.details, exc.headers)
    if isinstance(exc, Rejected):
        r = exc.reject
        return envelope(r.http_status, r.api_code, exc.reason, request_id, {"reason": r.name.lower()})
    if isinstance(exc, msgspec.ValidationError):
        message, _, where = str(exc).rpartition(" - at `")
        field = where.rstrip("`") if message else ""
        details = {"field": field} if field else {}
        code = field_code(field, message)
        if code != "VALIDATION_ERROR" and "regex" in message:  # the pattern is the schema's to show, not this
            message = _FORMATS[code]
        return envelope(400, code, message or str(exc), request_id, details)
    if isinstance(exc, msgspec.DecodeError):
        return envelope(400, "VALIDATION_ERROR", f"malformed JSON: {exc}", request_id)
    log.exception("unhandled error", request_id=request_id, exc_info=exc)
    return envelope(500, "INTERNAL_ERROR", "unexpected server error", request_id)
