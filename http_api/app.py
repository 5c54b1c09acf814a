"""`create_app(engine, redis) -> Starlette`: the HTTP API in front of a running engine.

The app is assembled from route modules, each exposing `OPERATIONS: list[Operation]` (see
operations.py). To add endpoints (campaigns, contacts, templates, reports, webhooks ...), write a module
`http_api/routes_<thing>.py` with its Structs, handlers and OPERATIONS, and append it to `ROUTE_MODULES`:
authentication, permissions, rate limiting, body limits, idempotency, the error envelope, request ids and
the OpenAPI document (GET /openapi.json, GET /docs) come with it. Beside the API: /healthz, /readyz and
/metrics (health.py), and the operator dashboard under /dashboard (dashboard/).

Every response carries X-Request-Id (the client's, when it sent a sane one). Unknown paths and methods
answer with the same error envelope as everything else.

The app owns no engine: the caller starts the engine first and stops the server (http_api.server)
before stopping the engine. This module must never start or stop anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import anyio
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.app import Engine
from engine.infra.settings import HttpSettings
from http_api import (
    docs,
    health,
    routes_auth,
    routes_billing,
    routes_bulk,
    routes_campaigns,
    routes_contacts,
    routes_keys,
    routes_payments,
    routes_reports,
    routes_sandbox,
    routes_settings,
    routes_sms,
    routes_sms_retry,
    routes_tags,
    routes_templates,
    routes_webhooks,
    routes_whatsapp,
)
from http_api.auth import Authenticator
from http_api.bulkapis import routes_keys as bulkapis_keys
from http_api.bulkapis import routes_social as bulkapis_social
from http_api.bulkapis import routes_usage as bulkapis_usage
from http_api.bulkapis import routes_webhooks as bulkapis_webhooks
from http_api.dashboard.routes import routes as dashboard_routes
from http_api.errors import envelope
from http_api.idempotency import IdempotencyStore
from http_api.openapi import openapi_document
from http_api.operations import (
    ApiContext,
    Endpoint,
    Operation,
    PathEndpoint,
    assign_request_id,
    request_id_of,
)
from http_api.posteverywhere import routes_posts as posteverywhere_posts
from http_api.ratelimit import RateLimiter
from http_api.social_api import routes_accounts as social_accounts
from http_api.social_api import routes_billing as social_billing
from http_api.social_api import routes_brands as social_brands
from http_api.social_api import routes_exports as social_exports
from http_api.social_api import routes_inbox as social_inbox
from http_api.social_api import routes_media as social_media
from http_api.social_api import routes_posts as social_posts
from http_api.social_api import routes_tools as social_tools
from http_api.social_api import routes_whatsapp as social_whatsapp
from http_api.surfaces import ApiV1Dispatcher
from http_api.xquik import mount as xquik

# Order matters where paths overlap: /v1/contacts/tags before /v1/contacts/{id}.
ROUTE_MODULES: tuple[ModuleType, ...] = (
    routes_sms, routes_bulk, routes_billing, routes_payments, routes_keys, routes_webhooks, routes_settings,
    routes_reports, routes_templates, routes_campaigns, routes_tags, routes_contacts, routes_sandbox,
    routes_auth, routes_whatsapp,
    # seed 004 (social-api) under /v1: its paths are its own (none is seed 001's), its errors its envelope
    social_accounts, social_posts, social_inbox, social_tools,
    social_brands, social_media, social_exports, social_billing, social_whatsapp,
    # seed 000 (BulkAPIs) at /api/v1, seed 003's bulk posts, SMS retry-failed
    bulkapis_keys, bulkapis_webhooks, bulkapis_usage, bulkapis_social, posteverywhere_posts, routes_sms_retry,
    # seed 002 (Xquik) under its own prefix /xquik/api/v1 (http_api/xquik/mount.py)
    *xquik.ROUTE_MODULES,
)  # fmt: skip

_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


class RequestIdMiddleware:
    """Give every request an id (or keep the client's) and echo it on the response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = (b"x-request-id", assign_request_id(scope).encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name == b"x-request-id" for name, _ in headers):  # an Endpoint set it already
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class ApiApp(Starlette):
    """Starlette, with a direct path to the operations whose path has no parameter.

    Those (send, bulk, preview, lists ...) carry the traffic; their Endpoint already does everything the
    middleware stack would (error envelope, request id), so an exact (method, path) match skips it:
    on a 2-core machine the router and three middleware layers cost about a fifth of a send's CPU.
    """

    fast: dict[tuple[str, str], Endpoint]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.fast.get((scope["method"], scope["path"]))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def operations_of(modules: Sequence[ModuleType]) -> list[Operation]:
    out: list[Operation] = []
    for module in modules:
        out.extend(module.OPERATIONS)
    return out


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "VALIDATION_ERROR")
    message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
    return envelope(exc.status_code, code, message, request_id_of(request), headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return envelope(500, "INTERNAL_ERROR", "unexpected server error", request_id_of(request))


def create_app(
    engine: Engine,
    redis: aioredis.Redis,
    *,
    prefix: str | None = None,
    settings: HttpSettings | None = None,
    modules: Sequence[ModuleType] = ROUTE_MODULES,
) -> ASGIApp:
    """The API for `engine`; `prefix` (default settings.redis.prefix) namespaces its Redis keys."""
    http = settings or engine.settings.http
    key_prefix = engine.settings.redis.prefix if prefix is None else prefix
    identity = engine.identity
    assert identity is not None, "Engine.start() sets engine.identity"
    ctx = ApiContext(
        engine=engine,
        redis=redis,
        prefix=key_prefix,
        settings=http,
        auth=Authenticator(engine.pool, identity, engine.settings.auth),
        limiter=RateLimiter(redis, key_prefix),
        idempotency=IdempotencyStore(engine.pool),
    )
    operations = operations_of(modules)
    document = openapi_document(operations)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    endpoints = [(op, Endpoint(op, ctx)) for op in operations]
    by_path: dict[str, dict[str, Endpoint]] = {}
    for op, e in endpoints:
        by_path.setdefault(op.path, {})[op.method] = e
    # One route per path: a method the path lacks is a 405 naming all the methods it has (PathEndpoint).
    # Literal paths first, then by how many parameters: /v1/sms/bulk is never read as /v1/sms/{id}.
    ordered = sorted(by_path.items(), key=lambda item: item[0].count("{"))
    routes: list[Any] = [Route(path, PathEndpoint(methods)) for path, methods in ordered]
    routes += xquik.routes()  # the rest of /xquik/api/v1: that document's 404
    routes += [Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False)]
    routes += docs.routes(document["info"]["title"])
    routes += health.routes(engine, redis, metrics_token=engine.settings.metrics.token)
    closing = anyio.Event()  # set by http_api.server when it stops: live dashboard streams end at once
    routes += dashboard_routes(engine, closing=closing)
    app = ApiApp(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
    )
    app.add_middleware(RequestIdMiddleware)
    app.fast = {(op.method, op.path): e for op, e in endpoints if "{" not in op.path}
    app.state.ctx = ctx
    app.state.closing = closing
    return ApiV1App(app, [p for p in by_path if p.startswith("/api/v1/")])


class ApiV1App(ApiV1Dispatcher):
    """The app behind the /api/v1 dispatcher, still reachable as `.inner` (its state, its routes)."""

    def __init__(self, inner: ApiApp, native: Sequence[str] = ()) -> None:
        super().__init__(inner, native=native)
        self.inner = inner
        self.state = inner.state
