"""Seed 004 Brands, Invites, OAuth redirect URIs and Users (tables of engine/migrations/0140).

GET|POST /v1/brands, PATCH|DELETE /v1/brands/{id}     a brand's connected accounts are counted;
                                                       deleting it leaves them to the workspace
GET|POST /v1/invites, DELETE /v1/invites/{id}         the token is shown once (only its SHA-256 kept)
GET|POST /v1/oauth/redirect-uris, DELETE .../{id}     the URIs POST /accounts/connect may name
GET|PATCH|DELETE /v1/users/me                         the signed-in user; with an API key, the
                                                       workspace's owner
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
from msgspec import Meta

from http_api.operations import Call, Operation, Reply
from http_api.schemas import Request
from http_api.social_api.common import HttpUrl, fail, operation, rfc3339, social

Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
Text = Annotated[str, Meta(max_length=1000, pattern=r"^[^\x00]*$")]
Email = Annotated[str, Meta(max_length=254, pattern=r"^$|^[^@\x00-\x20]+@[^@\x00-\x20]+\.[^@\x00-\x20]+$")]


class BrandCreate(Request, frozen=True):
    name: Name
    description: Text = ""


class BrandPatch(Request, frozen=True):
    name: Name | None = None
    description: Text | None = None


class InviteCreate(Request, frozen=True):
    brand_id: Annotated[int, Meta(ge=1, le=2**63 - 1)]
    email: Email = ""
    role: Literal["admin", "member"] = "member"
    expires_in_hours: Annotated[int, Meta(ge=1, le=24 * 30)] = 24 * 7


class RedirectUriCreate(Request, frozen=True):
    uri: HttpUrl


class UserPatch(Request, frozen=True):
    name: Annotated[str, Meta(max_length=200, pattern=r"^[^\x00-\x1f]*$")]


def _int(call: Call, name: str = "id") -> int:
    raw = call.path(name)
    return int(raw) if raw.isdigit() and len(raw) < 19 else -1


# ------------------------------------------------------------------------------------------ brands

_BRAND = """SELECT b.*, (SELECT count(*) FROM social_accounts s
                        WHERE s.brand_id = b.id AND s.state <> 'disconnected') AS accounts
