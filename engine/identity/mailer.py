"""Mail to people (address verification, password reset): an outbox in PostgreSQL, sent over SMTP.

`queue_mail(conn, ...)` writes the mail in the caller's transaction, next to the token it carries, so a
mail exists exactly when its token does. `MailSender` claims due mail (FOR UPDATE SKIP LOCKED, with a
five-minute lease: a process that dies mid-send leaves the mail to another), hands it to the configured
SMTP server (`[mail]`: host, port, TLS, login, From) with the standard library's smtplib on a thread,
and marks it sent, or due again after a backoff. Mail not sent by its `discard_after` (when its link
stops working anyway) is given up. A sent mail's body is emptied: the outbox keeps no live tokens.

This module must never put a password in a mail, nor log a mail's body.
"""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import asyncpg
import asyncpg.pool
import structlog

from engine.infra.settings import MailSettings

log = structlog.get_logger("identity")

BACKOFF_SECONDS = (10, 30, 60, 300, 900)
POLL_SECONDS = 5.0
LEASE = "interval '5 minutes'"

_CLAIM = f"""UPDATE mail_outbox SET next_attempt_at = now() + {LEASE}, attempts = attempts + 1
WHERE id IN (SELECT id FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED)
RETURNING id, to_address, subject, body, attempts, discard_after, discard_after < now() AS too_late"""


async def queue_mail(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
    to: str,
    subject: str,
    body: str,
    discard_after: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO mail_outbox (to_address, subject, body, discard_after) VALUES ($1, $2, $3, $4)",
        to,
        subject,
        body,
        discard_after,
    )


def compose(settings: MailSettings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.from_address.rpartition("@")[2].strip(">") or None)
    message.set_content(body)
    return message


def send_now(settings: MailSettings, message: EmailMessage) -> None:
    """One SMTP conversation (blocking: run it on a thread)."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.tls == "tls":
        smtp = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_seconds, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
    with smtp:
        if settings.tls == "starttls":
            smtp.starttls(context=context)
        if settings.user:
            smtp.login(settings.user, settings.password)
        smtp.send_message(message)


class MailSender:
    def __init__(self, pool: asyncpg.Pool, settings: MailSettings) -> None:
        self._pool = pool
        self._settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mail-sender")

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                while await self.send_due():
                    pass
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("mail outbox unavailable, retrying", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=POLL_SECONDS)
            self._wake.clear()

    async def send_due(self) -> int:
        """Send what is due now; return how many mails were claimed."""
        rows = await self._pool.fetch(_CLAIM)
        for row in rows:
            if row["too_late"]:
                await self._pool.execute(
                    "UPDATE mail_outbox SET next_attempt_at = 'infinity', body = '', "
                    "last_error = coalesce(last_error, '') || ' (given up)' WHERE id = $1",
                    row["id"],
                )
                log.warning("mail given up", mail_id=row["id"], attempts=row["attempts"] - 1)
                continue
            message = compose(self._settings, row["to_address"], row["subject"], row["body"])
            try:
                await asyncio.to_thread(send_now, self._settings, message)
            except (OSError, smtplib.SMTPException) as exc:
                delay = BACKOFF_SECONDS[min(row["attempts"], len(BACKOFF_SECONDS)) - 1]
                await self._pool.execute(
                    "UPDATE mail_outbox SET next_attempt_at = now() + make_interval(secs => $2), "
                    "last_error = $3 WHERE id = $1",
                    row["id"],
                    delay,
                    f"{type(exc).__name__}: {exc}"[:500],
                )
                log.warning("mail not sent, will retry", mail_id=row["id"], error=str(exc), retry_in=delay)
                continue
            await self._pool.execute(
                "UPDATE mail_outbox SET sent_at = now(), body = '', last_error = NULL WHERE id = $1",
                row["id"],
            )
            log.info("mail sent", mail_id=row["id"], subject=row["subject"])
        return len(rows)
