"""Connected accounts, their tokens, customers' own apps and OAuth authorizations in flight: storage.

`AccountStore` is the narrow interface the rest of the social layer uses; `PgAccountStore` is its one
implementation (asyncpg, tables of engine/migrations/0050_social_accounts.sql). Secrets go in and come
out in clear, and are sealed/unsealed here with the key ring, bound to the row they belong to.

`refresh_tokens` is the one place tokens change after a connect. It runs under a row lock
(SELECT ... FOR UPDATE), so that several engine processes never refresh the same account at once: X
rotates refresh tokens (each is good for one use), and a second concurrent refresh would spend a dead
token and wrongly mark the account needs_reauth. A caller that waited on the lock finds the tokens
already renewed and uses them.
This module must never log a token or a secret, and never return a record of another customer account
when an account_id is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import msgspec

from engine.social.accounts.sealing import KeyRing, Sealed
from engine.social.connector import ConnectedAccount
from engine.social.errors import NeedsReauth

ACCOUNT_STATES = ("active", "needs_reauth", "disconnected")


class TokenSet(msgspec.Struct, frozen=True, kw_only=True):
    """An account's tokens as the platform issued them; sealed as JSON in social_accounts.credentials."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    token_type: str = "bearer"
    scope: str = ""


class AppCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """A platform app's OAuth client: a customer's own (id set) or the deployment's default (id None)."""

    id: int | None
    platform: str
    client_id: str
    client_secret: str
    account_id: int | None = None
    brand: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


class AccountRecord(msgspec.Struct, frozen=True, kw_only=True):
    account: ConnectedAccount
    state: str
    state_reason: str
    access_expires_at: datetime | None
    app_credentials_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def needs_reauth(self) -> bool:
        return self.state == "needs_reauth"