FROM social_brands b"""


def _brand_view(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "name": r["name"],
        "description": r["description"],
        "account_count": r["accounts"],
        "created_at": rfc3339(r["created_at"]),
        "updated_at": rfc3339(r["updated_at"]),
    }


async def owned_brand(call: Call, brand_id: int) -> Any:
    row = await call.ctx.pool.fetchrow(
        _BRAND + " WHERE b.id = $1 AND b.account_id = $2", brand_id, call.account_id
    )
    if row is None:
        raise fail(404, "brand.not_found", "no such brand")
    return row


async def owned_brand_ref(call: Call, raw: str) -> Any:
    """The caller's brand named by a path's text (404 brand.not_found otherwise)."""
    return await owned_brand(call, int(raw) if raw.isdigit() and len(raw) < 19 else -1)


async def list_brands(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(_BRAND + " WHERE b.account_id = $1 ORDER BY b.id", call.account_id)
    return Reply(200, {"data": [_brand_view(r) for r in rows]})


async def create_brand(call: Call) -> Reply:
    body = call.body_as(BrandCreate)
    brand_id = await call.ctx.pool.fetchval(
        "INSERT INTO social_brands (account_id, name, description) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING id",
        call.account_id,
        body.name,
        body.description,
    )
    if brand_id is None:
        raise fail(409, "brand.already_exists", "a brand of that name exists", field="name")
    return Reply(201, _brand_view(await owned_brand(call, brand_id)))


async def patch_brand(call: Call) -> Reply:
    current = await owned_brand(call, _int(call))
    body = call.body_as(BrandPatch)
    try:
        await call.ctx.pool.execute(
            "UPDATE social_brands SET name = $2, description = $3, updated_at = now() WHERE id = $1",
            current["id"],
            body.name if body.name is not None else current["name"],
            body.description if body.description is not None else current["description"],
        )
    except asyncpg.UniqueViolationError:
        raise fail(409, "brand.already_exists", "a brand of that name exists", field="name") from None
    return Reply(200, _brand_view(await owned_brand(call, current["id"])))


async def delete_brand(call: Call) -> Reply:
    brand = await owned_brand(call, _int(call))
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        # the brand's own app credentials go with it; its accounts stay, the workspace's
        await conn.execute(
            "DELETE FROM social_app_credentials WHERE account_id = $1 AND brand = $2",
            call.account_id,
            str(brand["id"]),
        )
        await conn.execute("DELETE FROM social_brands WHERE id = $1", brand["id"])
    return Reply(204, b"")


# ----------------------------------------------------------------------------------------- invites


def _invite_view(r: Any, token: str | None = None) -> dict[str, Any]:
    out = {
        "id": r["id"],
        "brand_id": r["brand_id"],
        "email": r["email"] or None,
        "role": r["role"],
        "expired": r["expires_at"] <= datetime.now(UTC),
        "created_at": rfc3339(r["created_at"]),
        "expires_at": rfc3339(r["expires_at"]),
    }
    if token is not None:
        out["token"] = token
    return out


async def list_invites(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        "SELECT * FROM social_invites WHERE account_id = $1 ORDER BY id", call.account_id
    )
    return Reply(200, {"data": [_invite_view(r) for r in rows]})


async def create_invite(call: Call) -> Reply:
    body = call.body_as(InviteCreate)
    await owned_brand(call, body.brand_id)
    token = "inv_" + secrets.token_urlsafe(24)
    row = await call.ctx.pool.fetchrow(
        "INSERT INTO social_invites (account_id, brand_id, email, role, token_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        call.account_id,
        body.brand_id,
        body.email,
        body.role,
        hashlib.sha256(token.encode()).digest(),
        datetime.now(UTC) + timedelta(hours=body.expires_in_hours),
    )
    return Reply(201, _invite_view(row, token))


async def delete_invite(call: Call) -> Reply:
    done = await call.ctx.pool.fetchval(
        "DELETE FROM social_invites WHERE id = $1 AND account_id = $2 RETURNING id",
        _int(call),
        call.account_id,
    )
    if done is None:
        raise fail(404, "invite.not_found", "no such invite")
    return Reply(204, b"")


# ------------------------------------------------------------------------------ OAuth redirect URIs


def _uri_view(r: Any) -> dict[str, Any]:
    return {"id": r["id"], "uri": r["uri"], "created_at": rfc3339(r["created_at"])}


async def list_redirect_uris(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        "SELECT * FROM social_redirect_uris WHERE account_id = $1 ORDER BY id", call.account_id
    )
    return Reply(200, {"data": [_uri_view(r) for r in rows]})


async def create_redirect_uri(call: Call) -> Reply:
    body = call.body_as(RedirectUriCreate)
    row = await call.ctx.pool.fetchrow(
        "INSERT INTO social_redirect_uris (account_id, uri) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING RETURNING *",
        call.account_id,
        body.uri,
    )
    if row is None:
        raise fail(409, "redirect_uri.already_exists", "that URI is listed already", field="uri")
    return Reply(201, _uri_view(row))


async def delete_redirect_uri(call: Call) -> Reply:
    done = await call.ctx.pool.fetchval(
        "DELETE FROM social_redirect_uris WHERE id = $1 AND account_id = $2 RETURNING id",
        _int(call),
        call.account_id,
    )
    if done is None:
        raise fail(404, "redirect_uri.not_found", "no such redirect URI")
    return Reply(204, b"")


async def redirect_uri_allowed(pool: Any, account_id: int, uri: str) -> bool:
    """True when the workspace lists no URI, or lists this one."""
    listed = await pool.fetch("SELECT uri FROM social_redirect_uris WHERE account_id = $1", account_id)
    return not listed or uri in {r["uri"] for r in listed}


# --------------------------------------------------------------------- brand-scoped connected accounts


async def connect_app(call: Call, brand_id: int | None, redirect_uri: str) -> Any:
    """Before a connect starts: the redirect URI must be whitelisted (when the workspace lists any), the
    brand the caller's; the brand's own BYOK app is used when it has one, else the workspace's."""
    if not await redirect_uri_allowed(call.ctx.pool, call.account_id, redirect_uri):
        # refused by the workspace's whitelist (its state), not by the request's shape: 422
        raise fail(
            422,
            "oauth.redirect_uri_not_allowed",
            "redirect_uri is not in the workspace's whitelist",
            field="redirect_uri",
        )
    store = social(call).store
    if brand_id is not None:
        await owned_brand(call, brand_id)
        app = await store.find_app_credentials(call.account_id, "x", brand=str(brand_id))
        if app is not None:
            return app
    return await store.find_app_credentials(call.account_id, "x")


async def remember_brand(call: Call, state: str, brand_id: int | None) -> None:
    if brand_id is not None:
        await call.ctx.pool.execute(
            "UPDATE social_oauth_states SET brand_id = $2 WHERE state = $1", state, brand_id
        )


async def finish_connect(call: Call, state: str, code: str) -> dict[str, Any]:
    """Exchange the code of the authorization `state` (the state is the proof of who started it); the
    account joins the brand the connect named."""
    from http_api.social_api.routes_accounts import account_view  # it imports this module

    layer = social(call)
    brand_id = await call.ctx.pool.fetchval(
        "SELECT brand_id FROM social_oauth_states WHERE state = $1", state
    )
    record = await layer.x_oauth.complete(layer.store, layer.x, state=state, code=code)
    await call.ctx.pool.execute(
        "UPDATE social_accounts SET brand_id = $2 WHERE id = $1", record.account.id, brand_id
    )
    return account_view(record) | {"brand_id": brand_id}


