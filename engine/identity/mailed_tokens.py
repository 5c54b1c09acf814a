"""Single-use, expiring tokens sent by mail: password reset and address verification.

A token is 32 random bytes (base64url); only its SHA-256 is stored, so the table gives no working link
away. `consume` marks it used in the same statement that finds it (UPDATE ... WHERE used_at IS NULL AND
expires_at > now()), so two uses racing each other cannot both succeed. The mail carrying the token is
queued in the same transaction (mailer.queue_mail) and expires with it.

This module must never store a token in clear, except in the outbox row of the mail that carries it
(emptied once sent).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from engine.identity.errors import InvalidToken
from engine.identity.mailer import queue_mail
from engine.identity.users import Conn, User

RESET = "reset_password"
VERIFY = "verify_email"

_RESET_TEXT = """Hello{name},

Someone (we hope you) asked to reset the password of your account {email}.
Choose a new password here:

{link}

The link works once, within {minutes} minutes. If you did not ask for it, ignore this mail:
your password stays as it is.
"""

_INVITE_TEXT = """Hello{name},

You have been given access to the account {account} as {role}, with the address {email}.
Choose your password here:

{link}

The link works once, within {hours} hours.
"""

_VERIFY_TEXT = """Hello{name},

Please confirm that {email} is your address by opening this link:

{link}

The link works once, within {hours} hours.
"""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _issue(conn: Conn, user_id: str, purpose: str, ttl: timedelta) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires_at = await conn.fetchval(
        "INSERT INTO user_tokens (token_hash, user_id, purpose, expires_at) "
        "VALUES ($1, $2::uuid, $3, now() + $4::interval) RETURNING expires_at",
        _digest(token),
        user_id,
        purpose,
        ttl,
    )
    assert isinstance(expires_at, datetime)
    return token, expires_at


async def _mail_link(
    conn: Conn, user: User, purpose: str, ttl: timedelta, link: str, subject: str, text: str, **more: object
) -> None:
    token, expires_at = await _issue(conn, user.id, purpose, ttl)
    body = text.format(
        name=f" {user.name}" if user.name else "", email=user.email, link=link.replace("{token}", token),
        account=user.account_name, role=user.role, **more,
    )  # fmt: skip
    await queue_mail(conn, user.email, subject, body, expires_at)


async def mail_reset_link(conn: Conn, user: User, link: str, minutes: int) -> None:
    ttl = timedelta(minutes=minutes)
    await _mail_link(conn, user, RESET, ttl, link, "Reset your password", _RESET_TEXT, minutes=minutes)


async def mail_invitation(conn: Conn, user: User, link: str, hours: int) -> None:
    """A first-password link (a reset token that lives as long as a verification link)."""
    subject = f"Your access to {user.account_name}"
    await _mail_link(conn, user, RESET, timedelta(hours=hours), link, subject, _INVITE_TEXT, hours=hours)


async def mail_verification_link(conn: Conn, user: User, link: str, hours: int) -> None:
    subject = "Confirm your e-mail address"
    await _mail_link(conn, user, VERIFY, timedelta(hours=hours), link, subject, _VERIFY_TEXT, hours=hours)


async def recently_mailed(conn: Conn, user_id: str, purpose: str, seconds: int = 60) -> bool:
    """Whether such a token was sent within `seconds` (one mail a minute: no mail-bombing by the API)."""
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM user_tokens WHERE user_id = $1::uuid AND purpose = $2 "
            "AND created_at > now() - make_interval(secs => $3)",
            user_id,
            purpose,
            seconds,
        )
    )


async def consume(conn: Conn, token: str, purpose: str) -> str:
    """The user id of a token that is valid now; it is used up by this call."""
    if not token or len(token) > 200:
        raise InvalidToken("the link is not valid")
    user_id = await conn.fetchval(
        "UPDATE user_tokens SET used_at = now() WHERE token_hash = $1 AND purpose = $2 "
        "AND used_at IS NULL AND expires_at > now() RETURNING user_id::text",
        _digest(token),
        purpose,
    )
    if user_id is None:
        raise InvalidToken("the link is not valid, has expired or was used already")
    if purpose == RESET:  # one reset ends every other pending reset link of the user
        await conn.execute(
            "UPDATE user_tokens SET used_at = now() "
            "WHERE user_id = $1::uuid AND purpose = $2 AND used_at IS NULL",
            user_id,
            purpose,
        )
    return str(user_id)
