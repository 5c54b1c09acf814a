"""A local SMTP server that keeps what it is sent: the stand-in for a mail provider in tests and the demo.

    async with MailSink() as sink:                       # aiosmtpd, on 127.0.0.1 and a free port
        settings = MailSettings(host="127.0.0.1", port=sink.port)
        ...
        mail = await sink.next_mail()                    # an email.message.EmailMessage
        mail["To"], mail.get_content()

Each mail is also written to `directory` (when given) as NNNN.eml, so a person trying the demo can open
what the engine sent. This is a real SMTP conversation (aiosmtpd, an independent implementation), so the
engine's client speaks to it exactly as it would to a provider. It must never relay anything anywhere.
"""

from __future__ import annotations

import asyncio
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        self._sink.keep(message, list(envelope.rcpt_tos))
        return "250 Message accepted"


class MailSink:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None) -> None:
        self.host = host
        self._port = port
        self.directory = directory
        self.mails: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._queue: asyncio.Queue[EmailMessage] = asyncio.Queue()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def keep(self, message: EmailMessage, recipients: list[str]) -> None:
        self.mails.append(message)
        self.recipients.append(recipients)
        self._queue.put_nowait(message)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            final = self.directory / f"{len(self.mails):04d}.eml"
            partial = final.with_suffix(".part")
            partial.write_bytes(message.as_bytes())
            partial.replace(final)  # whoever watches the directory sees whole mails only

    async def next_mail(self) -> EmailMessage:
        """The next mail received (waits for it: wrap in asyncio.timeout)."""
        return await self._queue.get()

    async def start(self) -> None:
        handler = _Handler(self)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="mail-sink.local", ident="smsengine mail sink"),
            self.host,
            self._port,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> MailSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