async def account_brands(pool: Any, account_id: int) -> dict[int, int]:
    """Connected account id -> its brand, for the accounts that belong to one."""
    rows = await pool.fetch(
        "SELECT id, brand_id FROM social_accounts WHERE account_id = $1 AND brand_id IS NOT NULL", account_id
    )
    return {r["id"]: r["brand_id"] for r in rows}


# ------------------------------------------------------------------------------------------- users

_USER = "SELECT id, account_id, email, name, role, email_verified, created_at, updated_at FROM users"


async def _me(call: Call) -> Any:
    p = call.principal
    if p.user is not None:
        row = await call.ctx.pool.fetchrow(_USER + " WHERE id = $1 AND disabled_at IS NULL", p.user.user_id)
    else:
        row = await call.ctx.pool.fetchrow(
            _USER
            + " WHERE account_id = $1 AND role = 'owner' AND disabled_at IS NULL ORDER BY created_at LIMIT 1",
            call.account_id,
        )
    if row is None:
        raise fail(404, "user.not_found", "no user behind these credentials")
    return row


def _user_view(r: Any) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "email": r["email"],
        "name": r["name"],
        "role": r["role"],
        "email_verified": r["email_verified"],
        "workspace_id": r["account_id"],
        "created_at": rfc3339(r["created_at"]),
        "updated_at": rfc3339(r["updated_at"]),
    }


async def get_me(call: Call) -> Reply:
    return Reply(200, _user_view(await _me(call)))


async def patch_me(call: Call) -> Reply:
    me = await _me(call)
    body = call.body_as(UserPatch)
    await call.ctx.pool.execute(
        "UPDATE users SET name = $2, updated_at = now() WHERE id = $1", me["id"], body.name
    )
    return Reply(200, _user_view(await _me(call)))


async def delete_me(call: Call) -> Reply:
    """The user is disabled and signed out everywhere, through the identity service's own revocation
    (rows stay, as the identity service keeps them)."""
    if call.principal.user is None and not call.principal.allows("settings.manage"):
        # a signed-in user may always delete themselves; a key deletes the owner only if it manages settings
        raise fail(403, "auth.forbidden", "this key lacks the 'settings.manage' permission")
    me = await _me(call)
    identity = call.ctx.engine.identity
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE users SET disabled_at = now(), updated_at = now() WHERE id = $1", me["id"])
        if identity is not None:
            await identity.sessions.revoke_all(conn, str(me["id"]), "user deleted")
    if identity is not None:
        identity.revocations.wake()
    return Reply(204, b"")


def _op(
    method: str, path: str, handler: Any, summary: str, permission: str, tag: str, **more: Any
) -> Operation:
    return operation(method, path, handler, summary, permission, tag, **more)


_S = "settings.manage"
OPERATIONS = [
    _op("GET", "/v1/brands", list_brands, "List brands", "social.read", "Brands"),
    _op("POST", "/v1/brands", create_brand, "Create a brand", _S, "Brands", body=BrandCreate, ok=201),
    _op("PATCH", "/v1/brands/{id}", patch_brand, "Update a brand", _S, "Brands", body=BrandPatch),
    _op("DELETE", "/v1/brands/{id}", delete_brand, "Delete a brand", _S, "Brands", ok=204),
    _op("GET", "/v1/invites", list_invites, "List brand invites", _S, "Invites"),
    _op(
        "POST",
        "/v1/invites",
        create_invite,
        "Create a brand invite (token shown once)",
        _S,
        "Invites",
        body=InviteCreate,
        ok=201,
    ),
    _op("DELETE", "/v1/invites/{id}", delete_invite, "Revoke a brand invite", _S, "Invites", ok=204),
    _op(
        "GET",
        "/v1/oauth/redirect-uris",
        list_redirect_uris,
        "List OAuth redirect URIs",
        _S,
        "OAuth redirect URIs",
    ),
    _op(
        "POST",
        "/v1/oauth/redirect-uris",
        create_redirect_uri,
        "Allow an OAuth redirect URI",
        _S,
        "OAuth redirect URIs",
        body=RedirectUriCreate,
        ok=201,
    ),
    _op(
        "DELETE",
        "/v1/oauth/redirect-uris/{id}",
        delete_redirect_uri,
        "Remove an OAuth redirect URI",
        _S,
        "OAuth redirect URIs",
        ok=204,
    ),
    _op("GET", "/v1/users/me", get_me, "The user profile", "social.read", "Users"),
    _op("PATCH", "/v1/users/me", patch_me, "Update the user profile", "social.read", "Users", body=UserPatch),
    _op("DELETE", "/v1/users/me", delete_me, "Delete the user", "social.read", "Users", ok=204),
]
