"""The OpenAPI 3.1 document, generated from the operations and their msgspec schemas, and /docs.

`openapi_document(operations)` walks the same `Operation` declarations the app serves, so what is
documented is what runs: request and response bodies come from `msgspec.json.schema_components`, query
parameters from the query Structs' fields, and every operation documents the error envelope. /docs
(http_api/docs.py) is Swagger UI over it, its assets served from the installed wheel.

This module must never import a route module: the app passes the operations in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from http_api.errors import ErrorEnvelope
from http_api.operations import NUL_FREE, Operation

REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")

AUTH_DESCRIPTION = (
    "Send `X-API-Key: bsms_live_...` and `X-API-Secret: sk_live_...` on every request, or "
    "`Authorization: Bearer <key>:<secret>` (the key and the secret joined by one colon), or "
    "`Authorization: Bearer <access token>` (an RS256 JWT from POST /v1/auth/login, valid 15 minutes; "
    "POST /v1/auth/refresh renews it; public keys at /.well-known/jwks.json). "
    "Test keys (`bsms_test_...`) and the header `X-Sandbox: true` run in the sandbox: messages are answered "
    "as delivered, never reach a carrier and are never charged. Permissions: sms.send, sms.read, "
    "billing.read, billing.topup, reports.read, keys.manage, webhooks.manage, templates.manage, "
    "contacts.read/.write, campaigns.read/.write, settings.manage, whatsapp.send, or * for all of these; "
    "billing.write "
    "(operator top-ups) and campaigns.approve (an account admin) are granted by name only. Every POST "
    "honours `Idempotency-Key`: the same key and body within 24 hours returns the first answer; the same "
    "key with another body answers 409 IDEMPOTENCY_KEY_REUSED. Rate limits: a token bucket per key, "
    "reported in X-RateLimit-Limit / X-RateLimit-Remaining / X-RateLimit-Reset; 429 RATE_LIMITED with "
    "Retry-After. Money is in integer minor units (350 = 3.50) except where a field says micros. Lists "
    "answer {data, pagination: {total, page_size, has_more, cursor}, meta: {request_id}}; pass "
    "pagination.cursor back as `cursor`. Every path is also served under /api/v1/... for these credentials."
)

_ENVELOPE = '{"error": {"code", "message", "details"}, "meta": {"request_id"}}'
_ERRORS = {
    "400": "VALIDATION_ERROR, INVALID_PHONE_NUMBER, INVALID_SENDER_ID, MESSAGE_TOO_LONG",
    "401": "UNAUTHORIZED, ACCOUNT_LOCKED",
    "403": "FORBIDDEN",
    "404": "NOT_FOUND",
    "409": "CONFLICT (duplicate resource, state conflict, Idempotency-Key still running), "
    "IDEMPOTENCY_KEY_REUSED",
    "413": "PAYLOAD_TOO_LARGE",
    "422": "INSUFFICIENT_BALANCE, OPT_OUT, BLACKLISTED, NO_ROUTE, UNSAFE_URL, TEMPLATE_NOT_APPROVED, "
    "CONVERSATION_WINDOW_CLOSED, WHATSAPP_NOT_CONNECTED",
    "429": "RATE_LIMITED, ACCOUNT_LOCKED",
    "500": "INTERNAL_ERROR",
    "503": "SERVICE_UNAVAILABLE",
}
_BODY_ERRORS = {"413": "PAYLOAD_TOO_LARGE", "415": "UNSUPPORTED_MEDIA_TYPE"}
# Every path is served under /v1/... and, for seed-001 credentials, under /api/v1/... (http_api.surfaces).
_SERVERS = [{"url": "/", "description": "/v1/..."}, {"url": "/api", "description": "/api/v1/..."}]
_PATH_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9_.+-]+$"}


def _nul_free(node: Any) -> None:
    """Every free-text string the API takes refuses U+0000 (operations.decode_json): say so where no
    pattern of its own does already (those that have one exclude it themselves)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not ({"pattern", "enum", "format", "const"} & node.keys()):
            node["pattern"] = NUL_FREE
        for value in node.values():
            _nul_free(value)
    elif isinstance(node, list):
        for value in node:
            _nul_free(value)


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _parameters(op: Operation, components: dict[str, Any]) -> list[dict[str, Any]]:
    shape = op.dialect.path_schema
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": (shape and shape(op.path, name)) or _PATH_ID}
        for name in _PATH_PARAM.findall(op.path)
    ]
    if op.query is not None:
        schema = components[op.query.__name__]
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    if op.honours_idempotency:
        parameters.append({
            "name": "Idempotency-Key", "in": "header", "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": "the same key and body within 24 hours answers what the first request did",
        })  # fmt: skip
    return parameters


