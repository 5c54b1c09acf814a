"""The PostEverywhere document's errors: `{"error": {"code": "<lowercase_code>", "message": "..."}}`.

Its own codes are `bulk_limit_exceeded`, `no_filter` and `validation_error` (per post); every other
failure of the shared pipeline keeps its status and is written in lowercase (`unauthorized`,
`rate_limited`, ...). Callers authenticate with any credential of the one key store (seed 001's keys,
`bulk_ak_` tokens, `sapi_key_` tokens): the document only shows `Authorization: Bearer <api key>`.
This module must never do a surface's business.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from http_api.auth import Principal
from http_api.errors import error_response as shared_error_response
from http_api.operations import ApiContext, Dialect


class PostEverywhereErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str


class PostEverywhereError(msgspec.Struct, frozen=True):
    error: PostEverywhereErrorBody


def error_response(exc: BaseException, request_id: str) -> Response:
    shared = shared_error_response(exc, request_id)
    decoded = msgspec.json.decode(bytes(shared.body))
    error = decoded.get("error", {})
    body = PostEverywhereError(
        PostEverywhereErrorBody(
            str(error.get("code", "internal_error")).lower(), str(error.get("message", ""))
        )
    )
    headers = {k: v for k, v in shared.headers.items() if k not in ("content-type", "content-length")}
    return Response(msgspec.json.encode(body), shared.status_code, headers, media_type="application/json")


async def authenticate(ctx: ApiContext, request: Request) -> Principal:
    return await ctx.auth.authenticate(request)


DIALECT = Dialect(
    name="posteverywhere",
    authenticate=authenticate,
    error_response=error_response,
    error_schema=PostEverywhereError,
    error_codes={
        "400": "bulk_limit_exceeded, no_filter, validation_error",
        "401": "unauthorized",
        "403": "forbidden",
        "409": "idempotency_key_reused, conflict",
        "413": "payload_too_large",
        "429": "rate_limited",
        "500": "internal_error",
    },
)
