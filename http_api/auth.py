"""Who is calling: every kind of credential resolved to one `Principal`, and the sandbox switch.

Credentials come in any of three forms (all documented in /docs):

    X-API-Key: bsms_live_...          and  X-API-Secret: sk_live_...
    Authorization: Bearer bsms_live_...:sk_live_...   (key and secret joined by one colon)
    Authorization: Bearer eyJ...                       (an access token from /v1/auth/login: a user)
    Authorization: Bearer sapi_key_<key>.<secret>      (one token carrying both: seed 004's form,
                                                        minted by POST /v1/keys, the same key store)

API keys: secrets are stored as Argon2id hashes, slow to check on purpose. A verified (key, secret) pair
is kept in memory — as an HMAC of the secret under a key of this process, never the secret — for
`auth.key_cache_seconds`, at most `auth.key_cache_size` of them; a revocation, permission change or
deletion reaches every process through the revocation feed (engine/identity/revocations.py) within
`auth.revocation_poll_seconds`. Keys stored with the older HMAC hash verify too, and are re-hashed with
Argon2id at their first use.

Single-token keys (the BulkAPIs document's `Authorization: Bearer bulk_ak_...`): one opaque token, rows
of the same api_keys table (engine/admin/provision.py `create_token_key`) whose `key` is derived from
the token's SHA-256 and whose stored hash is that SHA-256 ("sha256:<hex>"): the document says so, and a
32-byte random token needs no slow hash. `token_of(request)` tells such a credential apart.

Users: the access token is verified (RS256) and its session checked (engine/identity/sessions.py); the
user's role gives the permissions. A test key (`bsms_test_`, or any key made as a test key) or the
header `X-Sandbox: true` makes the request a sandbox one: messages are stored as delivered, never reach
a carrier and are never charged.

This module must never log or store a secret or a token, and never tells a caller whether a key exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

import asyncpg
import msgspec
from starlette.requests import Request

from engine.admin.provision import TOKEN_PREFIXES, token_hash, token_key_id
from engine.identity.cache import ExpiringCache
from engine.identity.errors import InvalidToken
from engine.identity.hashing import hash_secret_async, verify_secret_async
from engine.identity.service import Identity
from engine.identity.sessions import SessionState
from engine.identity.tokens import looks_like_jwt
from engine.infra.settings import AuthSettings
from http_api.errors import ApiError

PERMISSIONS = (
    "sms.send", "sms.read", "billing.read", "billing.write", "reports.read", "keys.manage", "webhooks.manage",
    "templates.manage", "contacts.read", "contacts.write", "campaigns.read", "campaigns.write",
    "campaigns.approve", "settings.manage", "billing.topup", "whatsapp.send", "social.read", "social.write",
    "*",
)  # fmt: skip
# Granted only by name, never by "*": topping up creates money, so a customer's everyday "*" key must not;
# approving a campaign is the account admin's (or the operator's) word, not any sender's.
# Keys holding them are issued by the operator (CLI / provisioning); the API never mints one.
OPERATOR_PERMISSIONS = frozenset({"billing.write", "campaigns.approve"})

# What a signed-in user may do, by role (engine/identity/users.py): owners and admins run the account
# (and are the account admins who approve its campaigns), members send and read but manage no
# credentials or webhooks.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": frozenset({"*", "campaigns.approve"}),
    "admin": frozenset({"*", "campaigns.approve"}),
    "member": frozenset({
        "sms.send", "sms.read", "billing.read", "reports.read", "templates.manage", "contacts.read",
        "contacts.write", "campaigns.read", "campaigns.write", "whatsapp.send", "social.read", "social.write",
    }),
}  # fmt: skip

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
    """The authenticated caller of one request: an API key or a signed-in user, of one account."""

    account_id: int
    permissions: frozenset[str]
    live: bool
    sandbox: bool
    key: ApiKey | None = None
    user: SessionState | None = None

    @property
    def rate_subject(self) -> str:
        """The token bucket this caller draws from."""
        return self.key.key if self.key is not None else f"user:{self.user.user_id if self.user else '?'}"

    @property
    def rate_limit(self) -> float | None:
        return self.key.rate_limit if self.key is not None else None

    @property
    def rate_burst(self) -> int | None:
        return self.key.rate_burst if self.key is not None else None

    def allows(self, permission: str) -> bool:
        perms = self.permissions
        return permission in perms or ("*" in perms and permission not in OPERATOR_PERMISSIONS)

    def require(self, permission: str | None) -> None:
        if permission is not None and not self.allows(permission):
            who = "this API key lacks" if self.key is not None else "this user's role lacks"
            raise ApiError(403, "FORBIDDEN", f"{who} the {permission!r} permission")


def unauthorized(message: str, *, token_error: bool = False) -> ApiError:
    challenge = 'Bearer realm="smsengine"' + (', error="invalid_token"' if token_error else "")
    return ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": challenge})


SINGLE_TOKEN_PREFIX = "sapi_key_"


def single_token(key: str, secret: str) -> str:
    """An API key and its secret as one bearer token (seed 004's `sapi_key_...`)."""
    return f"{SINGLE_TOKEN_PREFIX}{key}.{secret}"


def credentials_of(request: Request) -> tuple[str, str] | str:
    """(key, secret) for an API key, or the access token (a JWT) of a user."""
    headers = request.headers
    key, secret = headers.get("x-api-key"), headers.get("x-api-secret")
    if key is not None or secret is not None:
        if not key or not secret:
            raise unauthorized("both X-API-Key and X-API-Secret are required")
        return key, secret
    authorization = headers.get("authorization")
    if authorization is None:
        raise unauthorized("missing credentials: X-API-Key and X-API-Secret, or Authorization: Bearer")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and looks_like_jwt(token):
        return token
    if scheme.lower() == "bearer" and token.startswith(SINGLE_TOKEN_PREFIX):
        key, sep, secret = token[len(SINGLE_TOKEN_PREFIX) :].partition(".")
        if not sep or not key or not secret:
            raise unauthorized("a sapi_key_ token is sapi_key_<key>.<secret>")
        return key, secret
    key, sep, secret = token.partition(":")
    if scheme.lower() != "bearer" or not sep or not key or not secret:
        raise unauthorized("Authorization must be 'Bearer <access token>' or 'Bearer <key>:<secret>'")
    return key, secret


def token_of(request: Request) -> str | None:
    """The single-token key of `Authorization: Bearer bulk_ak_...`, if that is the credential sent."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token.startswith(TOKEN_PREFIXES) and ":" not in token:
        return token
    return None


def is_sandbox_header(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "yes")


class Authenticator:
    def __init__(self, pool: asyncpg.Pool, identity: Identity, settings: AuthSettings) -> None:
        self._pool = pool
        self._identity = identity
        # key -> (HMAC of the verified secret under this process' own key, the key's row)
        self._verified: ExpiringCache[str, tuple[bytes, ApiKey]] = ExpiringCache(
            settings.key_cache_size, settings.key_cache_seconds
        )
        self._pepper = secrets.token_bytes(32)
        identity.revocations.subscribe(self._on_revoked)

    def _on_revoked(self, kind: str, subject: str) -> None:
        if kind == "key":
            self._verified.drop(subject)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop keys at once on this process (others follow within a poll interval)."""
        for key in keys:
            self._verified.drop(key)
        self._identity.revocations.wake()

    async def lookup(self, key: str) -> ApiKey | None:
        row = await self._pool.fetchrow(_KEY_SQL, key) if len(key) <= 64 else None
        if row is None:
            return None
        return ApiKey(
            key=row["key"],
            account_id=row["account_id"],
            secret_hash=row["secret_hash"],
            live=row["live"],
            permissions=frozenset(row["permissions"]),
            revoked=row["revoked_at"] is not None,
            rate_limit=row["rate_limit"],
            rate_burst=row["rate_burst"],
        )

    async def verify_key(self, key: str, secret: str) -> ApiKey:
        digest = hmac.new(self._pepper, secret.encode(), hashlib.sha256).digest()
        cached = self._verified.get(key)
        if cached is not None and hmac.compare_digest(cached[0], digest):
            return cached[1]
        # A revocation applied while this check runs may concern the row read below: then it is not cached.
        seen = self._identity.revocations.seen
        found = await self.lookup(key)
        # An unknown key costs a (dummy) Argon2id check too, so the answer takes as long either way.
        ok, rehash = await verify_secret_async(secret, found.secret_hash if found else None)
        if found is None or not ok or found.revoked:
            raise unauthorized("invalid or revoked API key")
        if rehash:  # a hash from before Argon2id (or weaker parameters): replace it, same secret
            new_hash = await hash_secret_async(secret)
            await self._pool.execute(
                "UPDATE api_keys SET secret_hash = $3 WHERE key = $1 AND secret_hash = $2",
                key,
                found.secret_hash,
                new_hash,
            )
            found = msgspec.structs.replace(found, secret_hash=new_hash)
        if self._identity.revocations.seen == seen:
            self._verified.put(key, (digest, found))
        return found

    async def verify_token(self, token: str) -> ApiKey:
        """The key of a single-token credential (bulk_ak_...), or 401."""
        key = token_key_id(token)
        digest = hmac.new(self._pepper, token.encode(), hashlib.sha256).digest()
        cached = self._verified.get(key)
        if cached is not None and hmac.compare_digest(cached[0], digest):
            return cached[1]
        seen = self._identity.revocations.seen
        found = await self.lookup(key) if len(token) <= 128 else None
        if (
            found is None
            or found.revoked
            or not hmac.compare_digest(found.secret_hash.encode(), token_hash(token).encode())
        ):
            raise unauthorized("invalid or revoked API key")
        if self._identity.revocations.seen == seen:
            self._verified.put(key, (digest, found))
        return found

    def key_principal(self, found: ApiKey, request: Request) -> Principal:
        sandbox_header = is_sandbox_header(request.headers.get("x-sandbox"))
        return Principal(
            found.account_id, found.permissions, found.live, not found.live or sandbox_header, key=found
        )

    async def user_session(self, token: str) -> SessionState:
        try:
            return await self._identity.authenticate(token)
        except InvalidToken as exc:
            raise unauthorized(str(exc), token_error=True) from exc

    async def authenticate(self, request: Request) -> Principal:
        single = token_of(request)
        if single is not None:  # one key store: a bulk_ak_ key is the account's key on every surface
            return self.key_principal(await self.verify_token(single), request)
        credentials = credentials_of(request)
        sandbox_header = is_sandbox_header(request.headers.get("x-sandbox"))
        if isinstance(credentials, str):
            session = await self.user_session(credentials)
            permissions = ROLE_PERMISSIONS.get(session.role, frozenset())
            return Principal(session.account_id, permissions, True, sandbox_header, user=session)
        found = await self.verify_key(*credentials)
        return Principal(
            found.account_id, found.permissions, found.live, not found.live or sandbox_header, key=found
        )
