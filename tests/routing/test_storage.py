"""PgRoutingStore and the operator functions against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from routing.live import LiveRoutingTable
from routing.model import (
    Carrier,
    CarrierHealth,
    HealthSnapshot,
    PriceListOwner,
    RouteRequest,
    RouteRule,
    RuleAction,
    TariffRow,
)
from routing.operator import (
    explain,
    export_price_list,
    export_rate_card,
    import_price_list,
    import_rate_card,
)
from routing.storage import NOTIFY_CHANNEL, PgRoutingStore

UK = "447700900123"
HEADER = "prefix,cost,currency,effective_from\n"
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(database_url, min_size=1, max_size=3) as pool:
        yield pool


@pytest.fixture
async def store(pool: asyncpg.Pool) -> PgRoutingStore:
    store = PgRoutingStore(pool)
    await store.upsert_carrier(Carrier(id="alpha", name="Alpha Telecom", currency="EUR"))
    await store.upsert_carrier(Carrier(id="bravo", currency="EUR"))
    return store


def all_healthy(*carriers: str) -> HealthSnapshot:
    return HealthSnapshot({c: CarrierHealth(bound=True) for c in carriers})


def now_request(destination: str = UK, **kwargs: object) -> RouteRequest:
    return RouteRequest(destination=destination, now=datetime.now(UTC).timestamp(), **kwargs)  # type: ignore[arg-type]


async def test_carriers_round_trip(store: PgRoutingStore) -> None:
    await store.upsert_carrier(Carrier(id="bravo", name="Bravo", currency="EUR", enabled=False))
    assert await store.carriers() == [
        Carrier(id="alpha", name="Alpha Telecom", currency="EUR"),
        Carrier(id="bravo", name="Bravo", currency="EUR", enabled=False),
    ]


async def test_rate_card_import_reports_bad_rows_and_keeps_good_ones(store: PgRoutingStore) -> None:
    card = (
        HEADER + "44,0.0123,EUR,2026-01-01\n4477,abc,EUR,2026-01-01\n447,0.01,USD,2026-01-01\n33,0.02,EUR,\n"
    )
    report = await import_rate_card(store, "alpha", io.StringIO(card))
    assert report.imported == 2
    assert [(e.row, e.field) for e in report.errors] == [(3, "cost"), (4, "currency")]
    assert str(report).startswith("imported 2 rows, refused 2\nrow 3: cost: not a decimal number")
    stored = await store.rates("alpha")
    assert [(r.prefix, r.amount_micro) for r in stored] == [("33", 20_000), ("44", 12_300)]


async def test_rate_card_export_reimport_round_trip(store: PgRoutingStore, tmp_path: Path) -> None:
    card = (
        HEADER + "44,0.0123,EUR,2026-01-01\n44,0.011,EUR,2026-06-01T08:30:00+00:00\n4477,1.5,EUR,2026-01-01\n"
    )
    await import_rate_card(store, "alpha", io.StringIO(card))
    path = tmp_path / "alpha.csv"
    assert await export_rate_card(store, "alpha", path) == 3
    assert path.read_text() == card
    report = await import_rate_card(store, "bravo", path)
    assert report.imported == 3 and not report.errors
    assert await store.rates("bravo") == await store.rates("alpha")


async def test_reimport_upserts_and_replace_drops_the_old_card(store: PgRoutingStore) -> None:
    await import_rate_card(store, "alpha", io.StringIO(HEADER + "44,0.01,EUR,\n33,0.01,EUR,\n"))
    await import_rate_card(store, "alpha", io.StringIO(HEADER + "44,0.02,EUR,\n"))
    assert [(r.prefix, r.amount_micro) for r in await store.rates("alpha")] == [
        ("33", 10_000),
        ("44", 20_000),
    ]
    await import_rate_card(store, "alpha", io.StringIO(HEADER + "49,0.03,EUR,\n"), replace=True)
    assert [(r.prefix, r.amount_micro) for r in await store.rates("alpha")] == [("49", 30_000)]


async def test_unknown_carrier_import_is_refused(store: PgRoutingStore) -> None:
    with pytest.raises(LookupError):
        await import_rate_card(store, "ghost", io.StringIO(HEADER))


async def test_large_card_imports_through_copy(store: PgRoutingStore) -> None:
    lines = [HEADER] + [f"{440000 + i},0.{i % 1000:03d}5,EUR,2026-01-01\n" for i in range(20_000)]
    report = await import_rate_card(store, "alpha", io.StringIO("".join(lines)))
    assert report.imported == 20_000 and not report.errors
    table = await store.load_table()
    assert table.rate_count == 20_000
    assert table.select(now_request("44001234567"), all_healthy("alpha")).first.cost_micro == 12_500


async def test_price_lists_per_account_and_plan(store: PgRoutingStore, tmp_path: Path) -> None:
    await import_rate_card(store, "alpha", io.StringIO(HEADER + "44,0.01,EUR,\n"))
    gold = PriceListOwner(plan="gold")
    report = await import_price_list(store, gold, io.StringIO(HEADER + "44,0.03,EUR,\n"), currency="EUR")
    assert report.imported == 1
    mine = PriceListOwner(account_id=42)
    await import_price_list(store, mine, io.StringIO(HEADER + "4477,0.025,EUR,\n"), currency="EUR")
    await store.set_account_plan(42, "gold")
    await store.set_account_plan(43, "gold")
    table = await store.load_table()
    health = all_healthy("alpha", "bravo")
    assert table.select(now_request(account_id=42), health).price_micro == 25_000
    decision = table.select(now_request(account_id=43), health)
    assert (decision.price_micro, decision.margin_micro) == (30_000, 20_000)
    assert table.select(now_request("441234567890", account_id=42), health).price_micro == 30_000
    out = io.StringIO()
    assert await export_price_list(store, mine, out) == 1
    assert out.getvalue() == HEADER + "4477,0.025,EUR,1970-01-01\n"
    with pytest.raises(LookupError):
        await import_price_list(store, PriceListOwner(plan="none"), io.StringIO(HEADER))
    refused = await import_price_list(store, gold, io.StringIO(HEADER + "33,0.03,USD,\n"))
    assert [(e.row, e.field) for e in refused.errors] == [(2, "currency")]


async def test_rules_round_trip(store: PgRoutingStore) -> None:
    rule = RouteRule(
        priority=5,
        description="UK banks via bravo at night",
        account_ids=frozenset({1, 2}),
        groups=frozenset({"gold"}),
        sender_pattern=r"BANK\w*",
        prefixes=("44", "353"),
        destination_pattern=r"44\d+",
        window_start_minute=1320,
        window_end_minute=360,
        utc_offset_minutes=60,
        weekdays=frozenset({0, 1}),
        message_types=frozenset({"sms", "flash"}),
        action=RuleAction.WEIGHTED,
        carriers=("bravo", "alpha"),
        weights=(2, 1),
        exclude=(),
    )
    stored = await store.add_rule(rule)
    assert stored.id > 0
    assert stored == RouteRule(**{**{f: getattr(rule, f) for f in rule.__struct_fields__}, "id": stored.id})
    assert await store.rules() == [stored]
    assert (await store.load_table()).rules == (stored,)
    assert await store.delete_rule(stored.id)
    assert not await store.delete_rule(stored.id)
    assert await store.rules() == []


async def test_ported_numbers_are_consulted_first(store: PgRoutingStore) -> None:
    await import_rate_card(store, "alpha", io.StringIO(HEADER + "447,0.01,EUR,\n"))
    await import_rate_card(
        store, "bravo", io.StringIO("prefix,cost,currency,effective_from,mcc_mnc\n,0.005,EUR,,23415\n")
    )
    assert await store.set_ported([(UK, "23415")]) == 1
    table = await store.load_table()
    decision = table.select(now_request(), all_healthy("alpha", "bravo"))
    assert decision.mcc_mnc == "23415"
    assert [c.carrier for c in decision.routes] == ["bravo", "alpha"]
    assert await store.remove_ported([UK]) == 1
    table = await store.load_table()
    assert [c.carrier for c in table.select(now_request(), all_healthy("alpha", "bravo")).routes] == ["alpha"]


async def test_every_write_bumps_the_version(store: PgRoutingStore) -> None:
    seen = [await store.version()]
    await store.upsert_carrier(Carrier(id="charlie", currency="EUR"))
    seen.append(await store.version())
    await import_rate_card(store, "charlie", io.StringIO(HEADER + "44,0.01,EUR,\n"))
    seen.append(await store.version())
    await store.add_rule(RouteRule(action=RuleAction.BLOCK))
    seen.append(await store.version())
    await store.set_ported([(UK, "23415")])
    seen.append(await store.version())
    assert seen == sorted(set(seen))
    assert (await store.load_table()).version == seen[-1]


async def test_future_rates_take_effect_at_their_date(store: PgRoutingStore) -> None:
    soon = datetime.now(UTC) + timedelta(days=1)
    rows = [
        TariffRow(
            prefix="44", amount_micro=10_000, currency="EUR", effective_from=datetime(2020, 1, 1, tzinfo=UTC)
        ),
        TariffRow(prefix="44", amount_micro=8_000, currency="EUR", effective_from=soon),
    ]
    await store.import_rates("alpha", rows)
    table = await store.load_table()
    assert table.select(now_request(), all_healthy("alpha")).first.cost_micro == 10_000
    assert table.expires_at == soon.timestamp()
    assert not table.needs_rebuild(soon.timestamp() - 1) and table.needs_rebuild(soon.timestamp())
    later = await store.load_table(now=soon)
    assert later.select(now_request(), all_healthy("alpha")).first.cost_micro == 8_000
    assert later.expires_at is None


async def test_live_table_picks_up_changes_without_restart(store: PgRoutingStore) -> None:
    live = LiveRoutingTable(store)
    await live.load()
    health = all_healthy("alpha", "bravo")
    before = live.table
    assert not await live.refresh()  # nothing changed: no reload
    await import_rate_card(store, "alpha", io.StringIO(HEADER + "44,0.01,EUR,\n"))
    assert await live.refresh()
    assert live.table is not before
    assert live.table.select(now_request(), health).first.carrier == "alpha"
    await import_rate_card(store, "bravo", io.StringIO(HEADER + "447,0.005,EUR,\n"))
    await store.add_rule(RouteRule(prefixes=("4477",), action=RuleAction.LEAST_COST, exclude=("alpha",)))
    assert await live.refresh()
    assert [c.carrier for c in live.table.select(now_request(), health).routes] == ["bravo"]
    assert before.prefix_count == 0  # the old snapshot was never mutated


async def test_live_table_reloads_when_a_dated_rate_takes_effect(store: PgRoutingStore) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    await store.import_rates(
        "alpha", [TariffRow(prefix="44", amount_micro=5, currency="EUR", effective_from=soon)]
    )
    clock = [datetime.now(UTC).timestamp()]
    live = LiveRoutingTable(store, clock=lambda: clock[0])
    await live.load()
    assert not await live.refresh()
    clock[0] = soon.timestamp() + 1
    assert await live.refresh()  # version unchanged, but the table had expired


async def test_run_loop_reloads_after_notify(store: PgRoutingStore, pool: asyncpg.Pool) -> None:
    live = LiveRoutingTable(store)
    await live.load()
    changed = asyncio.Event()

    def on_notify(*_: object) -> None:  # what the engine wires: NOTIFY -> reload now
        live.notify()
        changed.set()

    async with pool.acquire() as listener:
        await listener.add_listener(NOTIFY_CHANNEL, on_notify)
        task = asyncio.create_task(live.run(poll_interval=3600))
        try:
            await import_rate_card(store, "alpha", io.StringIO(HEADER + "44,0.01,EUR,\n"))
            await asyncio.wait_for(changed.wait(), timeout=10)
            for _ in range(200):  # wait for the reload itself, not a fixed time
                if live.table.rate_count == 1:
                    break
                await asyncio.sleep(0.01)
            assert live.table.rate_count == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await listener.remove_listener(NOTIFY_CHANNEL, on_notify)


async def test_explain_for_the_cli(store: PgRoutingStore) -> None:
    await import_rate_card(store, "alpha", io.StringIO(HEADER + "44,0.01,EUR,\n"))
    await import_rate_card(store, "bravo", io.StringIO(HEADER + "4477,0.02,EUR,\n"))
    await store.upsert_carrier(Carrier(id="charlie", currency="EUR"))
    text = await explain(store, "+447700900123")
    assert "Routes for +447700900123" in text
    assert "assumed bound and healthy" in text
    assert "1. alpha" in text and "0.01 EUR" in text and "chosen: least cost" in text
    assert "2. bravo" in text and "failover 1" in text
    assert "charlie" in text and "no rate for this destination" in text
    unhealthy = HealthSnapshot({"alpha": CarrierHealth(bound=False), "bravo": CarrierHealth(bound=True)})
    text = await explain(store, "07700900123", default_region="GB", health=unhealthy)
    assert "alpha" in text and "excluded: not bound" in text and "1. bravo" in text
    assert "invalid destination: ALPHANUMERIC" in await explain(store, "hello")
