"""What every benchmark sets up the same way: the servers and a database of its own on them.

    async with scratch_database(server_url) as url:   # created empty, dropped (forced) afterwards
        ...

`bench_services(prefix)` is `provide_services` with SMSENGINE_DATABASE_URL / SMSENGINE_REDIS_URL when
they are set and embedded servers in a temporary directory otherwise.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

from engine.infra.services import ServiceUrls, provide_services, with_database


@contextlib.contextmanager
def bench_services(prefix: str, data_dir: Path | None = None) -> Iterator[ServiceUrls]:
    directory = data_dir or Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    with provide_services(
        os.environ.get("SMSENGINE_DATABASE_URL", ""), os.environ.get("SMSENGINE_REDIS_URL", ""), directory
    ) as urls:
        yield urls


@contextlib.asynccontextmanager
async def scratch_database(server_url: str, prefix: str = "smsengine_bench") -> AsyncIterator[str]:
    """The URL of a new, empty database on the server of `server_url`, dropped when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield with_database(server_url, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
