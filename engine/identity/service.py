"""`Identity`: sign-up, sign-in, tokens, passwords and Google sign-in, over the parts of engine/identity/.

    async with Identity.start(settings, pool) as identity:      (owned by engine.app.Engine)
        signed_in = await identity.login(email, password)
        session = await identity.authenticate(access_token)     # every Bearer JWT request

It owns the signing key, the token issuer, the session cache, the revocation feed (shared with the
API-key cache of the HTTP layer through `revocations.subscribe`), the mail sender and the OIDC client.
Every operation that changes who may do what runs in one transaction, and any mail it sends is queued
in that same transaction.

This module must never say whether an address has a user, except where the document's flows make it
plain (registration of a taken address answers CONFLICT).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import structlog

from engine.identity import mailed_tokens
from engine.identity.cache import ExpiringCache
from engine.identity.errors import InvalidCredentials, InvalidToken, SignupClosed
from engine.identity.hashing import hash_secret_async, verify_secret_async
from engine.identity.mailer import MailSender
from engine.identity.oidc import OidcClient
from engine.identity.revocations import RevocationFeed
from engine.identity.sessions import Sessions, SessionState, TokenPair
from engine.identity.signing_keys import load_signing_key
from engine.identity.tokens import AccessClaims, TokenIssuer, code_challenge
from engine.identity.users import (
    User,
    add_user,
    check_password_policy,
    fetch_user,
    lock_login_row,
    normalize_email,
    open_account_with_owner,
    record_failure,
    record_success,
    refuse_if_locked,
)
from engine.infra.settings import Settings

log = structlog.get_logger("identity")

PRUNE_SECONDS = 3600.0
# Any process may run these (each row goes once, whoever deletes it); a day's grace keeps recent history.
_PRUNE = (
    "DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'",
    "DELETE FROM user_tokens WHERE expires_at < now() - interval '1 day'",
    """DELETE FROM user_sessions s WHERE (revoked_at < now() - interval '1 day'
           OR last_used_at < now() - interval '30 days')
       AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.session_id = s.id AND t.expires_at > now())""",
    "DELETE FROM mail_outbox WHERE (sent_at IS NOT NULL OR next_attempt_at = 'infinity') "
    "AND created_at < now() - interval '7 days'",
)


@dataclass(frozen=True)
class SignedIn:
    user: User
    tokens: TokenPair
    created: bool = False  # a first Google sign-in opened the account


class Identity:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, http: httpx.AsyncClient) -> None:
        auth = settings.auth
        self.settings = settings
        self._pool = pool
        self.signing_key = load_signing_key(auth.signing_key_path, settings.data_path)
        self.tokens = TokenIssuer(
            self.signing_key,
            issuer=auth.issuer,
            access_seconds=auth.access_token_minutes * 60,
            refresh_seconds=auth.refresh_token_days * 86400,
        )
        self.revocations = RevocationFeed(pool, auth.revocation_poll_seconds)
        # Access tokens whose signature was checked (a session's revocation is checked on every request).
        self._verified_tokens: ExpiringCache[str, AccessClaims] = ExpiringCache(auth.key_cache_size, 60.0)
        cache: ExpiringCache[str, SessionState] = ExpiringCache(auth.key_cache_size, auth.key_cache_seconds)
        self.sessions = Sessions(pool, self.tokens, cache, lambda: self.revocations.seen)
        self.revocations.subscribe(self.sessions.on_revoked)
        self.mail = MailSender(pool, settings.mail)
        self.oidc = OidcClient(settings.oidc, http)
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Identity]:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            identity = cls(settings, pool, http)
            await identity.revocations.start_from_now()
            identity.mail.start()
            loop = asyncio.get_running_loop()
            identity._tasks.append(loop.create_task(identity.revocations.run()))
            identity._tasks.append(loop.create_task(identity._prune_forever()))
            try:
                yield identity
            finally:
                for task in identity._tasks:
                    task.cancel()
                await asyncio.gather(*identity._tasks, return_exceptions=True)
                await identity.mail.close()

    async def prune(self) -> None:
        """Forget what can no longer be used: expired tokens, ended sessions, old sent mail."""
        async with self._pool.acquire() as conn:
            for statement in _PRUNE:
                await conn.execute(statement)

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_SECONDS)  # a schedule, not a wait for an event: once an hour
            try:
                await self.prune()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("identity prune failed, retrying in an hour", error=str(exc))

    # --- signing up and in

    async def register(
        self, email: str, password: str, name: str, company: str, currency: str | None
    ) -> SignedIn:
        auth = self.settings.auth
        if not auth.signup_enabled:
            raise SignupClosed("registration is closed on this server")
        address = normalize_email(email)
        check_password_policy(password, address)
        password_hash = await hash_secret_async(password)
        async with self._pool.acquire() as conn, conn.transaction():
            user = await open_account_with_owner(
                conn, email=address, name=name, company=company, currency=currency or auth.signup_currency,
                password_hash=password_hash,
            )  # fmt: skip
            await mailed_tokens.mail_verification_link(conn, user, auth.verify_url, auth.verify_token_hours)
            tokens = await self.sessions.open(conn, user.id, user.account_id)
        self.mail.wake()
        return SignedIn(user, tokens, created=True)

    async def _check_password(
        self, conn: asyncpg.pool.PoolConnectionProxy, user_id_: str | None, email: str | None, password: str
    ) -> str:
        """The user id if `password` is theirs; counts a failure (and may lock) otherwise."""
        auth = self.settings.auth
        refusal = None
        async with conn.transaction():
            row = await lock_login_row(conn, email=email, user_id=user_id_)
            if row is None:
                await verify_secret_async(password, None)  # as long as a real check
                raise InvalidCredentials("wrong e-mail address or password")
            refuse_if_locked(row)
            ok, rehash = await verify_secret_async(password, row.password_hash)
            if ok:
                await record_success(conn, row, await hash_secret_async(password) if rehash else None)
                return row.id
            refusal = await record_failure(conn, row, auth.lockout_failures, auth.lockout_minutes)
        raise refusal  # after the commit: the failure must count

    async def login(self, email: str, password: str) -> SignedIn:
        try:
            address = normalize_email(email)
        except ValueError:
            await verify_secret_async(password, None)
            raise InvalidCredentials("wrong e-mail address or password") from None
        async with self._pool.acquire() as conn:
            user_id = await self._check_password(conn, None, address, password)
            async with conn.transaction():
                user = await fetch_user(conn, user_id)
                assert user is not None
                tokens = await self.sessions.open(conn, user.id, user.account_id)
        return SignedIn(user, tokens)

    async def refresh(self, refresh_token: str) -> TokenPair:
        return await self.sessions.rotate(refresh_token)

    async def logout(self, *, refresh_token: str | None = None, session_id: str | None = None) -> None:
        if refresh_token is not None:
            await self.sessions.revoke_by_refresh(refresh_token, "logout")
        elif session_id is not None:
            await self.sessions.revoke(session_id, "logout")
        self.revocations.wake()

    async def authenticate(self, access_token: str) -> SessionState:
        """The live session behind an access token; InvalidToken when it is not (or no longer) good."""
        claims = self._verified_tokens.get(access_token)
        if claims is None or claims.expires_at <= time.time():
            claims = self.tokens.decode_access(access_token)  # RS256: ~0.1-0.2 ms, so remembered a while
            self._verified_tokens.put(access_token, claims)
        state = await self.sessions.state(claims.session_id)
        if state is None or not state.active or state.user_id != claims.user_id:
            raise InvalidToken("the session has ended: sign in again")
        return state

    async def user(self, user_id: str) -> User:
        user = await fetch_user(self._pool, user_id)
        if user is None:
            raise InvalidToken("the session has ended: sign in again")
        return user

    # --- passwords and addresses

    async def forgot_password(self, email: str) -> None:
        """Mail a reset link if the address has a user; the same answer (and about the same time) if not."""
        auth = self.settings.auth
        try:
            address = normalize_email(email)
        except ValueError:
            return
        async with self._pool.acquire() as conn, conn.transaction():
            user_id = await conn.fetchval(
                "SELECT id::text FROM users WHERE lower(email) = $1 AND disabled_at IS NULL", address
            )
            if user_id is None or await mailed_tokens.recently_mailed(conn, user_id, mailed_tokens.RESET):
                return
            user = await fetch_user(conn, user_id)
            assert user is not None
            await mailed_tokens.mail_reset_link(conn, user, auth.reset_url, auth.reset_token_minutes)
        self.mail.wake()

    async def reset_password(self, token: str, password: str) -> User:
        """Set a new password with a mailed token: every session ends, the lock and count clear."""
        password_hash = None
        async with self._pool.acquire() as conn, conn.transaction():
            user_id = await mailed_tokens.consume(conn, token, mailed_tokens.RESET)
            user = await fetch_user(conn, user_id)
            if user is None:
                raise InvalidToken("the link is not valid, has expired or was used already")
            check_password_policy(password, user.email)  # raising rolls the use of the token back
            password_hash = await hash_secret_async(password)
            await conn.execute(
                """UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL,
                       email_verified = true, updated_at = now() WHERE id = $1::uuid""",
                user_id,
                password_hash,
            )  # the link came by mail: the address is verified too
            await self.sessions.revoke_all(conn, user_id, "password reset")
        self.revocations.wake()
        refreshed = await fetch_user(self._pool, user_id)
        assert refreshed is not None
        return refreshed

    async def change_password(self, user_id: str, session_id: str, current: str, new: str) -> None:
        """Change it knowing the current one; other sessions end, this one goes on."""
        user = await self.user(user_id)
        check_password_policy(new, user.email)
        async with self._pool.acquire() as conn:
            await self._check_password(conn, user_id, None, current)
            new_hash = await hash_secret_async(new)
            async with conn.transaction():
                await conn.execute(
                    "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1::uuid",
                    user_id,
                    new_hash,
                )
                await self.sessions.revoke_all(conn, user_id, "password changed", keep=session_id)
        self.revocations.wake()

    async def verify_email(self, token: str) -> User:
        async with self._pool.acquire() as conn, conn.transaction():
            user_id = await mailed_tokens.consume(conn, token, mailed_tokens.VERIFY)
            await conn.execute(
                "UPDATE users SET email_verified = true, updated_at = now() WHERE id = $1::uuid", user_id
            )
        return await self.user(user_id)

    # --- Google (any OpenID Connect provider)

    async def google_url(self) -> tuple[str, str]:
        """(authorization URL, state) of a new sign-in."""
        state, nonce = self.tokens.sign_in_state()
        url = await self.oidc.authorization_url(
            state, nonce, code_challenge(self.tokens.code_verifier(state))
        )
        return url, state

    async def google_sign_in(self, code: str, state: str) -> SignedIn:
        nonce = self.tokens.check_state(state)
        who = await self.oidc.exchange(code, self.tokens.code_verifier(state), nonce)
        auth = self.settings.auth
        async with self._pool.acquire() as conn, conn.transaction():
            user_id = await conn.fetchval(
                "SELECT id::text FROM users "
                "WHERE oidc_issuer = $1 AND oidc_subject = $2 AND disabled_at IS NULL",
                who.issuer,
                who.subject,
            )
            created = False
            if user_id is None:
                if not who.email_verified:
                    raise InvalidToken("the provider has not verified this e-mail address")
                address = normalize_email(who.email)
                row = await conn.fetchrow(
                    "SELECT id::text AS id, oidc_subject, email_verified FROM users "
                    "WHERE lower(email) = $1 AND disabled_at IS NULL FOR UPDATE",
                    address,
                )
                if row is not None:
                    if row["oidc_subject"] is not None:
                        raise InvalidToken("this address is linked to another Google account")
                    user_id = row["id"]  # the provider verified the address: link it to the user who has it
                    if not row["email_verified"]:
                        # Whoever registered the address without proving it must not keep a way in to an
                        # account its real owner now uses (pre-hijacking): their password and sessions go.
                        await conn.execute(
                            "UPDATE users SET password_hash = NULL WHERE id = $1::uuid", user_id
                        )
                        await self.sessions.revoke_all(conn, user_id, "address claimed through Google")
                    await conn.execute(
                        "UPDATE users SET oidc_issuer = $2, oidc_subject = $3, email_verified = true, "
                        "updated_at = now() WHERE id = $1::uuid",
                        user_id, who.issuer, who.subject,
                    )  # fmt: skip
                else:
                    if not auth.signup_enabled:
                        raise SignupClosed("registration is closed on this server")
                    new_user = await open_account_with_owner(
                        conn, email=address, name=who.name, company="", currency=auth.signup_currency,
                        password_hash=None, email_verified=True, oidc=(who.issuer, who.subject),
                    )  # fmt: skip
                    user_id, created = new_user.id, True
            await conn.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1::uuid", user_id
            )
            user = await fetch_user(conn, user_id)
            assert user is not None
            tokens = await self.sessions.open(conn, user.id, user.account_id)
        return SignedIn(user, tokens, created)


async def invite_user(
    pool: asyncpg.Pool,
    settings: Settings,
    account_id: int,
    email: str,
    *,
    name: str = "",
    role: str = "member",
) -> User:
    """An operator adds a user to an account; the user is mailed a link to choose a password.

    Usable without a running Identity (the CLI): the mail waits in the outbox for an engine's sender.
    """
    auth = settings.auth
    async with pool.acquire() as conn, conn.transaction():
        user = await add_user(conn, account_id, email=email, name=name, role=role)
        await mailed_tokens.mail_invitation(conn, user, auth.reset_url, auth.verify_token_hours)
    return user
