"""The OpenAPI 3.1 document, generated from the operations and their msgspec schemas, and /docs.

`openapi_document(operations)` walks the same `Operation` declarations the app serves, so what is
documented is what runs: request and response bodies come from `msgspec.json.schema_components`, query
parameters from the query Structs' fields, and every operation documents the error envelope. /docs is a
plain HTML page listing the operations (no Swagger UI: no CDN is reachable from where this runs).

This module must never import a route module: the app passes the operations in.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from http_api.errors import ErrorEnvelope
from http_api.operations import Operation

REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"\{(\w+)\}")

AUTH_DESCRIPTION = (
    "Send `X-API-Key: bsms_live_...` and `X-API-Secret: sk_live_...` on every request, or "
    "`Authorization: Bearer <key>:<secret>` (the key and the secret joined by one colon), or "
    "`Authorization: Bearer <access token>` (an RS256 JWT from POST /v1/auth/login, valid 15 minutes; "
    "POST /v1/auth/refresh renews it; public keys at /.well-known/jwks.json). "
    "Test keys (`bsms_test_...`) and the header `X-Sandbox: true` run in the sandbox: messages are answered "
    "as delivered, never reach a carrier and are never charged. Permissions: sms.send, sms.read, "
    "billing.read, billing.write, reports.read, keys.manage, or * for all but billing.write (top-ups: "
    "operator keys only). POST endpoints marked idempotent honour "
    "`Idempotency-Key`: the same key and body within 24 hours returns the first answer; the same key with "
    "another body answers 422 IDEMPOTENCY_KEY_REUSED. Rate limits: a token bucket per key, reported in "
    "X-RateLimit-Limit / X-RateLimit-Remaining / X-RateLimit-Reset; 429 RATE_LIMITED with Retry-After."
)

_ENVELOPE = '{"error": {"code", "message", "details"}, "meta": {"request_id"}}'
_ERRORS = {
    "400": "VALIDATION_ERROR, INVALID_PHONE_NUMBER, INVALID_SENDER_ID, MESSAGE_TOO_LONG",
    "401": "UNAUTHORIZED, ACCOUNT_LOCKED",
    "403": "FORBIDDEN",
    "404": "NOT_FOUND",
    "413": "PAYLOAD_TOO_LARGE",
    "422": "INSUFFICIENT_BALANCE, OPT_OUT, NO_ROUTE, IDEMPOTENCY_KEY_REUSED",
    "429": "RATE_LIMITED, ACCOUNT_LOCKED",
    "503": "SERVICE_UNAVAILABLE",
}


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def openapi_document(operations: Sequence[Operation], *, title: str = "smsengine HTTP API") -> dict[str, Any]:
    types: list[Any] = [ErrorEnvelope]
    for op in operations:
        types.extend(t for t in (op.body, op.query) if t is not None)
        types.extend(op.responses.values())
    unique = list(dict.fromkeys(types))
    refs, components = msgspec.json.schema_components(unique, ref_template=REF)
    ref_of = dict(zip(unique, refs, strict=True))
    error_ref = ref_of[ErrorEnvelope]

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_PARAM.findall(op.path)
        ]
        if op.query is not None:
            schema = components[op.query.__name__]
            required = set(schema.get("required", []))
            for name, prop in schema["properties"].items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        if op.idempotent:
            parameters.append({
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "maxLength": 255},
            })  # fmt: skip
        responses: dict[str, Any] = {
            str(status): {"description": kind.__name__, "content": _json(ref_of[kind])}
            for status, kind in op.responses.items()
        }
        for status, codes in _ERRORS.items():
            responses.setdefault(
                status, {"description": codes, "content": {"application/json": {"schema": error_ref}}}
            )
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "security": [] if op.public else [{"ApiKey": [], "ApiSecret": []}, {"Bearer": []}],
            "parameters": parameters,
            "responses": responses,
            "x-permission": op.permission,
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            entry["requestBody"] = {
                "required": op.body_required,
                "content": {"application/json": {"schema": ref_of[op.body]}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = entry

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
            },
        },
    }


def docs_page(document: dict[str, Any]) -> str:
    """A self-contained HTML page: every operation, its permission, parameters and answers."""
    e = html.escape
    rows: list[str] = []
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in op["parameters"]) or "—"
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            body_name = body.get("$ref", "").rsplit("/", 1)[-1] or "—"
            answers = ", ".join(sorted(op["responses"]))
            rows.append(
                f"<tr><td><code>{e(method.upper())}</code></td><td><code>{e(path)}</code></td>"
                f"<td>{e(op['summary'])}</td><td><code>{e(str(op['x-permission']))}</code></td>"
                f"<td>{e(params)}</td><td>{e(body_name)}</td><td>{e(answers)}</td></tr>"
            )
    info = document["info"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>" + e(info["title"]) + "</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left;vertical-align:top}table{border-collapse:collapse}</style></head><body>"
        f"<h1>{e(info['title'])}</h1><p>{e(info['description'])}</p>"
        "<p>Errors: <code>" + e(_ENVELOPE) + "</code>. "
        "Machine-readable: <a href='/openapi.json'>/openapi.json</a>.</p>"
        "<table><tr><th>Method</th><th>Path</th><th>Summary</th><th>Permission</th><th>Parameters</th>"
        "<th>Body</th><th>Answers</th></tr>" + "".join(rows) + "</table></body></html>"
    )
