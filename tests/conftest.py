"""Real PostgreSQL and Redis for the suite, through the engine's own switch.

With SMSENGINE_DATABASE_URL / SMSENGINE_REDIS_URL set (.ci/run sets them where servers run) the suite uses
those servers; otherwise it starts the embedded ones once per session. Every test that asks for
`database_url` gets a fresh database cloned from a migrated template, so tests never see each other's
rows; every test that asks for `redis_url` gets its own key prefix, removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis

from engine.schema import apply_migrations
from engine.services import ServiceUrls, provide_services


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (works for TCP and unix-socket URLs)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _admin(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def service_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceUrls]:
    data_dir = Path(os.environ.get("SMSENGINE_TEST_DATA_DIR") or tmp_path_factory.mktemp("services"))
    with provide_services(
        os.environ.get("SMSENGINE_DATABASE_URL", ""), os.environ.get("SMSENGINE_REDIS_URL", ""), data_dir
    ) as urls:
        yield urls


@pytest.fixture(scope="session")
def template_database(service_urls: ServiceUrls) -> Iterator[str]:
    name = f"smsengine_tmpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(service_urls.database_url, f'CREATE DATABASE "{name}"'))
    asyncio.run(_migrate(with_database(service_urls.database_url, name)))
    yield name
    asyncio.run(_admin(service_urls.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(service_urls: ServiceUrls, template_database: str) -> Iterator[str]:
    """A fresh, fully migrated database for this test alone."""
    name = f"smsengine_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(service_urls.database_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    yield with_database(service_urls.database_url, name)
    asyncio.run(_admin(service_urls.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_prefix(service_urls: ServiceUrls) -> Iterator[str]:
    """A key prefix private to this test; its keys are deleted afterwards."""
    prefix = f"smsengine-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis.Redis.from_url(service_urls.redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_url(service_urls: ServiceUrls) -> str:
    return service_urls.redis_url