class PendingAuthorization(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    account_id: int
    platform: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_verifier: str
    expires_at: datetime
    app_credentials_id: int | None = None


Refresh = Callable[[TokenSet], Awaitable[TokenSet]]


class AccountStore(Protocol):
    async def connect_account(
        self, account: ConnectedAccount, tokens: TokenSet, *, app_credentials_id: int | None = None
    ) -> AccountRecord: ...
    async def get(self, social_account_id: int, *, account_id: int | None = None) -> AccountRecord | None: ...
    async def list(self, account_id: int, *, platform: str | None = None) -> list[AccountRecord]: ...
    async def tokens(self, social_account_id: int) -> TokenSet: ...
    async def refresh_tokens(
        self, social_account_id: int, refresh: Refresh, *, due: Callable[[TokenSet], bool]
    ) -> TokenSet: ...
    async def set_state(self, social_account_id: int, state: str, reason: str = "") -> None: ...
    async def put_app_credentials(
        self, account_id: int, platform: str, client_id: str, client_secret: str, *, brand: str = ""
    ) -> AppCredentials: ...
    async def app_credentials(self, app_credentials_id: int) -> AppCredentials | None: ...
    async def find_app_credentials(
        self, account_id: int, platform: str, *, brand: str = ""
    ) -> AppCredentials | None: ...
    async def delete_app_credentials(self, account_id: int, platform: str, *, brand: str = "") -> bool: ...
    async def save_authorization(self, pending: PendingAuthorization) -> None: ...
    async def take_authorization(self, state: str) -> PendingAuthorization | None: ...


def _account_context(account_id: int, platform: str, platform_user_id: str) -> str:
    return f"social_accounts:{account_id}:{platform}:{platform_user_id}:credentials"


def _app_context(account_id: int, platform: str, brand: str) -> str:
    return f"social_app_credentials:{account_id}:{platform}:{brand}"


def _state_context(state: str) -> str:
    return f"social_oauth_states:{state}"


_ACCOUNT_COLUMNS = """id, account_id, platform, platform_user_id, username, display_name, scopes,
    service_url, state, state_reason, access_expires_at, app_credentials_id, created_at, updated_at"""


def _record(row: Any) -> AccountRecord:
    return AccountRecord(
        account=ConnectedAccount(
            id=row["id"],
            account_id=row["account_id"],
            platform=row["platform"],
            platform_user_id=row["platform_user_id"],
            username=row["username"],
            display_name=row["display_name"],
            service_url=row["service_url"],
            scopes=tuple(row["scopes"]),
        ),
        state=row["state"],
        state_reason=row["state_reason"],
        access_expires_at=row["access_expires_at"],
        app_credentials_id=row["app_credentials_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class PgAccountStore:
    """AccountStore over an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, keys: KeyRing) -> None:
        self._pool = pool
        self._keys = keys

    # ---------------------------------------------------------------------------------- accounts

    def _seal_tokens(self, account: ConnectedAccount, tokens: TokenSet) -> Sealed:
        context = _account_context(account.account_id, account.platform, account.platform_user_id)
        return self._keys.seal(msgspec.json.encode(tokens), context=context)

    def _unseal_tokens(self, row: Any) -> TokenSet:
        context = _account_context(row["account_id"], row["platform"], row["platform_user_id"])
        sealed = Sealed(row["credentials_key_id"], bytes(row["credentials"]))
        return msgspec.json.decode(self._keys.unseal(sealed, context=context), type=TokenSet)

    async def connect_account(
        self, account: ConnectedAccount, tokens: TokenSet, *, app_credentials_id: int | None = None
    ) -> AccountRecord:
        """Insert the connection, or renew it when the same platform user is connected again (a
        reconnect is how a needs_reauth account becomes active again)."""
        sealed = self._seal_tokens(account, tokens)
        row = await self._pool.fetchrow(
            f"""INSERT INTO social_accounts (account_id, platform, platform_user_id, username, display_name,
                    scopes, service_url, credentials_key_id, credentials, access_expires_at,
                    app_credentials_id, refreshed_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
                ON CONFLICT (account_id, platform, platform_user_id) DO UPDATE SET
                    username = EXCLUDED.username, display_name = EXCLUDED.display_name,
                    scopes = EXCLUDED.scopes, service_url = EXCLUDED.service_url,
                    credentials_key_id = EXCLUDED.credentials_key_id, credentials = EXCLUDED.credentials,
                    access_expires_at = EXCLUDED.access_expires_at,
                    app_credentials_id = EXCLUDED.app_credentials_id, refreshed_at = now(),
                    state = 'active', state_reason = '', updated_at = now()
                RETURNING {_ACCOUNT_COLUMNS}""",
            account.account_id,
            account.platform,
            account.platform_user_id,
            account.username,
            account.display_name,
            list(account.scopes),
            account.service_url,
            sealed.key_id,
            sealed.blob,
            tokens.expires_at,
            app_credentials_id,
        )
        return _record(row)

    async def get(self, social_account_id: int, *, account_id: int | None = None) -> AccountRecord | None:
        row = await self._pool.fetchrow(
            f"SELECT {_ACCOUNT_COLUMNS} FROM social_accounts WHERE id = $1 AND ($2::bigint IS NULL "
            "OR account_id = $2)",
            social_account_id,
            account_id,
        )
        return None if row is None else _record(row)

    async def list(self, account_id: int, *, platform: str | None = None) -> list[AccountRecord]:
        rows = await self._pool.fetch(
            f"""SELECT {_ACCOUNT_COLUMNS} FROM social_accounts
                WHERE account_id = $1 AND ($2::text IS NULL OR platform = $2) ORDER BY id""",
            account_id,
            platform,
        )
        return [_record(row) for row in rows]

    async def tokens(self, social_account_id: int) -> TokenSet:
        row = await self._pool.fetchrow(
            """SELECT account_id, platform, platform_user_id, credentials_key_id, credentials
               FROM social_accounts WHERE id = $1""",
            social_account_id,
        )
        if row is None:
            raise KeyError(social_account_id)
        return self._unseal_tokens(row)

    async def refresh_tokens(
        self, social_account_id: int, refresh: Refresh, *, due: Callable[[TokenSet], bool]
    ) -> TokenSet:
        """Under the row's lock: when `due(current tokens)` still holds, call `refresh` and store what it
        returns; otherwise return the current tokens (another caller refreshed them meanwhile).
        A NeedsReauth from `refresh` marks the account needs_reauth (committed) and is re-raised."""
        gone: NeedsReauth | None = None
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT account_id, platform, platform_user_id, state, credentials_key_id, credentials
                   FROM social_accounts WHERE id = $1 FOR UPDATE""",
                social_account_id,
            )
            if row is None:
                raise KeyError(social_account_id)
            if row["state"] != "active":
                raise NeedsReauth(f"the account is {row['state']}", platform=row["platform"])
            current = self._unseal_tokens(row)
            if not due(current):
                return current
            try:
                renewed = await refresh(current)
            except NeedsReauth as exc:
                gone = exc
            else:
                account = ConnectedAccount(
                    id=social_account_id,
                    account_id=row["account_id"],
                    platform=row["platform"],
                    platform_user_id=row["platform_user_id"],
                    username="",
                )
                sealed = self._seal_tokens(account, renewed)
                await conn.execute(
                    """UPDATE social_accounts SET credentials_key_id = $2, credentials = $3,
                           access_expires_at = $4, refreshed_at = now(), updated_at = now()
                       WHERE id = $1""",
                    social_account_id,
                    sealed.key_id,
                    sealed.blob,
                    renewed.expires_at,
                )
                return renewed
            await conn.execute(
                """UPDATE social_accounts SET state = 'needs_reauth', state_reason = $2, updated_at = now()
                   WHERE id = $1""",
                social_account_id,
                gone.message[:500],
            )
        raise gone

    async def set_state(self, social_account_id: int, state: str, reason: str = "") -> None:
        if state not in ACCOUNT_STATES:
            raise ValueError(f"unknown account state {state!r}")
        await self._pool.execute(
            "UPDATE social_accounts SET state = $2, state_reason = $3, updated_at = now() WHERE id = $1",
            social_account_id,
            state,
            reason,
        )

    # ---------------------------------------------------------------------------- customer apps

    def _app(self, row: Any) -> AppCredentials:
        context = _app_context(row["account_id"], row["platform"], row["brand"])
        secret = self._keys.unseal(
            Sealed(row["client_secret_key_id"], bytes(row["client_secret"])), context=context
        )
        return AppCredentials(
            id=row["id"],
            platform=row["platform"],
            client_id=row["client_id"],
            client_secret=secret.decode(),
            account_id=row["account_id"],
            brand=row["brand"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def put_app_credentials(
        self, account_id: int, platform: str, client_id: str, client_secret: str, *, brand: str = ""
    ) -> AppCredentials:
        sealed = self._keys.seal(client_secret.encode(), context=_app_context(account_id, platform, brand))
        row = await self._pool.fetchrow(
            """INSERT INTO social_app_credentials (account_id, platform, brand, client_id,
                   client_secret_key_id, client_secret)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (account_id, platform, brand) DO UPDATE SET client_id = EXCLUDED.client_id,
                   client_secret_key_id = EXCLUDED.client_secret_key_id,
                   client_secret = EXCLUDED.client_secret, updated_at = now()
               RETURNING *""",
            account_id,
            platform,
            brand,
            client_id,
            sealed.key_id,
            sealed.blob,
        )
        return self._app(row)

    async def app_credentials(self, app_credentials_id: int) -> AppCredentials | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM social_app_credentials WHERE id = $1", app_credentials_id
        )
        return None if row is None else self._app(row)

    async def find_app_credentials(
        self, account_id: int, platform: str, *, brand: str = ""
    ) -> AppCredentials | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM social_app_credentials WHERE account_id = $1 AND platform = $2 AND brand = $3",
            account_id,
            platform,
            brand,
        )
        return None if row is None else self._app(row)

    async def delete_app_credentials(self, account_id: int, platform: str, *, brand: str = "") -> bool:
        status = await self._pool.execute(
            "DELETE FROM social_app_credentials WHERE account_id = $1 AND platform = $2 AND brand = $3",
            account_id,
            platform,
            brand,
        )
        return bool(status.endswith(" 1"))

    # ----------------------------------------------------------------------- authorizations

    async def save_authorization(self, pending: PendingAuthorization) -> None:
        sealed = self._keys.seal(pending.code_verifier.encode(), context=_state_context(pending.state))
        await self._pool.execute(
            """INSERT INTO social_oauth_states (state, account_id, platform, redirect_uri, scopes,
                   app_credentials_id, code_verifier_key_id, code_verifier, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            pending.state,
            pending.account_id,
            pending.platform,
            pending.redirect_uri,
            list(pending.scopes),
            pending.app_credentials_id,
            sealed.key_id,
            sealed.blob,
            pending.expires_at,
        )

    async def take_authorization(self, state: str) -> PendingAuthorization | None:
        """The authorization started with `state`, consumed: a second callback finds nothing."""
        async with self._pool.acquire() as conn:
            await conn.execute("DELETE FROM social_oauth_states WHERE expires_at < now()")
            row = await conn.fetchrow(
                "DELETE FROM social_oauth_states WHERE state = $1 AND expires_at >= now() RETURNING *", state
            )
        if row is None:
            return None
        verifier = self._keys.unseal(
            Sealed(row["code_verifier_key_id"], bytes(row["code_verifier"])), context=_state_context(state)
        )
        return PendingAuthorization(
            state=row["state"],
            account_id=row["account_id"],
            platform=row["platform"],
            redirect_uri=row["redirect_uri"],
            scopes=tuple(row["scopes"]),
            code_verifier=verifier.decode(),
            expires_at=row["expires_at"],
            app_credentials_id=row["app_credentials_id"],
        )

    # --------------------------------------------------------------------------- key rotation

    async def reseal(self, batch: int = 500) -> int:
        """Seal again, under the ring's current key, every secret sealed under an older one; returns
        how many were resealed. Safe to run while the engine runs (row by row, under row locks)."""
        done = 0
        current = self._keys.current_id
        async with self._pool.acquire() as conn:
            while True:
                async with conn.transaction():
                    rows = await conn.fetch(
                        """SELECT id, account_id, platform, platform_user_id, credentials_key_id, credentials
                           FROM social_accounts WHERE credentials_key_id <> $1 LIMIT $2
                           FOR UPDATE SKIP LOCKED""",
                        current,
                        batch,
                    )
                    for row in rows:
                        tokens = self._unseal_tokens(row)
                        account = ConnectedAccount(
                            id=row["id"],
                            account_id=row["account_id"],
                            platform=row["platform"],
                            platform_user_id=row["platform_user_id"],
                            username="",
                        )
                        sealed = self._seal_tokens(account, tokens)
                        await conn.execute(
                            """UPDATE social_accounts SET credentials_key_id = $2, credentials = $3
                               WHERE id = $1""",
                            row["id"],
                            sealed.key_id,
                            sealed.blob,
                        )
                    apps = await conn.fetch(
                        """SELECT * FROM social_app_credentials WHERE client_secret_key_id <> $1 LIMIT $2
                           FOR UPDATE SKIP LOCKED""",
                        current,
                        batch,
                    )
                    for row in apps:
                        app = self._app(row)
                        context = _app_context(row["account_id"], row["platform"], row["brand"])
                        sealed = self._keys.seal(app.client_secret.encode(), context=context)
                        await conn.execute(
                            """UPDATE social_app_credentials SET client_secret_key_id = $2, client_secret = $3
                               WHERE id = $1""",
                            row["id"],
                            sealed.key_id,
                            sealed.blob,
                        )
                done += len(rows) + len(apps)
                if not rows and not apps:
                    return done


def utcnow() -> datetime:
    return datetime.now(UTC)
