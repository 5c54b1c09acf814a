"""`/api/v1/...`: one prefix claimed by two documents, shared by credential.

The BulkSMSRates document (seed 001) shows its sandbox example under `/api/v1/...` and everything else
under `/v1/...`; the BulkAPIs document (seed 000) has its own `/api/v1/webhooks`, `/api/v1/api-keys`, ...
with `Authorization: Bearer bulk_ak_...` keys and another envelope. So a request under /api/v1/ goes to the
first surface that recognises its credential:

    seed 001: X-API-Key / X-API-Secret, `Authorization: Bearer <key>:<secret>`, or a Bearer JWT
              -> the same request at /v1/... (every seed-001 operation is served under both prefixes)
    seed 003: POST /api/v1/posts/bulk and /api/v1/posts/retry-failed, whatever the credential
              -> /v1/posts/bulk, /v1/posts/retry-failed (the PostEverywhere document shows /api/v1, its
              bulk section /v1; both are served, by the same operations)
    anything else: falls through to the app unchanged: the BulkAPIs surface (seed 000) is served at
              /api/v1/... itself, for `Authorization: Bearer bulk_ak_...` (http_api/bulkapis/)

This module only chooses and rewrites the path: it never authenticates (the chosen surface does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/api/v1/"
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def seed001_credentials(scope: Scope) -> bool:
    """True when the request carries a credential of the BulkSMSRates document."""
    if _header(scope, b"x-api-key") is not None or _header(scope, b"x-api-secret") is not None:
        return True
    authorization = _header(scope, b"authorization") or ""
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return scheme.lower() == "bearer" and (":" in token or bool(_JWT.match(token)))


@dataclass(frozen=True)
class Surface:
    name: str
    claims: Callable[[Scope], bool]
    rewrite_to: str  # the prefix the request is served under, e.g. "/v1/"
    by_path: bool = False  # claims exact paths: ahead of the paths another surface serves at /api/v1


SEED001 = Surface("bulksmsrates", seed001_credentials, "/v1/")

# /v1 paths that both seed 001 and seed 004 name, with other bodies: a request carrying a seed-004 key
# (`Authorization: Bearer sapi_key_...`) is served by seed 004's operation, mounted at its own path.
SEED004_SHARED = {"/v1/billing/checkout": "/v1/social-api/billing/checkout"}


def seed004_credentials(scope: Scope) -> bool:
    authorization = _header(scope, b"authorization") or ""
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and token.strip().startswith("sapi_key_")


_SEED003_PATHS = frozenset({PREFIX + "posts/bulk", PREFIX + "posts/retry-failed"})


def seed003_path(scope: Scope) -> bool:
    """The PostEverywhere bulk operations: claimed by path (its keys are any of the key store's)."""
    return scope["path"] in _SEED003_PATHS


SEED003 = Surface("posteverywhere", seed003_path, "/v1/", by_path=True)


class ApiV1Dispatcher:
    """ASGI middleware: a /api/v1/ request claimed by a surface is served at that surface's prefix."""

    def __init__(
        self,
        app: ASGIApp,
        surfaces: Sequence[Surface] = (SEED003, SEED001),
        native: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.surfaces = tuple(surfaces)
        # Paths a document serves at /api/v1 itself (the BulkAPIs surface's, `{param}` templates): such a
        # path is that document's whatever the credential, never rewritten (a seed-001 key there gets
        # that surface's 401, a method it lacks its 405).
        self._native = re.compile(
            "|".join(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(p)) for p in native) or r"(?!)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        shared = SEED004_SHARED.get(scope["path"]) if scope["type"] == "http" else None
        if shared is not None and seed004_credentials(scope):
            scope = {**scope, "path": shared, "raw_path": shared.encode()}
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            native = self._native.fullmatch(scope["path"]) is not None
            for surface in self.surfaces:
                if (surface.by_path or not native) and surface.claims(scope):
                    path = surface.rewrite_to + scope["path"][len(PREFIX) :]
                    scope = {**scope, "path": path, "raw_path": path.encode()}
                    break
        await self.app(scope, receive, send)
