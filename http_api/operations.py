"""Operations: what a route module declares, and the one wrapper every request goes through.

A route module lists `Operation`s (method, path, permission, body/query/response schemas, handler).
`create_app` turns each into a Starlette route to an `Endpoint`, which, in order:

    authenticates (auth.Authenticator) -> takes a rate-limit token (ratelimit.RateLimiter)
    -> checks the permission -> reads the body (at most http.max_body_bytes, else 413)
    -> honours Idempotency-Key (idempotency.IdempotencyStore) when the operation is `idempotent`
    -> decodes body and query with msgspec (unknown fields refused) -> runs the handler -> encodes

and turns any failure into its document's error envelope (the operation's `Dialect`). Handlers therefore
only see a `Call` with a decoded body and an authenticated principal, and return a `Reply`; the same
declarations generate the OpenAPI document (openapi.py), so the documentation cannot drift from the code.

This module must never know any endpoint's business: it is the plumbing shared by all of them.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import msgspec
import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from engine.app import Engine
from engine.core.rejections import Rejected
from engine.core.text_fields import find_bad_text
from engine.infra import metrics
from engine.infra.settings import HttpSettings
from http_api.auth import Authenticator, Principal
from http_api.errors import ApiError, ErrorEnvelope, error_response
from http_api.idempotency import IdempotencyStore, StoredResponse, request_hash
from http_api.ratelimit import RateLimiter

S = TypeVar("S")

REQUEST_ID = "smsengine.request_id"  # scope key set by the request-id middleware (app.py)


@dataclass
class ApiContext:
    """Everything a handler may use, built once per app."""

    engine: Engine
    redis: aioredis.Redis
    prefix: str
    settings: HttpSettings
    auth: Authenticator
    limiter: RateLimiter
    idempotency: IdempotencyStore

    @property
    def pool(self) -> asyncpg.Pool:
        return self.engine.pool


class Reply(msgspec.Struct, frozen=True):
    """A handler's answer: `body` is JSON-encoded, unless it is bytes (then sent as they are, with the
    Content-Type the handler puts in `headers`: a CSV export, an invoice PDF)."""

    status: int
    body: Any
    headers: dict[str, str] = msgspec.field(default_factory=dict)


@dataclass
class Call:
    """One request, as a handler sees it: authenticated, unless its operation is `public`."""

    request: Request
    ctx: ApiContext
    caller: Principal | None
    request_id: str
    body: Any = None
    query: Any = None
    raw: bytes = b""  # the request body as received (POST, PUT, PATCH), for handlers that parse it

    @property
    def principal(self) -> Principal:
        if self.caller is None:  # a public operation asking for a caller it does not have
            raise ApiError(401, "UNAUTHORIZED", "this request needs credentials")
        return self.caller

    @property
    def account_id(self) -> int:
        return self.principal.account_id

    def body_as(self, kind: type[S]) -> S:
        assert isinstance(self.body, kind)
        return self.body

    def query_as(self, kind: type[S]) -> S:
        assert isinstance(self.query, kind)
        return self.query

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class Dialect:
    """How one document's surface authenticates its callers and answers its errors: the one hook.

    Every operation has one: seed 001's (`SHARED`: the one key store, errors.error_response) unless it
    declares its document's (BulkAPIs' `success`/`error` envelope and `bulk_ak_` keys, PostEverywhere's
    lowercase codes, social-api's namespaced codes). Every failure of the operation — authentication,
    limits, validation, a path's 405, the handler's — is answered by its `error_response`; the pipeline
    (limits, body, idempotency, decoding) stays this module's. A document whose envelope is the shared
    one reworded is made with `reshaping`.
    """

    name: str
    error_response: Callable[[BaseException, str], Response]
    error_schema: type  # the error envelope Struct, for the OpenAPI document
    # status -> the codes it may answer with, for the OpenAPI document; None: the shared table's
    error_codes: Mapping[str, str] | None = None
    # None: the one key store's credentials (auth.Authenticator.authenticate)
    authenticate: Callable[[ApiContext, Request], Awaitable[Principal]] | None = None
    # (path template, parameter name) -> the JSON schema of that path parameter, for the OpenAPI
    # document, where the document's ids have a shape of their own (None: the shared one)
    path_schema: Callable[[str, str], Mapping[str, Any] | None] | None = None

    @classmethod
    def reshaping(
        cls,
        name: str,
        shape: Callable[[int, dict[str, Any]], dict[str, Any]],
        error_schema: type,
        error_codes: Mapping[str, str] | None = None,
        authenticate: Callable[[ApiContext, Request], Awaitable[Principal]] | None = None,
    ) -> Dialect:
        """A dialect answering the shared envelope (errors.error_response) as `shape(status, shared)`
        rewrites it, with the shared answer's status and headers (Retry-After, WWW-Authenticate, Allow)."""

        def answer(exc: BaseException, request_id: str) -> Response:
            shared = error_response(exc, request_id)
            body = msgspec.json.encode(shape(shared.status_code, msgspec.json.decode(bytes(shared.body))))
            return Response(body, shared.status_code, _extra_headers(shared), media_type="application/json")

        return cls(name, answer, error_schema, error_codes, authenticate)


