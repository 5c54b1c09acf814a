"""Sessions (one per sign-in) and the rotation of their refresh tokens; what an access token stands for.

A sign-in opens a session and issues its first refresh token (its jti recorded). Refreshing, in one
transaction under the token's row lock: a token never used before is marked used and replaced by a new
one (7 days again) with a new access token; a token already used means it was copied — the whole
session (the family of tokens rotated from one sign-in) is revoked, and the caller is refused. Two
concurrent refreshes with one token are such a reuse too: one wins, then the session ends.

An access token is only as good as its session: `state(sid)` answers whether the session still holds
and for whom (user, account, role), from a cache that the revocation feed empties by name when a session
is revoked or a user changed, on every process within a poll interval.

This module must never issue a refresh token it has not recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from engine.identity.cache import ExpiringCache
from engine.identity.errors import InvalidToken
from engine.identity.tokens import IssuedToken, RefreshClaims, TokenIssuer
from engine.identity.users import Conn


@dataclass(frozen=True)
class SessionState:
    session_id: str
    user_id: str
    account_id: int
    role: str
    email: str
    active: bool


@dataclass(frozen=True)
class TokenPair:
    access: IssuedToken
    refresh: IssuedToken
    session_id: str
    user_id: str


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class Sessions:
    def __init__(
        self,
        pool: asyncpg.Pool,
        tokens: TokenIssuer,
        cache: ExpiringCache[str, SessionState],
        revocations_seen: Callable[[], int],
    ) -> None:
        self._pool = pool
        self._tokens = tokens
        self._cache = cache
        self._seen = revocations_seen  # the revocation feed's position: see state()

    def on_revoked(self, kind: str, subject: str) -> None:
        if kind == "session":
            self._cache.drop(subject)
        elif kind == "user":
            self._cache.drop_where(lambda _, state: state.user_id == subject)

    async def _issue(self, conn: Conn, user_id: str, session_id: str, account_id: int) -> TokenPair:
        refresh = self._tokens.refresh(user_id, session_id)
        await conn.execute(
            "INSERT INTO refresh_tokens (jti, session_id, expires_at) VALUES ($1::uuid, $2::uuid, $3)",
            refresh.jti,
            session_id,
            _at(refresh.expires_at),
        )
        return TokenPair(self._tokens.access(user_id, session_id, account_id), refresh, session_id, user_id)

    async def open(self, conn: Conn, user_id: str, account_id: int) -> TokenPair:
        """A new session for a user who just proved who they are, in the caller's transaction."""
        session_id = await conn.fetchval(
            "INSERT INTO user_sessions (user_id) VALUES ($1::uuid) RETURNING id::text", user_id
        )
        return await self._issue(conn, user_id, session_id, account_id)

    async def rotate(self, refresh_token: str) -> TokenPair:
        claims = self._tokens.decode_refresh(refresh_token)
        reused = False
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT t.used_at, s.revoked_at, s.user_id::text AS user_id, u.account_id, u.disabled_at
                   FROM refresh_tokens t JOIN user_sessions s ON s.id = t.session_id
                   JOIN users u ON u.id = s.user_id
                   WHERE t.jti = $1::uuid AND t.session_id = $2::uuid FOR UPDATE OF t, s""",
                claims.jti,
                claims.session_id,
            )
            if row is None or row["revoked_at"] is not None or row["disabled_at"] is not None:
                raise InvalidToken("the refresh token has been revoked")
            if row["user_id"] != claims.user_id:
                raise InvalidToken("the token is not valid")
            if row["used_at"] is not None:
                await self._revoke(conn, claims.session_id, "refresh token reused")
                reused = True
            else:
                await conn.execute(
                    "UPDATE refresh_tokens SET used_at = now() WHERE jti = $1::uuid", claims.jti
                )
                await conn.execute(
                    "UPDATE user_sessions SET last_used_at = now() WHERE id = $1::uuid", claims.session_id
                )
                return await self._issue(conn, claims.user_id, claims.session_id, row["account_id"])
        assert reused
        raise InvalidToken("the refresh token was already used: the session is revoked, sign in again")

    async def _revoke(self, conn: Conn, session_id: str, reason: str) -> bool:
        status = await conn.execute(
            "UPDATE user_sessions SET revoked_at = now(), revoked_reason = $2 "
            "WHERE id = $1::uuid AND revoked_at IS NULL",
            session_id,
            reason,
        )
        self._cache.drop(session_id)
        return status.endswith(" 1")

    async def revoke(self, session_id: str, reason: str) -> bool:
        async with self._pool.acquire() as conn:
            return await self._revoke(conn, session_id, reason)

    async def revoke_by_refresh(self, refresh_token: str, reason: str) -> RefreshClaims:
        """Logout with a refresh token: its session ends (expired tokens may still log out)."""
        claims = self._tokens.decode_refresh(refresh_token, expired_ok=True)
        await self.revoke(claims.session_id, reason)
        return claims

    async def revoke_all(self, conn: Conn, user_id: str, reason: str, *, keep: str | None = None) -> None:
        """End every session of a user (but `keep`), in the caller's transaction."""
        await conn.execute(
            "UPDATE user_sessions SET revoked_at = now(), revoked_reason = $3 "
            "WHERE user_id = $1::uuid AND revoked_at IS NULL AND id IS DISTINCT FROM $2::uuid",
            user_id,
            keep,
            reason,
        )
        self._cache.drop_where(lambda sid, state: state.user_id == user_id and sid != keep)

    async def state(self, session_id: str) -> SessionState | None:
        cached = self._cache.get(session_id)
        if cached is not None:
            return cached
        seen = self._seen()  # a revocation applied while we read may concern this row: then do not cache it
        row = await self._pool.fetchrow(
            """SELECT s.user_id::text AS user_id, s.revoked_at IS NULL AND u.disabled_at IS NULL AS active,
                      u.account_id, u.role, u.email
               FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1::uuid""",
            session_id,
        )
        if row is None:
            return None
        state = SessionState(
            session_id, row["user_id"], row["account_id"], row["role"], row["email"], row["active"]
        )
        if self._seen() == seen:
            self._cache.put(session_id, state)
        return state
