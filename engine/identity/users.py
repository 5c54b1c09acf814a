"""Users of an account: the rows, the rules for addresses and passwords, and sign-in lockout.

The model: an account (the customer: balance, keys, messages) has users, the people who sign in to it.
Registration opens an account and makes its first user the `owner`; `admin` may do all the owner does
(API keys, webhooks, approving campaigns); a `member` sends and reads. A person is one user (addresses are
unique whatever their case) in one account.

Lockout: `lockout_failures` wrong passwords in a row lock sign-in for `lockout_minutes`, counted on the
user's row under its lock (SELECT ... FOR UPDATE), so every engine process and every concurrent attempt
counts against the same number; a successful sign-in or a password reset clears it. While locked, the
password is not even checked: a guess made then teaches nothing.

This module must never return a password hash to a caller outside engine/identity/.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import asyncpg.pool

from engine.admin.provision import open_customer_account
from engine.identity.errors import AccountLocked, EmailTaken, InvalidCredentials, WeakPassword

Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

ROLES = ("owner", "admin", "member")
MIN_PASSWORD, MAX_PASSWORD = 8, 128
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")

LoginRefusal = AccountLocked | InvalidCredentials

_USER_SQL = """SELECT u.id::text AS id, u.account_id, u.email, u.name, u.role, u.email_verified,
       u.password_hash IS NOT NULL AS has_password, u.oidc_subject IS NOT NULL AS has_google,
       u.created_at, a.name AS account_name, a.currency AS account_currency
FROM users u JOIN accounts a ON a.id = u.account_id"""


@dataclass(frozen=True)
class User:
    id: str
    account_id: int
    email: str
    name: str
    role: str
    email_verified: bool
    has_password: bool
    has_google: bool
    created_at: datetime
    account_name: str
    account_currency: str


def _user(row: asyncpg.Record) -> User:
    return User(**{k: row[k] for k in row.keys()})


def normalize_email(email: str) -> str:
    """The address as stored and compared: trimmed, lower case; ValueError when it is not an address."""
    cleaned = email.strip().lower()
    if len(cleaned) > 254 or not _EMAIL.fullmatch(cleaned):
        raise ValueError("not an e-mail address")
    return cleaned


def check_password_policy(password: str, email: str = "") -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise WeakPassword(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if password.strip().lower() == email.strip().lower() or len(set(password)) < 3:
        raise WeakPassword("this password is too easy to guess")


async def fetch_user(conn: Conn | asyncpg.Pool, user_id: str) -> User | None:
    row = await conn.fetchrow(_USER_SQL + " WHERE u.id = $1::uuid AND u.disabled_at IS NULL", user_id)
    return None if row is None else _user(row)


async def open_account_with_owner(
    conn: Conn,
    *,
    email: str,
    name: str,
    company: str,
    currency: str,
    password_hash: str | None,
    email_verified: bool = False,
    oidc: tuple[str, str] | None = None,
) -> User:
    """A new account and its owner, in the caller's transaction. EmailTaken if the address has a user."""
    if await conn.fetchval("SELECT 1 FROM users WHERE lower(email) = $1", email):
        raise EmailTaken("a user with this e-mail address exists already")
    base = (company or name or email.split("@")[0]).strip()[:80] or "account"
    account_id = await open_customer_account(conn, base, currency=currency)
    while account_id is None:  # the name is taken: account names are unique, companies' names are not
        account_id = await open_customer_account(conn, f"{base}-{secrets.token_hex(3)}", currency=currency)
    try:
        user_id = await conn.fetchval(
            """INSERT INTO users (account_id, email, name, role, password_hash, email_verified,
                                  oidc_issuer, oidc_subject)
               VALUES ($1, $2, $3, 'owner', $4, $5, $6, $7) RETURNING id::text""",
            account_id, email, name, password_hash, email_verified,
            oidc[0] if oidc else None, oidc[1] if oidc else None,
        )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:  # a concurrent registration of the same address won
        raise EmailTaken("a user with this e-mail address exists already") from exc
    user = await fetch_user(conn, user_id)
    assert user is not None
    return user


async def add_user(conn: Conn, account_id: int, *, email: str, name: str, role: str) -> User:
    """Another user of an existing account (no password yet: they set one through a mailed link)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    try:
        user_id = await conn.fetchval(
            "INSERT INTO users (account_id, email, name, role) VALUES ($1, $2, $3, $4) RETURNING id::text",
            account_id,
            normalize_email(email),
            name,
            role,
        )
    except asyncpg.UniqueViolationError as exc:
        raise EmailTaken("a user with this e-mail address exists already") from exc
    user = await fetch_user(conn, user_id)
    assert user is not None
    return user


@dataclass(frozen=True)
class LoginRow:
    id: str
    password_hash: str | None
    failed_logins: int
    locked_until: datetime | None
    now: datetime


async def lock_login_row(
    conn: Conn, *, email: str | None = None, user_id: str | None = None
) -> LoginRow | None:
    """The sign-in state of a (live) user, locked until the caller's transaction ends."""
    row = await conn.fetchrow(
        """SELECT id::text AS id, password_hash, failed_logins, locked_until, now() AS now FROM users
           WHERE (lower(email) = $1 OR id = $2::uuid) AND disabled_at IS NULL FOR UPDATE""",
        email,
        user_id,
    )
    return None if row is None else LoginRow(**{k: row[k] for k in row.keys()})


def refuse_if_locked(row: LoginRow) -> None:
    if row.locked_until is not None and row.locked_until > row.now:
        retry = max(1, int((row.locked_until - row.now).total_seconds() + 0.999))
        raise AccountLocked(row.locked_until, retry, just_locked=False)


async def record_failure(conn: Conn, row: LoginRow, failures: int, lock_minutes: int) -> LoginRefusal:
    """Count a wrong password; return what to raise once the transaction has committed."""
    count = row.failed_logins + 1
    if count >= failures:
        until = row.now + timedelta(minutes=lock_minutes)
        await conn.execute(
            "UPDATE users SET failed_logins = 0, locked_until = $2 WHERE id = $1::uuid", row.id, until
        )
        return AccountLocked(until, lock_minutes * 60, just_locked=True)
    await conn.execute("UPDATE users SET failed_logins = $2 WHERE id = $1::uuid", row.id, count)
    return InvalidCredentials("wrong e-mail address or password")


async def record_success(conn: Conn, row: LoginRow, new_hash: str | None = None) -> None:
    """Clear the failure count (and store a stronger hash of the same password, if one was made)."""
    await conn.execute(
        """UPDATE users SET failed_logins = 0, locked_until = NULL,
               password_hash = coalesce($2, password_hash) WHERE id = $1::uuid""",
        row.id,
        new_hash,
    )