SHARED = Dialect("bulksmsrates", error_response, ErrorEnvelope)  # seed 001's: every other's starting point


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    permission: str | None
    tag: str
    # a msgspec Struct decoded from the JSON body, or a tuple of them: the first that decodes it wins
    body: type | tuple[type, ...] | None = None
    query: type | None = None  # a msgspec Struct, converted from the query string
    responses: Mapping[int, type] = field(default_factory=dict)
    idempotent: bool | None = None  # honours the Idempotency-Key header; default: every POST does
    description: str = ""
    # Bodies the handler reads itself (from call.raw), for the OpenAPI document: media type -> a JSON
    # schema, or a tuple of Structs (any of them).
    content: Mapping[str, Mapping[str, Any] | tuple[type, ...]] = field(default_factory=dict)
    # Answers other than JSON (CSV, PDF): status -> media type, documented as such.
    produces: Mapping[int, str] = field(default_factory=dict)
    # Needs no credentials (sign-up, login, token refresh, password reset, a signed payment webhook ...):
    # limited per client address (auth.public_rate_limit) instead of per key; the handler sees
    # `call.caller` None.
    public: bool = False
    body_required: bool = True  # False: an empty body is allowed (the handler then sees `call.body` None)
    # A public operation's own proof of its caller, for the OpenAPI document (e.g. a signature header).
    security: list[dict[str, list[str]]] = field(default_factory=list)
    dialect: Dialect = SHARED  # the document's auth and error envelope: the one hook (Dialect)
    # A public operation's own budget per client address (rate, burst) instead of auth.public_rate_*:
    # a platform's signed webhooks come from a few addresses at the platform's pace.
    public_limit: tuple[float, int] | None = None

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def honours_idempotency(self) -> bool:
        """Every POST with an account to key it by (a public one has none)."""
        if self.public:
            return False
        return self.idempotent if self.idempotent is not None else self.method == "POST"

    @property
    def has_body(self) -> bool:
        return self.method in _BODY_METHODS


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")


def assign_request_id(scope: Scope) -> str:
    """The request's id: the client's X-Request-Id when it is sane, else a new one; stored in the scope."""
    rid = scope.get(REQUEST_ID)
    if isinstance(rid, str):
        return rid
    given = None
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given = value.decode("latin-1")
            break
    rid = given if given and _SANE_REQUEST_ID.fullmatch(given) else "req_" + secrets.token_hex(8)
    scope[REQUEST_ID] = rid
    return rid


