"""What every seed 004 route shares: its error envelope, cursors, the engine's social layer, views.

The document's errors are `{"error": {"code": "namespace.specific_code", "message", "meta"}}`;
its `DIALECT` (the operations' one error hook, http_api/operations.py) is the shared envelope
(http_api/errors.py) reshaped by `error_shape`, mapping the shared codes to the document's namespaced ones.
Lists take `limit` (1-100) and `cursor` and answer `next_cursor`.
This module must never touch a platform: the engine's social layer does.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from engine.social.jobs import SocialJobError, SocialJobs
from engine.social.runtime import SocialLayer
from http_api.errors import ApiError
from http_api.operations import Call, Dialect, Operation

_CODES = {
    "UNAUTHORIZED": "auth.unauthorized",
    "FORBIDDEN": "auth.forbidden",
    "VALIDATION_ERROR": "validation.invalid_request",
    "NOT_FOUND": "resource.not_found",
    "RATE_LIMITED": "rate_limit.exceeded",
    "METHOD_NOT_ALLOWED": "request.method_not_allowed",
    "PAYLOAD_TOO_LARGE": "request.too_large",
    "INTERNAL_ERROR": "server.internal_error",
    "SERVICE_UNAVAILABLE": "server.unavailable",
    "IDEMPOTENCY_CONFLICT": "request.idempotency_conflict",
    "INSUFFICIENT_BALANCE": "billing.insufficient_balance",
}
_JOB_CODES = {
    "account_not_found": "account.not_found",
    "ACCOUNT_NEEDS_REAUTH": "account.needs_reauth",
    "unsupported_action": "platform.unsupported",
    "invalid_params": "validation.invalid_request",
    "text_too_long": "validation.text_too_long",
    "invalid_text": "validation.invalid_text",
    "INSUFFICIENT_BALANCE": "billing.insufficient_balance",
    "SERVICE_UNAVAILABLE": "server.unavailable",
    "not_found": "resource.not_found",
    "not_cancelable": "post.not_cancelable",
    "not_retryable": "post.not_retryable",
    "not_editable": "post.not_editable",
    "opted_out": "recipient.opted_out",  # the person opted out, by SMS or by DM (engine/consent)
}

Limit = Annotated[int, Meta(ge=1, le=100)]
PostText = Annotated[str, Meta(min_length=1, max_length=10_000)]
Id = Annotated[int, Meta(ge=1, le=2**63 - 1)]
Cursor = Annotated[
    str, Meta(pattern=r"^[0-7]?[0-9a-f]{1,15}$", description="next_cursor of the previous page")
]
When = Annotated[datetime, Meta(tz=True, description="RFC 3339 with offset")]
Secret = Annotated[str, Meta(min_length=1, max_length=512, pattern=r"^[\x21-\x7e]+$")]
HttpUrl = Annotated[
    str,
    Meta(min_length=10, max_length=2048, pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[\x21-\x7e]*)?$"),
]


class SocialErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str
    meta: dict[str, Any]


class SocialErrorEnvelope(msgspec.Struct, frozen=True):
    """The social-api document's error envelope."""

    error: SocialErrorBody


class SocialObject(msgspec.Struct, frozen=True):
    """A JSON object of the social-api document (its fields are each operation's own, see its module)."""


def operation(
    method: str, path: str, handler: Any, summary: str, permission: str, tag: str, **more: Any
) -> Operation:
    """An Operation of the seed 004 surface: its error envelope, its success statuses (`ok`: one or a
    tuple, default 200) and the document's 412 / 501 / 502, and an operationId of its own."""
    inner = handler

    async def checked(call: Call) -> Any:
        for name, value in call.request.path_params.items():
            if not _PATH_PARAM.match(str(value)):
                raise fail(400, "validation.invalid_path", f"{name} is not an id", field=name)
        return await inner(call)

    checked.__name__ = "social_" + handler.__name__.removeprefix("social_")
    handler = checked
    ok = more.pop("ok", 200)
    statuses = ok if isinstance(ok, tuple) else (ok,)
    more["responses"] = {s: SocialObject for s in statuses} | {
        412: SocialErrorEnvelope,
        501: SocialErrorEnvelope,
        502: SocialErrorEnvelope,
    }
    return Operation(
        method,
        path,
        handler,
        summary,
        permission,
        tag,
        dialect=DIALECT,
        **more,
    )


def error_shape(status: int, shared: dict[str, Any]) -> dict[str, Any]:
    """The shared envelope {"error": {code, message, details}, "meta": {request_id}} as seed 004 writes it."""
    error = shared.get("error", {})
    code = str(error.get("code", "server.internal_error"))
    meta = dict(error.get("details") or {})
    meta["request_id"] = shared.get("meta", {}).get("request_id")
    return {
        "error": {
            "code": code if "." in code else _CODES.get(code, code.lower()),
            "message": error.get("message", ""),
            "meta": meta,
        }
    }


# The document's credentials, for the OpenAPI document: one bearer token carrying an API key of the one
# key store and its secret (http_api/auth.py `single_token`).
_SCHEMES = {
    "SocialApiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "sapi_key_<key>.<secret>",
                     "description": "an API key and its secret as one token: sapi_key_<key>.<secret>"},
}  # fmt: skip

DIALECT = dataclasses.replace(
    Dialect.reshaping("social-api", error_shape, SocialErrorEnvelope),
    security=[{"SocialApiKey": []}],
    security_schemes=_SCHEMES,
)


def fail(status: int, code: str, message: str, **meta: Any) -> ApiError:
    return ApiError(status, code, message, meta)


_UNPROCESSABLE = frozenset({"text_too_long", "invalid_text", "invalid_params"})
_PATH_PARAM = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")  # what the OpenAPI document says of every path id


def job_error(exc: SocialJobError) -> ApiError:
    """A refusal of the social jobs service; a well-formed request the platform's rules refuse is 422."""
    status = 422 if exc.code in _UNPROCESSABLE else exc.status
    return ApiError(status, _JOB_CODES.get(exc.code, exc.code), exc.message, exc.meta)


def social(call: Call) -> SocialLayer:
    layer = call.ctx.engine.social
    if layer is None:
        raise fail(503, "server.unavailable", "social platforms are not configured")
    return layer


def jobs(call: Call) -> SocialJobs:
    return social(call).jobs


def encode_cursor(value: int) -> str:
    return f"{value:x}"


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor, 16)
    except ValueError:
        raise fail(400, "validation.invalid_cursor", "cursor is not one this list gave out") from None


def page(items: list[Any], limit: int, key: Any) -> dict[str, Any]:
    """`limit + 1` rows fetched -> {"data": the first `limit`, "next_cursor": where to go on, or None}."""
    more = len(items) > limit
    items = items[:limit]
    return {"data": items, "next_cursor": encode_cursor(key(items[-1])) if more and items else None}


def rfc3339(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def platform_name(platform: str) -> str:
    """The document's platform names: "twitter" for X."""
    return "twitter" if platform == "x" else platform


def engine_platform(name: str) -> str:
    return "x" if name in ("twitter", "x") else name


def struct_to_dict(value: Any) -> Any:
    return msgspec.to_builtins(value)


async def owned_social_account(call: Call, social_account_id: int) -> Any:
    record = await social(call).store.get(social_account_id, account_id=call.account_id)
    if record is None or record.state == "disconnected":  # gone, as GET /v1/accounts no longer lists it
        raise fail(404, "account.not_found", "no such connected account")
    return record
