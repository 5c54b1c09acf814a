"""Operator actions the engine's CLI wires up: CSV import/export of rate cards and price lists, and explain.

Plain async functions over a RoutingStore, each taking a text stream or a file path. File reading and CSV
parsing run in a worker thread (asyncio.to_thread) so a 100,000-row card does not stall the event loop of
a running engine. Bad rows never abort an import: the good rows are stored and the report lists the rest.
These functions never print; the CLI decides how to show their results.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path
from typing import TextIO

import msgspec

from routing.explain import explain_route
from routing.model import CarrierHealth, HealthSnapshot, PriceListOwner, RouteRequest, TariffRow
from routing.numbers import InvalidDestination, Npi, Ton, normalise_destination
from routing.storage import RoutingStore
from routing.tariff_csv import ParsedTariff, RowError, parse_tariff, write_tariff

Source = TextIO | str | os.PathLike[str]  # a text stream, or the path of a CSV file


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    """What an import did: rows stored, and one error per refused row (line number, field, reason)."""

    imported: int
    errors: list[RowError]

    def __str__(self) -> str:
        lines = [f"imported {self.imported} rows, refused {len(self.errors)}"]
        lines.extend(str(e) for e in self.errors)
        return "\n".join(lines)


def _parse(source: Source, currency: str | None) -> ParsedTariff:
    if isinstance(source, (str, os.PathLike)):
        with Path(source).open(newline="", encoding="utf-8-sig") as stream:
            return parse_tariff(stream, currency=currency)
    return parse_tariff(source, currency=currency)


def _write(rows: list[TariffRow], dest: Source) -> int:
    buffer = io.StringIO()
    count = write_tariff(rows, buffer)
    if isinstance(dest, (str, os.PathLike)):
        Path(dest).write_text(buffer.getvalue(), encoding="utf-8")
    else:
        dest.write(buffer.getvalue())
    return count


async def import_rate_card(
    store: RoutingStore, carrier: str, source: Source, *, replace: bool = False
) -> ImportReport:
    """Import a carrier's rate card CSV; `replace` drops its previous card in the same transaction."""
    known = {c.id: c for c in await store.carriers()}
    if carrier not in known:
        raise LookupError(f"unknown carrier {carrier!r}")
    parsed = await asyncio.to_thread(_parse, source, known[carrier].currency)
    imported = (
        await store.import_rates(carrier, parsed.rows, replace=replace) if parsed.rows or replace else 0
    )
    return ImportReport(imported=imported, errors=parsed.errors)


async def export_rate_card(store: RoutingStore, carrier: str, dest: Source) -> int:
    """Write a carrier's whole card (every effective date) as CSV; return the number of rows."""
    rows = await store.rates(carrier)
    return await asyncio.to_thread(_write, rows, dest)


async def import_price_list(
    store: RoutingStore,
    owner: PriceListOwner,
    source: Source,
    *,
    currency: str | None = None,
    replace: bool = False,
) -> ImportReport:
    """Import a price list CSV for an account or a plan, creating the list (in `currency`) if needed."""
    list_currency = await store.ensure_price_list(owner, currency) if currency else None
    if list_currency is None:
        existing = await store.prices(owner)
        if not existing:
            raise LookupError(f"no price list for {owner}: give its currency to create it")
        list_currency = existing[0].currency
    parsed = await asyncio.to_thread(_parse, source, list_currency)
    imported = await store.import_prices(owner, parsed.rows, replace=replace) if parsed.rows or replace else 0
    return ImportReport(imported=imported, errors=parsed.errors)


async def export_price_list(store: RoutingStore, owner: PriceListOwner, dest: Source) -> int:
    """Write an account's or plan's price list as CSV; return the number of rows."""
    rows = await store.prices(owner)
    return await asyncio.to_thread(_write, rows, dest)


async def explain(
    store: RoutingStore,
    number: str,
    *,
    account_id: int | None = None,
    group: str | None = None,
    sender: str = "",
    message_type: str = "sms",
    ton: int = Ton.UNKNOWN,
    npi: int = Npi.ISDN,
    default_region: str | None = None,
    health: HealthSnapshot | None = None,
    now: float | None = None,
    rand: float = 0.0,
) -> str:
    """How `number` would be routed now: every carrier considered, its cost, chosen/ranked/excluded and why.

    Without a health snapshot (the CLI runs outside the engine) every carrier is assumed bound and healthy,
    and the text says so.
    """
    try:
        digits = normalise_destination(number, ton=ton, npi=npi, default_region=default_region)
    except InvalidDestination as exc:
        return f"Routes for {number!r}\nResult: invalid destination: {exc.reason.value} {exc.detail}".rstrip()
    table = await store.load_table()
    note = ""
    if health is None:
        health = HealthSnapshot(carriers={c: CarrierHealth(bound=True) for c in table.carriers})
        note = "not supplied; every carrier assumed bound and healthy"
    request = RouteRequest(
        destination=digits,
        now=time.time() if now is None else now,
        account_id=account_id,
        group=group,
        sender=sender,
        message_type=message_type,
        rand=rand,
    )
    return explain_route(table, request, health, health_note=note)
