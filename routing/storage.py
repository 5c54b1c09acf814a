"""Where routing data lives: the narrow `RoutingStore` interface and its one real implementation on asyncpg.

The engine and the operator functions talk to `RoutingStore` only; `PgRoutingStore` is the PostgreSQL
implementation (tables in routing/migrations/0001_routing.sql). Bulk imports go through COPY into a
temporary table and one INSERT ... ON CONFLICT, so a 100,000-row card is one round trip of data and one
statement. `load_table` reads everything in one REPEATABLE READ transaction, so the snapshot and the
`version` it carries are consistent. asyncpg errors are not translated here: the callers are the engine's
composition root and the CLI, which report them. This module never makes a routing decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from routing.model import (
    Carrier,
    Price,
    PriceListOwner,
    Rate,
    RouteRule,
    RuleAction,
    TariffRow,
)
from routing.table import RoutingTable

NOTIFY_CHANNEL = "routing_changed"  # the migration's trigger NOTIFYs here with the new version


class RoutingStore(Protocol):
    """Everything routing needs from storage."""

    async def upsert_carrier(self, carrier: Carrier) -> None: ...
    async def carriers(self) -> list[Carrier]: ...
    async def import_rates(
        self, carrier: str, rows: Sequence[TariffRow], *, replace: bool = False
    ) -> int: ...
    async def rates(self, carrier: str) -> list[TariffRow]: ...
    async def ensure_price_list(self, owner: PriceListOwner, currency: str) -> str: ...
    async def import_prices(
        self, owner: PriceListOwner, rows: Sequence[TariffRow], *, replace: bool = False
    ) -> int: ...
    async def prices(self, owner: PriceListOwner) -> list[TariffRow]: ...
    async def set_account_plan(self, account_id: int, plan: str | None) -> None: ...
    async def add_rule(self, rule: RouteRule) -> RouteRule: ...
    async def delete_rule(self, rule_id: int) -> bool: ...
    async def rules(self) -> list[RouteRule]: ...
    async def set_ported(self, entries: Iterable[tuple[str, str]]) -> int: ...
    async def remove_ported(self, numbers: Iterable[str]) -> int: ...
    async def version(self) -> int: ...
    async def load_table(self, now: datetime | None = None) -> RoutingTable: ...


_TARIFF_COLUMNS = ("prefix", "mcc_mnc", "amount", "currency", "effective_from")

_RULE_COLUMNS = (
    "priority, description, account_ids, groups, sender_pattern, prefixes, destination_pattern,"
    " window_start_minute, window_end_minute, utc_offset_minutes, weekdays, message_types, action,"
    " carriers, weights, exclude"
)


def _rule_from_record(r: asyncpg.Record) -> RouteRule:
    return RouteRule(
        id=r["id"],
        priority=r["priority"],
        description=r["description"],
        account_ids=frozenset(r["account_ids"]),
        groups=frozenset(r["groups"]),
        sender_pattern=r["sender_pattern"],
        prefixes=tuple(r["prefixes"]),
        destination_pattern=r["destination_pattern"],
        window_start_minute=r["window_start_minute"],
        window_end_minute=r["window_end_minute"],
        utc_offset_minutes=r["utc_offset_minutes"],
        weekdays=frozenset(r["weekdays"]),
        message_types=frozenset(r["message_types"]),
        action=RuleAction(r["action"]),
        carriers=tuple(r["carriers"]),
        weights=tuple(r["weights"]),
        exclude=tuple(r["exclude"]),
    )


def _tariff_from_record(r: asyncpg.Record) -> TariffRow:
    return TariffRow(
        prefix=r["prefix"],
        mcc_mnc=r["mcc_mnc"],
        amount_micro=r["amount"],
        currency=r["currency"],
        effective_from=r["effective_from"],
    )


class PgRoutingStore:
    """RoutingStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert_carrier(self, carrier: Carrier) -> None:
        await self._pool.execute(
            """INSERT INTO routing_carriers (carrier, name, currency, enabled) VALUES ($1, $2, $3, $4)
               ON CONFLICT (carrier) DO UPDATE
               SET name = EXCLUDED.name, currency = EXCLUDED.currency, enabled = EXCLUDED.enabled""",
            carrier.id,
            carrier.name,
            carrier.currency,
            carrier.enabled,
        )

    async def carriers(self) -> list[Carrier]:
        rows = await self._pool.fetch(
            "SELECT carrier, name, currency, enabled FROM routing_carriers ORDER BY carrier"
        )
        return [
            Carrier(id=r["carrier"], name=r["name"], currency=r["currency"], enabled=r["enabled"])
            for r in rows
        ]

    async def _copy_tariff(
        self, table: str, key_column: str, key: Any, rows: Sequence[TariffRow], replace: bool
    ) -> int:
        amount_column = "cost_micro" if table == "routing_rates" else "price_micro"
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """CREATE TEMP TABLE routing_tariff_in (
                       prefix text, mcc_mnc text, amount bigint, currency text, effective_from timestamptz
                   ) ON COMMIT DROP"""
            )
            await conn.copy_records_to_table(
                "routing_tariff_in",
                records=[(r.prefix, r.mcc_mnc, r.amount_micro, r.currency, r.effective_from) for r in rows],
                columns=_TARIFF_COLUMNS,
            )
            if replace:
                await conn.execute(f"DELETE FROM {table} WHERE {key_column} = $1", key)
            # Identifiers come from this module's constants, never from callers.
            status = await conn.execute(
                f"""INSERT INTO {table}
                        ({key_column}, prefix, mcc_mnc, {amount_column}, currency, effective_from)
                    SELECT $1, prefix, mcc_mnc, amount, currency, effective_from FROM routing_tariff_in
                    ON CONFLICT ({key_column}, prefix, mcc_mnc, effective_from) DO UPDATE
                    SET {amount_column} = EXCLUDED.{amount_column}, currency = EXCLUDED.currency""",
                key,
            )
        return int(status.rsplit(" ", 1)[1])

    async def import_rates(self, carrier: str, rows: Sequence[TariffRow], *, replace: bool = False) -> int:
        """Upsert rows by (prefix, mcc_mnc, effective_from); `replace` first drops the whole card."""
        return await self._copy_tariff("routing_rates", "carrier", carrier, rows, replace)

    async def rates(self, carrier: str) -> list[TariffRow]:
        """The carrier's whole card, every effective date, in prefix order."""
        rows = await self._pool.fetch(
            """SELECT prefix, mcc_mnc, cost_micro AS amount, currency, effective_from FROM routing_rates
               WHERE carrier = $1 ORDER BY prefix, mcc_mnc, effective_from""",
            carrier,
        )
        return [_tariff_from_record(r) for r in rows]

    async def _price_list_id(self, owner: PriceListOwner) -> int | None:
        value = await self._pool.fetchval(
            "SELECT id FROM routing_price_lists WHERE account_id = $1 OR plan = $2",
            owner.account_id,
            owner.plan,
        )
        return int(value) if value is not None else None

    async def ensure_price_list(self, owner: PriceListOwner, currency: str) -> str:
        """Create the owner's price list if missing; return its currency (an existing list keeps its own)."""
        await self._pool.execute(
            """INSERT INTO routing_price_lists (account_id, plan, currency) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING""",
            owner.account_id,
            owner.plan,
            currency,
        )
        found = await self._pool.fetchval(
            "SELECT currency FROM routing_price_lists WHERE account_id = $1 OR plan = $2",
            owner.account_id,
            owner.plan,
        )
        return str(found)

    async def import_prices(
        self, owner: PriceListOwner, rows: Sequence[TariffRow], *, replace: bool = False
    ) -> int:
        """Upsert rows into the owner's price list (which must exist: see ensure_price_list)."""
        list_id = await self._price_list_id(owner)
        if list_id is None:
            raise LookupError(f"no price list for {owner}")
        return await self._copy_tariff("routing_prices", "price_list_id", list_id, rows, replace)

    async def prices(self, owner: PriceListOwner) -> list[TariffRow]:
        rows = await self._pool.fetch(
            """SELECT p.prefix, p.mcc_mnc, p.price_micro AS amount, p.currency, p.effective_from
               FROM routing_prices p JOIN routing_price_lists l ON l.id = p.price_list_id
               WHERE l.account_id = $1 OR l.plan = $2 ORDER BY p.prefix, p.mcc_mnc, p.effective_from""",
            owner.account_id,
            owner.plan,
        )
        return [_tariff_from_record(r) for r in rows]

    async def set_account_plan(self, account_id: int, plan: str | None) -> None:
        if plan is None:
            await self._pool.execute("DELETE FROM routing_account_plans WHERE account_id = $1", account_id)
            return
        await self._pool.execute(
            """INSERT INTO routing_account_plans (account_id, plan) VALUES ($1, $2)
               ON CONFLICT (account_id) DO UPDATE SET plan = EXCLUDED.plan""",
            account_id,
            plan,
        )

    async def add_rule(self, rule: RouteRule) -> RouteRule:
        """Store a rule (its `id` is ignored); return it with the id the database gave it."""
        record = await self._pool.fetchrow(
            f"""INSERT INTO routing_rules ({_RULE_COLUMNS})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                RETURNING id, {_RULE_COLUMNS}""",
            rule.priority,
            rule.description,
            sorted(rule.account_ids),
            sorted(rule.groups),
            rule.sender_pattern,
            list(rule.prefixes),
            rule.destination_pattern,
            rule.window_start_minute,
            rule.window_end_minute,
            rule.utc_offset_minutes,
            sorted(rule.weekdays),
            sorted(rule.message_types),
            rule.action.value,
            list(rule.carriers),
            list(rule.weights),
            list(rule.exclude),
        )
        assert record is not None  # INSERT ... RETURNING always returns the row
        return _rule_from_record(record)

    async def delete_rule(self, rule_id: int) -> bool:
        status = await self._pool.execute("DELETE FROM routing_rules WHERE id = $1", rule_id)
        return bool(status != "DELETE 0")

    async def rules(self) -> list[RouteRule]:
        rows = await self._pool.fetch(
            f"SELECT id, {_RULE_COLUMNS} FROM routing_rules WHERE enabled ORDER BY priority, id"
        )
        return [_rule_from_record(r) for r in rows]

    async def set_ported(self, entries: Iterable[tuple[str, str]]) -> int:
        """Record (number, MCC-MNC) pairs, replacing earlier entries for the same numbers."""
        batch = list(entries)
        await self._pool.executemany(
            """INSERT INTO routing_ported_numbers (number, mcc_mnc) VALUES ($1, $2)
               ON CONFLICT (number) DO UPDATE SET mcc_mnc = EXCLUDED.mcc_mnc, updated_at = now()""",
            batch,
        )
        return len(batch)

    async def remove_ported(self, numbers: Iterable[str]) -> int:
        status = await self._pool.execute(
            "DELETE FROM routing_ported_numbers WHERE number = ANY($1::text[])", list(numbers)
        )
        return int(status.rsplit(" ", 1)[1])

    async def version(self) -> int:
        """The change counter every write to a routing table bumps; cheap enough to poll every second."""
        return int(await self._pool.fetchval("SELECT version FROM routing_version"))

    async def load_table(self, now: datetime | None = None) -> RoutingTable:
        """A consistent snapshot of everything, with the rates and prices effective at `now`."""
        as_of = now or datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            version = await conn.fetchval("SELECT version FROM routing_version")
            carrier_rows = await conn.fetch("SELECT carrier, name, currency, enabled FROM routing_carriers")
            rate_rows = await conn.fetch(
                """SELECT DISTINCT ON (carrier, prefix, mcc_mnc)
                          carrier, prefix, mcc_mnc, cost_micro, currency
                   FROM routing_rates WHERE effective_from <= $1
                   ORDER BY carrier, prefix, mcc_mnc, effective_from DESC""",
                as_of,
            )
            price_rows = await conn.fetch(
                """SELECT DISTINCT ON (p.price_list_id, p.prefix, p.mcc_mnc)
                          l.account_id, l.plan, p.prefix, p.mcc_mnc, p.price_micro, p.currency
                   FROM routing_prices p JOIN routing_price_lists l ON l.id = p.price_list_id
                   WHERE p.effective_from <= $1
                   ORDER BY p.price_list_id, p.prefix, p.mcc_mnc, p.effective_from DESC""",
                as_of,
            )
            next_change = await conn.fetchval(
                """SELECT min(t) FROM (
                       SELECT min(effective_from) AS t FROM routing_rates WHERE effective_from > $1
                       UNION ALL
                       SELECT min(effective_from) FROM routing_prices WHERE effective_from > $1) AS future""",
                as_of,
            )
            plans = await conn.fetch("SELECT account_id, plan FROM routing_account_plans")
            ported = await conn.fetch("SELECT number, mcc_mnc FROM routing_ported_numbers")
            rule_rows = await conn.fetch(
                f"SELECT id, {_RULE_COLUMNS} FROM routing_rules WHERE enabled ORDER BY priority, id"
            )
        owners: dict[tuple[int | None, str | None], PriceListOwner] = {}
        for r in price_rows:
            key = (r["account_id"], r["plan"])
            if key not in owners:
                owners[key] = PriceListOwner(account_id=key[0], plan=key[1])
        return RoutingTable(
            carriers=[
                Carrier(id=r["carrier"], name=r["name"], currency=r["currency"], enabled=r["enabled"])
                for r in carrier_rows
            ],
            rates=[
                Rate(
                    carrier=r["carrier"],
                    prefix=r["prefix"],
                    mcc_mnc=r["mcc_mnc"],
                    cost_micro=r["cost_micro"],
                    currency=r["currency"],
                )
                for r in rate_rows
            ],
            rules=[_rule_from_record(r) for r in rule_rows],
            prices=[
                Price(
                    owner=owners[(r["account_id"], r["plan"])],
                    prefix=r["prefix"],
                    mcc_mnc=r["mcc_mnc"],
                    price_micro=r["price_micro"],
                    currency=r["currency"],
                )
                for r in price_rows
            ],
            account_plans={r["account_id"]: r["plan"] for r in plans},
            ported={r["number"]: r["mcc_mnc"] for r in ported},
            version=int(version),
            expires_at=next_change.timestamp() if next_change is not None else None,
        )