def request_id_of(request: Request) -> str:
    return assign_request_id(request.scope)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) beyond `limit` bytes whether or not Content-Length says so."""
    length = request.headers.get("content-length")
    too_large = ApiError(
        413, "PAYLOAD_TOO_LARGE", f"request body larger than {limit} bytes", {"limit": limit}
    )
    if length is not None and length.isdigit() and int(length) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def decode_body(kind: type[S] | tuple[type, ...], raw: bytes) -> Any:
    if not raw.strip():
        raise ApiError(400, "VALIDATION_ERROR", "a JSON request body is required")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    first: msgspec.ValidationError | None = None
    for one in kinds:
        try:
            return decode_json(one, raw)
        except msgspec.ValidationError as exc:  # the next shape may fit; the first one's error is reported
            first = first or exc
    assert first is not None
    raise first


NUL_FREE = r"^[^\x00]*$"  # every string the API takes: PostgreSQL text cannot hold U+0000


# U+0000 and a lone surrogate can only come in as JSON escapes (\u0000, \ud800-\udfff): raw UTF-8 has
# neither. A body without those escapes has no text to refuse, and is not walked.
_MAY_BE_BAD = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def decode_json(kind: Any, raw: bytes | str) -> Any:
    """`raw` as `kind`, strictly; except that 3.0 is the integer 3 (JSON Schema's integers include it)."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    if not raw.strip():
        raise ApiError(400, "VALIDATION_ERROR", "a JSON request body is required")
    try:
        result = decoder.decode(raw)
    except msgspec.ValidationError as exc:
        if "got `float`" not in str(exc):
            raise
        try:  # the slow path, only for bodies that wrote a whole number with a fraction
            result = msgspec.convert(_whole_numbers(msgspec.json.decode(raw)), kind, strict=True)
        except msgspec.ValidationError:
            raise exc from None
    if not isinstance(raw, bytes) or _MAY_BE_BAD.search(raw):  # walked only where it may find some
        _refuse_bad_text(result)
    return result


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    return value


_datetime_fields: dict[type, frozenset[str]] = {}


def _datetimes_of(kind: type) -> frozenset[str]:
    """The query Struct's fields that hold a date-time (by their encoded names)."""
    found = _datetime_fields.get(kind)
    if found is None:
        found = frozenset(f.encode_name for f in msgspec.structs.fields(kind) if "datetime" in repr(f.type))
        _datetime_fields[kind] = found
    return found


def _refuse_bad_text(decoded: Any) -> None:
    """400 for a string no table can store (U+0000, lone surrogates): before any handler sees it."""
    bad = find_bad_text(decoded)
    if bad is not None:
        field, problem = bad
        raise ApiError(400, "VALIDATION_ERROR", f"{field} {problem}", {"field": field})


def decode_query(kind: type[S], request: Request) -> S:
    params: dict[str, Any] = {}
    stamps = _datetimes_of(kind)
    for name, value in request.query_params.multi_items():
        if name in params:
            raise ApiError(400, "VALIDATION_ERROR", f"query parameter {name!r} given more than once")
        # Query strings are text: numbers and booleans are read from it (lax), but a date-time only from
        # ISO 8601 text, never from a number of seconds (which the lax reading would take).
        params[name] = msgspec.convert(value, datetime, strict=True) if name in stamps else value
    _refuse_bad_text(params)
    return msgspec.convert(params, kind, strict=False)


_encoder = msgspec.json.Encoder()


def encode(reply: Reply) -> StoredResponse:
    if isinstance(reply.body, bytes):
        return StoredResponse(reply.status, reply.body)
    return StoredResponse(reply.status, _encoder.encode(reply.body))


def _code_of(body: bytes | memoryview) -> str:
    """The error code an envelope carries (for the dashboard's refusals), or VALIDATION_ERROR."""
    try:
        code = msgspec.json.decode(body)["error"]["code"]
    except (msgspec.DecodeError, KeyError, TypeError):
        return "VALIDATION_ERROR"
    return str(code)


def _extra_headers(response: Response) -> dict[str, str]:
    """An error response's own headers (WWW-Authenticate, Retry-After), not those Endpoint sets."""
    return {k: v for k, v in response.headers.items() if k not in ("content-type", "content-length")}


class Endpoint:
    """The ASGI app of one operation (a plain ASGI callable: Starlette routes to it without wrapping)."""

    def __init__(self, op: Operation, ctx: ApiContext) -> None:
        self.op = op
        self.ctx = ctx
        self.__name__ = op.operation_id
        self.error_response = op.dialect.error_response

    async def authenticate(self, request: Request) -> Principal:
        if self.op.dialect.authenticate is not None:
            return await self.op.dialect.authenticate(self.ctx, request)
        return await self.ctx.auth.authenticate(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        rid = assign_request_id(scope)
        started = time.monotonic()  # metrics: engine/infra/metrics.py
        status, body, headers = await self.handle(request)
        lowered = {k.lower(): v for k, v in headers.items()}
        metrics.http_request(self.op.method, self.op.path, status, time.monotonic() - started)  # metrics
        raw_headers = [
            (b"content-type", lowered.pop("content-type", "application/json").encode("latin-1")),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", rid.encode()),
        ]
        raw_headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in lowered.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _run(self, call: Call, raw: bytes) -> tuple[StoredResponse, dict[str, str]]:
        op = self.op
        try:
            _refuse_bad_text(call.request.path_params)
            if op.body is not None and (op.body_required or raw.strip()):
                call.body = decode_body(op.body, raw)
            if op.query is not None:
                call.query = decode_query(op.query, call.request)
            reply = await op.handler(call)
            return encode(reply), reply.headers
        except Exception as exc:
            response = self.error_response(exc, call.request_id)
            if isinstance(exc, Rejected):  # metrics: engine/infra/metrics.py
                metrics.refused("http", call.account_id, exc.reject.name, exc.reason)
            elif op.method == "POST" and response.status_code in (400, 422) and call.caller is not None:
                # a customer's request refused at the door
                metrics.refused("http", call.caller.account_id, _code_of(response.body), str(exc))
            return StoredResponse(response.status_code, bytes(response.body)), _extra_headers(response)

    async def handle(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        op, ctx, settings = self.op, self.ctx, self.ctx.settings
        rid = request_id_of(request)
        headers: dict[str, str] = {}
        try:
            principal: Principal | None = None
            if op.public:
                public = ctx.engine.settings.auth
                client = request.client.host if request.client else "unknown"
                rate, burst = op.public_limit or (public.public_rate_limit, public.public_rate_burst)
                subject = "ip:" + client if op.public_limit is None else f"ip:{client}:{op.operation_id}"
                verdict = await ctx.limiter.check(subject, rate, burst)
            else:
                principal = await self.authenticate(request)
                verdict = await ctx.limiter.check(
                    principal.rate_subject,
                    principal.rate_limit or settings.rate_limit,
                    principal.rate_burst or settings.rate_burst,
                )
            headers.update(verdict.headers())
            if not verdict.allowed:
                raise ApiError(
                    429, "RATE_LIMITED", "too many requests for these credentials",
                    {"retry_after": verdict.retry_after},
                )  # fmt: skip
            if principal is not None:
                principal.require(op.permission)
            raw = await read_body(request, settings.max_body_bytes) if op.has_body else b""
            call = Call(request, ctx, principal, rid, raw=raw)
            idem_key = (
                request.headers.get("idempotency-key") if op.honours_idempotency and principal else None
            )
            if idem_key is None:
                stored, extra = await self._run(call, raw)
            else:
                fingerprint = request_hash(request.method, request.url.path, raw)
                extra = {}

                async def work() -> StoredResponse:
                    out, more = await self._run(call, raw)
                    extra.update(more)
                    return out

                assert principal is not None
                stored = await ctx.idempotency.run(principal.account_id, idem_key, fingerprint, work)
            headers.update(extra)
            if stored.replayed:
                headers["Idempotent-Replayed"] = "true"
            return stored.status, stored.body, headers
        except Exception as exc:
            response = self.error_response(exc, rid)
            return response.status_code, bytes(response.body), {**_extra_headers(response), **headers}


class PathEndpoint:
    """The ASGI app of one path: the operation of the request's method, or 405 with the path's Allow.

    One route per path (not one per operation) so that a method the path does not have is answered 405
    with every method it does have, before any authentication; HEAD is answered as GET without a body.
    """

    def __init__(self, endpoints: Mapping[str, Endpoint]) -> None:
        self.endpoints = dict(endpoints)
        if "GET" in self.endpoints:
            self.endpoints.setdefault("HEAD", self.endpoints["GET"])
        self.allow = ", ".join(
            m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE") if m in self.endpoints
        )
        self.error_response = next(iter(self.endpoints.values())).error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.endpoints.get(scope["method"])
        if endpoint is not None:
            await endpoint(scope, receive, send)
            return
        rid = assign_request_id(scope)
        response = self.error_response(
            ApiError(405, "METHOD_NOT_ALLOWED", f"{scope['method']} is not allowed here",
                     {"allowed": self.allow.split(", ")}, headers={"Allow": self.allow}),
            rid,
        )  # fmt: skip
        await response(scope, receive, send)
