"""Schema migrations: ordered .sql files, applied once each, at start.

Each package owns its tables: `routing/migrations/`, `billing/migrations/`, `engine/migrations/`,
`http_api/migrations/`, applied in that order (a package's tables may refer to earlier packages' ones,
never the reverse), each directory in file-name order. Applied files are recorded in `schema_migrations`;
a PostgreSQL advisory lock makes concurrent starts of several engine processes safe.
"""

from __future__ import annotations

from importlib import resources

import asyncpg
import asyncpg.pool

PACKAGES = ("routing", "billing", "engine", "http_api")
_LOCK_KEY = 0x5D5E6E1  # any constant: serialises migrations across processes


def migration_files() -> list[tuple[str, str, str]]:
    """(package, file name, sql) for every migration, in the order they apply."""
    out: list[tuple[str, str, str]] = []
    for package in PACKAGES:
        folder = resources.files(package) / "migrations"
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".sql"):
                out.append((package, entry.name, entry.read_text()))
    return out


async def apply_migrations(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> list[str]:
    """Apply every migration not applied yet; return the names applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   package text NOT NULL,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (package, name))"""
        )
        done = {
            (r["package"], r["name"]) for r in await conn.fetch("SELECT package, name FROM schema_migrations")
        }
        for package, name, sql in migration_files():
            if (package, name) in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (package, name) VALUES ($1, $2)", package, name
                )
            applied_now.append(f"{package}/{name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
