"""The webhook outbox against a real PostgreSQL: transactional emit, the no-query hot path, delivery with
an injected retry table, and two senders sharing the table without delivering a row twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from engine.admin.provision import create_account
from engine.outbox.url_guard import TargetPolicy
from engine.outbox.webhooks import WebhookEvent, WebhookSender, emit_events, message_event_name
from tests.http_api.test_webhooks_support import receiver, verify


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=6)
    assert p is not None
    try:
        yield p
    finally:
        await p.close()


async def webhook(pool: asyncpg.Pool, account: int, url: str, events: list[str], active: bool = True) -> int:
    wid: int = await pool.fetchval(
        "INSERT INTO webhooks (account_id, url, events, secret, active) VALUES ($1, $2, $3, 'whsec_t', $4)"
        " RETURNING id",
        account, url, events, active,
    )  # fmt: skip
    return wid


class NoQueries:
    """A connection that must not be used."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a query ({name}) on the hot path of an account without webhooks")


def test_final_statuses_map_to_three_events() -> None:
    statuses = ("delivered", "expired", "undeliverable", "rejected", "failed")
    assert [message_event_name(s) for s in statuses] == [
        "message.delivered", "message.expired", "message.failed", "message.failed", "message.failed",
    ]  # fmt: skip


async def test_an_event_is_stored_exactly_when_the_callers_transaction_commits(pool: asyncpg.Pool) -> None:
    a = await create_account(pool, "a")
    b = await create_account(pool, "b")
    subscribed = await webhook(pool, a, "https://a.example/1", ["message.delivered", "opt_out"])
    await webhook(pool, a, "https://a.example/off", ["message.delivered"], active=False)
    await webhook(pool, a, "https://a.example/low", ["balance.low"])
    events = [
        WebhookEvent(a, "message.delivered", {"message_id": "m1"}),
        WebhookEvent(b, "message.delivered", {"message_id": "m2"}),  # b has no webhook
        WebhookEvent(a, "message.received", {"text": "hi"}),  # nobody subscribed
    ]
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            assert await emit_events(conn, events) == 1
            raise RuntimeError("the state change failed")
    assert await pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    async with pool.acquire() as conn, conn.transaction():
        assert await emit_events(conn, events) == 1
        assert await emit_events(conn, []) == 0
    row = await pool.fetchrow("SELECT webhook_id, account_id, event, data, status FROM webhook_deliveries")
    assert row is not None and (row["webhook_id"], row["account_id"], row["event"], row["status"]) == (
        subscribed, a, "message.delivered", "pending",
    )  # fmt: skip


async def test_accounts_without_webhooks_cost_no_query(pool: asyncpg.Pool) -> None:
    a = await create_account(pool, "a")
    b = await create_account(pool, "b")
    await webhook(pool, a, "https://a.example/1", ["opt_out"])
    sender = WebhookSender(pool)
    try:
        quiet = [WebhookEvent(b, "opt_out", {})]
        with pytest.raises(AssertionError):  # before the first load the directory cannot say no
            await sender.emit(NoQueries(), quiet)
        await sender.directory.refresh(pool)
        assert await sender.emit(NoQueries(), quiet) == 0
        async with pool.acquire() as conn, conn.transaction():
            assert await sender.emit(conn, [WebhookEvent(a, "opt_out", {}), *quiet]) == 1
        sender.directory.add(b)  # a webhook created through the API: effective at once
        with pytest.raises(AssertionError):
            await sender.emit(NoQueries(), quiet)
    finally:
        await sender.close()


async def test_two_senders_deliver_every_row_once_retrying_failures(pool: asyncpg.Pool) -> None:
    a = await create_account(pool, "a")
    async with receiver([500, 502]) as hook:
        await webhook(pool, a, hook.url, ["opt_out"])
        async with pool.acquire() as conn, conn.transaction():
            events = [WebhookEvent(a, "opt_out", {"n": n}) for n in range(6)]
            assert await emit_events(conn, events) == 6
        loopback = TargetPolicy.parse("127.0.0.1")  # the receiver of this test
        senders = [
            WebhookSender(pool, schedule=(0.02, 0.05, 0.1), sweep_interval=0.2, targets=loopback)
            for _ in range(2)
        ]
        for s in senders:
            s.start()
        try:
            got = [await hook.next() for _ in range(8)]  # six rows, two of them answered 5xx once
            assert all(verify("whsec_t", r) for r in got)
            ok = [r.headers["x-webhook-id"] for r in got if r.answered == 200]
            assert len(ok) == len(set(ok)) == 6
            assert sorted(r.json()["data"]["n"] for r in got if r.answered == 200) == list(range(6))
            undelivered = "SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'"
            async with asyncio.timeout(30):
                # the last attempt is recorded just after its answer, by either sender: poll the table
                while True:
                    if not await pool.fetchval(undelivered):
                        break
                    await asyncio.sleep(0.02)
            assert hook.requests.empty()
            retried = await pool.fetch(
                "SELECT delivery_id, array_agg(status_code ORDER BY attempt) AS codes FROM webhook_attempts"
                " GROUP BY delivery_id HAVING count(*) > 1"
            )
            assert all(r["codes"][-1] == 200 for r in retried)
            assert sorted(c for r in retried for c in r["codes"][:-1]) == [500, 502]
        finally:
            for s in senders:
                await s.close()
