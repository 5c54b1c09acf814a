"""Who is calling: API key authentication, permissions and the sandbox switch.

Credentials come in either of two forms (both documented in /docs):

    X-API-Key: sk_live_...            and  X-API-Secret: <secret>
    Authorization: Bearer sk_live_...:<secret>     (key and secret joined by one colon)

The key is looked up in `api_keys` (kept in memory for `http.auth_cache_seconds`; a revocation made
through this process drops the entry at once), and the HMAC of the presented secret is compared with the
stored one in constant time. A test key (`sk_test_`) or the header `X-Sandbox: true` makes the request a
sandbox one: messages are stored as delivered, never reach a carrier and are never charged.

This module must never log or store a secret, and never tells a caller whether a key exists.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable

import asyncpg
import msgspec
from starlette.requests import Request

from engine.admin.provision import api_secret_hash
from http_api.errors import ApiError

PERMISSIONS = (
    "sms.send", "sms.read", "billing.read", "billing.write", "reports.read", "keys.manage", "webhooks.manage",
    "templates.manage", "contacts.read", "contacts.write", "campaigns.read", "campaigns.write",
    "campaigns.approve", "settings.manage", "billing.topup", "*",
)  # fmt: skip
# Granted only by name, never by "*": topping up creates money, so a customer's everyday "*" key must not;
# approving a campaign is the account admin's (or the operator's) word, not any sender's.
# Keys holding them are issued by the operator (CLI / provisioning); the API never mints one.
OPERATOR_PERMISSIONS = frozenset({"billing.write", "campaigns.approve"})

_KEY_SQL = """SELECT key, account_id, secret_hash, live, permissions, revoked_at, rate_limit, rate_burst
FROM api_keys WHERE key = $1"""


class ApiKey(msgspec.Struct, frozen=True):
    """A stored key as the API needs it (no secret: only its hash)."""

    key: str
    account_id: int
    secret_hash: str
    live: bool
    permissions: frozenset[str]
    revoked: bool
    rate_limit: float | None
    rate_burst: int | None


class Principal(msgspec.Struct, frozen=True):
    """The authenticated caller of one request."""

    key: ApiKey
    sandbox: bool

    @property
    def account_id(self) -> int:
        return self.key.account_id

    def allows(self, permission: str) -> bool:
        perms = self.key.permissions
        return permission in perms or ("*" in perms and permission not in OPERATOR_PERMISSIONS)

    def require(self, permission: str | None) -> None:
        if permission is not None and not self.allows(permission):
            raise ApiError(403, "FORBIDDEN", f"this API key lacks the {permission!r} permission")


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": 'Bearer realm="smsengine"'})


def credentials_of(request: Request) -> tuple[str, str]:
    headers = request.headers
    key, secret = headers.get("x-api-key"), headers.get("x-api-secret")
    if key is not None or secret is not None:
        if not key or not secret:
            raise _unauthorized("both X-API-Key and X-API-Secret are required")
        return key, secret
    authorization = headers.get("authorization")
    if authorization is None:
        raise _unauthorized("missing credentials: X-API-Key and X-API-Secret, or Authorization: Bearer")
    scheme, _, token = authorization.partition(" ")
    key, sep, secret = token.strip().partition(":")
    if scheme.lower() != "bearer" or not sep or not key or not secret:
        raise _unauthorized("Authorization must be 'Bearer <key>:<secret>'")
    return key, secret


def is_sandbox_header(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "yes")


class Authenticator:
    def __init__(self, pool: asyncpg.Pool, *, cache_seconds: float) -> None:
        self._pool = pool
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    async def lookup(self, key: str) -> ApiKey | None:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = await self._pool.fetchrow(_KEY_SQL, key) if len(key) <= 64 else None
        found = None
        if row is not None:
            found = ApiKey(
                key=row["key"],
                account_id=row["account_id"],
                secret_hash=row["secret_hash"],
                live=row["live"],
                permissions=frozenset(row["permissions"]),
                revoked=row["revoked_at"] is not None,
                rate_limit=row["rate_limit"],
                rate_burst=row["rate_burst"],
            )
        if len(self._cache) > 100_000:  # unknown keys must not grow memory without bound
            self._cache.clear()
        self._cache[key] = (now + self._ttl, found)
        return found

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._cache.pop(key, None)

    async def authenticate(self, request: Request) -> Principal:
        key, secret = credentials_of(request)
        found = await self.lookup(key)
        # The hash is computed even for an unknown key, so the answer takes the same time either way.
        presented = api_secret_hash(secret)
        if found is None or not hmac.compare_digest(presented, found.secret_hash) or found.revoked:
            raise _unauthorized("invalid or revoked API key")
        sandbox = not found.live or is_sandbox_header(request.headers.get("x-sandbox"))
        return Principal(found, sandbox)
