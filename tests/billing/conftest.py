"""Fixtures for the ledger tests: a connection to a fresh migrated database, and a funded account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from billing import open_account, top_up


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    connection: asyncpg.Connection[Any] = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def funded(conn: asyncpg.Connection[Any], account_id: int, amount: int, **policy: Any) -> None:
    """Open `account_id` in EUR with `policy` and top it up by `amount` micro-units."""
    await open_account(conn, account_id, "EUR", **policy)
    if amount:
        await top_up(conn, account_id, amount, key=f"seed-{account_id}")
