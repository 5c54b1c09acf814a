"""The one error envelope of the HTTP API, and the translation of every failure into it.

Every error the API answers has the same shape, whatever raised it:

    {"error": {"code": "VALIDATION_ERROR", "message": "...", "details": {...}}, "meta": {"request_id": "..."}}

Exceptions, as a tree (translated at one boundary, `error_response`, by the operation wrapper):

    ApiError                     raised by handlers and the auth, limit and idempotency layers
    engine.core.rejections.Rejected   the accept path refused a message: its Reject carries status and code
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


def error_response(exc: BaseException, request_id: str) -> Response:
    """The envelope for any exception raised while answering a request."""
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