def _responses(op: Operation, ref_of: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, kind in op.responses.items():
        if status == 204:
            responses["204"] = {"description": "No Content"}
            continue
        media = op.produces.get(status)
        content = {media: {"schema": {"type": "string"}}} if media else _json(ref_of[kind])
        responses[str(status)] = {"description": kind.__name__, "content": content}
    error_ref = ref_of[op.dialect.error_schema]  # the document's own envelope
    if op.dialect.error_codes is not None:  # and its own codes
        errors = dict(op.dialect.error_codes)
    else:
        errors = dict(_ERRORS) | (_BODY_ERRORS if op.has_body else {})
    for code, codes in errors.items():
        existing = responses.get(code)
        if existing is None:
            responses[code] = {"description": codes, "content": _json(error_ref)}
        else:  # a success-shaped answer (bulk: none accepted) or the error envelope
            schema = existing["content"]["application/json"]["schema"]
            existing["content"] = _json({"anyOf": [schema, error_ref]})
            existing["description"] += f"; or an error: {codes}"
    return responses


def openapi_document(operations: Sequence[Operation], *, title: str = "smsengine HTTP API") -> dict[str, Any]:
    types: list[Any] = [ErrorEnvelope]
    types.extend(dict.fromkeys(op.dialect.error_schema for op in operations))
    for op in operations:
        types.extend(op.body if isinstance(op.body, tuple) else [op.body] if op.body is not None else [])
        types.extend([op.query] if op.query is not None else [])
        types.extend(t for c in op.content.values() if isinstance(c, tuple) for t in c)
        types.extend(op.responses.values())
    unique = list(dict.fromkeys(types))
    refs, components = msgspec.json.schema_components(unique, ref_template=REF)
    ref_of = dict(zip(unique, refs, strict=True))
    _nul_free(components)
    for kind in unique:  # what a Struct's fields alone cannot say ("body or template_id, not both")
        extra = getattr(kind, "json_schema_extra", None)
        if extra and getattr(kind, "__name__", None) in components:
            components[kind.__name__].update(extra)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "security": op.security if op.public else [{"ApiKey": [], "ApiSecret": []}, {"Bearer": []}],
            "parameters": _parameters(op, components),
            "responses": _responses(op, ref_of),
            "x-permission": op.permission,
        }
        if op.description:
            entry["description"] = op.description
        content: dict[str, Any] = {}
        if isinstance(op.body, tuple):
            content["application/json"] = {"schema": {"anyOf": [ref_of[b] for b in op.body]}}
        elif op.body is not None:
            content["application/json"] = {"schema": ref_of[op.body]}
        for media, schema in op.content.items():
            if isinstance(schema, tuple):
                refs_ = [ref_of[t] for t in schema]
                content[media] = {"schema": refs_[0] if len(refs_) == 1 else {"anyOf": refs_}}
            else:
                content[media] = {"schema": dict(schema)}
        if content:
            entry["requestBody"] = {"required": op.body_required, "content": content}
        item = paths.setdefault(op.path, {"servers": _SERVERS} if op.path.startswith("/v1/") else {})
        item[op.method.lower()] = entry

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": AUTH_DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "ApiSecret": {"type": "apiKey", "in": "header", "name": "X-API-Secret"},
                "Bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT, or <key>:<secret>"},
                "StripeSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Stripe-Signature",
                    "description": "t=<unix>,v1=<hex HMAC-SHA256(secret, t + '.' + body)>, as Stripe signs",
                },
                "MetaSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Hub-Signature-256",
                    "description": "sha256=<hex HMAC-SHA256(app secret, raw body)>, as Meta signs webhooks",
                },
            },
        },
    }
