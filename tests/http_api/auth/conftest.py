"""The API of tests/http_api/conftest.py, wired to a local SMTP server and a local OpenID Connect issuer.

`mail` is an aiosmtpd server the engine's mail goes to; `issuer` a local OIDC provider (discovery, JWKS,
authorize, token) served on a free port: the engine talks to it through the same code that would talk
to Google. `second` starts another engine (its own pool, caches and revocation feed) on the same
database, with its own HTTP server: a second engine process, as far as anything shared is concerned.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from engine.app import Engine
from engine.infra.services import ServiceUrls
from engine.infra.settings import HttpSettings, load_settings
from engine.simulation.mail_sink import MailSink
from engine.simulation.oidc_issuer import OidcIssuer
from http_api.app import create_app
from http_api.server import serve_http
from tests.engine.harness import StackOptions
from tests.http_api.conftest import Api

CLIENT_ID = "smsengine-test-client"
CLIENT_SECRET = "test-client-secret"
REDIRECT_URI = "http://dashboard.test/auth/google/callback"
RESET_URL = "http://dashboard.test/reset-password?token={token}"
PASSWORD = "correct horse battery"


@pytest.fixture
async def mail() -> AsyncIterator[MailSink]:
    async with MailSink() as sink:
        yield sink


@pytest.fixture
async def issuer() -> AsyncIterator[OidcIssuer]:
    provider = OidcIssuer(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    async with serve_http(provider.app, "127.0.0.1", 0) as server:
        provider.base_url = f"http://127.0.0.1:{server.port}"
        yield provider


def auth_settings(tmp_path: Path, mail: MailSink, issuer: OidcIssuer) -> dict[str, Any]:
    return {
        "data_dir": str(tmp_path / "data"),
        "auth": {"public_rate_limit": 1000.0, "public_rate_burst": 1000, "reset_url": RESET_URL},
        "mail": {"host": "127.0.0.1", "port": mail.port, "from_address": "BulkSMS <no-reply@example.com>"},
        "oidc": {
            "issuer": issuer.base_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": REDIRECT_URI,
        },
    }


@pytest.fixture
def stack_options(tmp_path: Path, mail: MailSink, issuer: OidcIssuer) -> StackOptions:
    return StackOptions(settings=auth_settings(tmp_path, mail, issuer))


@dataclass
class Second:
    """Another engine process on the same database and Redis."""

    engine: Engine
    client: httpx.AsyncClient


@pytest.fixture
def second(
    api: Api, database_url: str, redis_url: str, redis_prefix: str, stack_options: StackOptions
) -> Any:
    @asynccontextmanager
    async def start() -> AsyncIterator[Second]:
        settings = load_settings(
            None, env={}, smpp={"port": 0}, database={"pool_max": 4}, **stack_options.settings
        )
        http = HttpSettings(host="127.0.0.1", port=0, rate_limit=1000.0, rate_burst=1000)
        async with Engine.start(settings, ServiceUrls(database_url, redis_url)) as engine:
            redis = aioredis.Redis.from_url(redis_url)
            try:
                app = create_app(engine, redis, prefix=redis_prefix, settings=http)
                async with serve_http(app, "127.0.0.1", 0) as server:
                    base = f"http://127.0.0.1:{server.port}"
                    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
                        yield Second(engine, client)
            finally:
                await redis.aclose()

    return start


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(api: Api, email: str = "ada@example.com", password: str = PASSWORD, **extra: Any) -> Any:
    r = await api.client.post(
        "/v1/auth/register", json={"email": email, "password": password, "name": "Ada", **extra}
    )
    assert r.status_code == 201, r.text
    return r.json()["data"]


async def login(api: Api, email: str = "ada@example.com", password: str = PASSWORD) -> httpx.Response:
    return await api.client.post("/v1/auth/login", json={"email": email, "password": password})


_LINK = re.compile(r"https?://\S+")


async def next_mail(mail: MailSink) -> EmailMessage:
    """The next mail the engine sends (its sender is woken at once; 15 s covers a loaded machine)."""
    async with asyncio.timeout(15.0):
        return await mail.next_mail()


def link_in(message: EmailMessage) -> str:
    body = message.get_content()
    links = _LINK.findall(body)
    assert len(links) == 1, body
    return str(links[0])


async def status_within(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], want: int, seconds: float
) -> float:
    """Poll GET `path` until it answers `want`; how long that took (fails past `seconds`)."""
    start = time.monotonic()
    while True:
        r = await client.get(path, headers=headers)
        if r.status_code == want:
            return time.monotonic() - start
        assert time.monotonic() - start < seconds, f"still {r.status_code} after {seconds}s"
        await asyncio.sleep(0.02)
