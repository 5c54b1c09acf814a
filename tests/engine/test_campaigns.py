"""The campaign state table, template rendering, and the runner across an engine restart: recipients
released before the stop are never sent again (even one whose message was committed but not yet marked
released when the process stopped), and the rest are sent after the restart."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from engine.admin.provision import add_carrier, add_funds, create_account, flat_tariff, set_prices, set_rates
from engine.app import Engine
from engine.campaigns.runner import ACTIONS, STATES, render, transition
from engine.carriers.link import CarrierConnection
from engine.infra.services import ServiceUrls
from engine.infra.settings import load_settings
from engine.simulation.carrier import CarrierSimulator
from tests.engine.harness import ALL_PREFIXES

WAIT = 30.0

# Every (action, state) pair: where it leads, or None (the API answers 409 CONFLICT).
EXPECTED = {
    "submit": {"draft": "pending_approval"},
    "approve": {"pending_approval": "approved"},
    "reject": {"pending_approval": "rejected"},
    "schedule": {s: s for s in ("draft", "pending_approval", "approved")},
    "pause": {"sending": "paused"},
    "resume": {"paused": "sending"},
    "cancel": {s: "cancelled" for s in ("draft", "pending_approval", "approved", "sending", "paused")},
}


def test_every_action_in_every_state_is_a_transition_or_refused() -> None:
    assert set(ACTIONS) == set(EXPECTED)
    for action in ACTIONS:
        for state in STATES:
            assert transition(action, state) == EXPECTED[action].get(state), (action, state)
    # an account trusted to skip approval: submit approves at once, and nothing else changes
    assert transition("submit", "draft", trusted=True) == "approved"
    assert transition("submit", "paused", trusted=True) is None
    assert transition("approve", "draft", trusted=True) is None


def test_render_fills_placeholders_and_names_a_missing_one() -> None:
    assert render("Hi {{ name }}, {{code}}!", {"name": "Ann", "code": 7}) == "Hi Ann, 7!"
    with pytest.raises(KeyError, match="code"):
        render("Hi {{name}} {{code}}", {"name": "Ann"})


async def _provision(pool: asyncpg.Pool, sim: CarrierSimulator) -> int:
    sim_connection = CarrierConnection(
        carrier="sim", host="127.0.0.1", port=sim.port, system_id="engine", password="pw", throughput=10_000
    )
    await add_carrier(pool, sim_connection)
    await set_rates(pool, "sim", flat_tariff(ALL_PREFIXES, 3_000))
    account = await create_account(pool, "acme")
    await add_funds(pool, account, 100_000_000)
    await set_prices(pool, account, flat_tariff(ALL_PREFIXES, 5_000))
    return account


async def _count(pool: asyncpg.Pool, sql: str, *args: object) -> int:
    return int(await pool.fetchval(sql, *args))


async def _until(check: object) -> None:
    assert callable(check)
    # What is awaited is a count in PostgreSQL: there is no in-process event to wait on.
    async with asyncio.timeout(WAIT):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def test_restart_mid_campaign_resumes_without_sending_anyone_twice(
    database_url: str, redis_url: str
) -> None:
    count = 60
    settings = load_settings(
        None, env={}, smpp={"port": 0, "enquire_link_interval": 30}, database={"pool_max": 8}
    )
    urls = ServiceUrls(database_url, redis_url)
    async with CarrierSimulator() as sim:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        assert pool is not None
        try:
            account = await _provision(pool, sim)
            campaign = await pool.fetchval(
                "INSERT INTO campaigns (account_id, name, source, body, send_rate, state) "
                "VALUES ($1, 'c', 'Acme', 'Hi {{name}}', 30, 'sending') RETURNING id",
                account,
            )
            await pool.executemany(
                "INSERT INTO campaign_recipients (campaign_id, seq, destination, variables) "
                "VALUES ($1, $2, $3, $4)",
                [(campaign, i, f"4477009{i:05d}", json.dumps({"name": f"n{i}"})) for i in range(count)],
            )
            messages = "SELECT count(*) FROM messages WHERE campaign_id = $1"

            async def some_sent() -> bool:
                return await _count(pool, messages, campaign) >= 10

            async with Engine.start(settings, urls) as engine:
                await engine.links["sim"].wait_all_bound()
                engine.refresh_health()
                await _until(some_sent)
            before = await _count(pool, messages, campaign)
            released = (
                "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND state = 'released'"
            )
            assert 10 <= before < count and await _count(pool, released, campaign) == before
            # As if the process had died between the commit of these messages and the marking of their
            # recipients: the next engine must find the messages and not send them again.
            reset = await pool.fetch(
                "UPDATE campaign_recipients SET state = 'pending', message_id = NULL, released_at = NULL "
                "WHERE campaign_id = $1 AND seq IN (SELECT seq FROM campaign_recipients "
                "WHERE campaign_id = $1 AND state = 'released' ORDER BY seq DESC LIMIT 3) "
                "RETURNING destination",
                campaign,
            )
            assert len(reset) == 3

            async def completed() -> bool:
                state = await pool.fetchval("SELECT state FROM campaigns WHERE id = $1", campaign)
                return bool(state == "completed")

            async with Engine.start(settings, urls) as engine:
                await engine.links["sim"].wait_all_bound()
                engine.refresh_health()
                await _until(completed)
            assert await _count(pool, messages, campaign) == count
            distinct = "SELECT count(DISTINCT destination) FROM messages WHERE campaign_id = $1"
            assert await _count(pool, distinct, campaign) == count
            matched = """SELECT count(*) FROM campaign_recipients r JOIN messages m ON m.id = r.message_id
                WHERE r.campaign_id = $1 AND r.state = 'released' AND m.destination = r.destination"""
            assert await _count(pool, matched, campaign) == count
            assert sim.accepted == count  # the carrier saw each recipient once
        finally:
            await pool.close()
