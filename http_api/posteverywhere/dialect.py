"""The PostEverywhere document's errors: `{"error": {"code": "<lowercase_code>", "message": "..."}}`.

Its own codes are `bulk_limit_exceeded`, `no_filter` and `validation_error` (per post); every other
failure of the shared pipeline keeps its status and is written in lowercase (`unauthorized`,
`rate_limited`, ...). Callers authenticate with any credential of the one key store (seed 001's keys,
`bulk_ak_` tokens, `sapi_key_` tokens): the document only shows `Authorization: Bearer <api key>`.
This module must never do a surface's business.
"""

from __future__ import annotations

from typing import Any

import msgspec

from http_api.operations import Dialect


class PostEverywhereErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str


class PostEverywhereError(msgspec.Struct, frozen=True):
    error: PostEverywhereErrorBody


def error_shape(status: int, shared: dict[str, Any]) -> dict[str, Any]:
    """The shared envelope's code in lowercase, its message; nothing else."""
    error = shared.get("error", {})
    body = PostEverywhereErrorBody(
        str(error.get("code", "internal_error")).lower(), str(error.get("message", ""))
    )
    return {"error": msgspec.to_builtins(body)}


DIALECT = Dialect.reshaping(
    "posteverywhere",
    error_shape,
    PostEverywhereError,
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
