import asyncpg

from engine.infra.schema import apply_migrations, migration_files


async def test_migrations_are_applied_once_and_recorded(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        # the template was migrated already: a second start applies nothing
        assert await apply_migrations(conn) == []
        recorded = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        assert recorded == len(migration_files())
        assert await conn.fetchval("SELECT to_regclass('accounts') IS NOT NULL")
    finally:
        await conn.close()
