"""Rate cards and price lists as CSV: `prefix,cost,currency,effective_from[,mcc_mnc]`, both directions.

Parsing is per row and forgiving of the file, strict of the values: a bad row becomes a RowError (line
number as a spreadsheet shows it, field, reason) and the good rows are still returned, so an operator fixes
only what is wrong. Amounts are decimal strings turned into integer micro-units exactly through Decimal
(a value needing more than 6 decimals, a negative one, NaN or infinity is refused; trailing zeros are
harmless: 0.1230000 is exactly 123,000 micro-units). Pure: streams in, values out; no database here.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TextIO

import msgspec

from routing.model import RoutingError, TariffRow

MICRO = 1_000_000
MAX_MICRO = 2**63 - 1  # a PostgreSQL bigint
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REQUIRED_COLUMNS = ("prefix", "cost", "currency", "effective_from")
OPTIONAL_COLUMNS = ("mcc_mnc",)
_PREFIX = re.compile(r"\+?([0-9]{1,15})")
_CURRENCY = re.compile(r"[A-Z]{3}")
_MCC_MNC = re.compile(r"[0-9]{5,6}")


class TariffFormatError(RoutingError):
    """The file as a whole is unusable (no or wrong header); no row was read."""


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    """One refused row: its line in the file (the header is line 1), the field at fault and why."""

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.reason}"


class ParsedTariff(msgspec.Struct, frozen=True, kw_only=True):
    """The good rows of a file, in file order, and the errors of the bad ones."""

    rows: list[TariffRow]
    errors: list[RowError]


def parse_micro(text: str) -> int:
    """A decimal string ("0.0123") as exact integer micro-units (12300); ValueError with the reason."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    if value < 0:
        raise ValueError(f"negative amount: {text!r}")
    micro = value.scaleb(6)
    if micro != micro.to_integral_value():
        raise ValueError(f"more than 6 decimals: {text!r}")
    result = int(micro)
    if result > MAX_MICRO:
        raise ValueError(f"amount too large: {text!r}")
    return result


def format_micro(micro: int) -> str:
    """Integer micro-units as the shortest exact decimal string: 12300 -> "0.0123", 2000000 -> "2"."""
    units, fraction = divmod(micro, MICRO)
    if fraction == 0:
        return str(units)
    return f"{units}.{fraction:06d}".rstrip("0")


def parse_effective_from(text: str) -> datetime:
    """An ISO date (midnight UTC) or datetime (UTC when it has no offset); empty means always effective."""
    text = text.strip()
    if not text:
        return EPOCH
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def format_effective_from(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    if moment.time() == time():
        return moment.date().isoformat()
    return moment.isoformat()


def parse_tariff(stream: Iterable[str], *, currency: str | None = None) -> ParsedTariff:
    """Read a rate card or price list; `currency`, when given, is the only currency rows may carry."""
    reader = csv.reader(stream)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise TariffFormatError("empty file: expected a header prefix,cost,currency,effective_from") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        raise TariffFormatError(
            f"header must be {','.join(REQUIRED_COLUMNS)}[,mcc_mnc]; got {','.join(header)}"
        )
    i_prefix, i_cost, i_currency, i_from = (header.index(c) for c in REQUIRED_COLUMNS)
    i_mcc = header.index("mcc_mnc") if "mcc_mnc" in header else None
    width = len(header)
    rows: list[TariffRow] = []
    errors: list[RowError] = []
    seen: dict[tuple[str, str, datetime], int] = {}
    for fields in reader:
        line = reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank lines are not rows
        if len(fields) != width:
            errors.append(RowError(row=line, field="row", reason=f"{len(fields)} fields, expected {width}"))
            continue
        error = None
        prefix = fields[i_prefix].strip()
        mcc_mnc = fields[i_mcc].strip() if i_mcc is not None else ""
        if prefix:
            match = _PREFIX.fullmatch(prefix)
            if match is None:
                error = ("prefix", f"not 1-15 E.164 digits: {prefix!r}")
            else:
                prefix = match.group(1)
        elif not mcc_mnc:
            error = ("prefix", "empty (a row needs a prefix or an mcc_mnc)")
        if error is None and mcc_mnc and _MCC_MNC.fullmatch(mcc_mnc) is None:
            error = ("mcc_mnc", f"not 5 or 6 digits: {mcc_mnc!r}")
        amount = 0
        if error is None:
            try:
                amount = parse_micro(fields[i_cost])
            except ValueError as exc:
                error = ("cost", str(exc))
        row_currency = fields[i_currency].strip().upper()
        if error is None:
            if _CURRENCY.fullmatch(row_currency) is None:
                error = ("currency", f"not a 3-letter ISO 4217 code: {fields[i_currency]!r}")
            elif currency is not None and row_currency != currency:
                error = ("currency", f"{row_currency} differs from the card's currency {currency}")
        effective = EPOCH
        if error is None:
            try:
                effective = parse_effective_from(fields[i_from])
            except ValueError:
                error = ("effective_from", f"not an ISO date or datetime: {fields[i_from]!r}")
        if error is None:
            key = (prefix, mcc_mnc, effective)
            first = seen.get(key)
            if first is not None:
                error = ("prefix", f"duplicate of row {first} (same prefix, mcc_mnc and effective_from)")
            else:
                seen[key] = line
        if error is not None:
            errors.append(RowError(row=line, field=error[0], reason=error[1]))
            continue
        rows.append(
            TariffRow(
                prefix=prefix,
                mcc_mnc=mcc_mnc,
                amount_micro=amount,
                currency=row_currency,
                effective_from=effective,
            )
        )
    return ParsedTariff(rows=rows, errors=errors)


def tariff_lines(rows: Iterable[TariffRow]) -> Iterator[list[str]]:
    """The CSV records for rows (header first); mcc_mnc is a column only when some row has one."""
    materialised = list(rows)
    with_network = any(r.mcc_mnc for r in materialised)
    yield [*REQUIRED_COLUMNS, *(OPTIONAL_COLUMNS if with_network else ())]
    for r in materialised:
        record = [r.prefix, format_micro(r.amount_micro), r.currency, format_effective_from(r.effective_from)]
        if with_network:
            record.append(r.mcc_mnc)
        yield record


def write_tariff(rows: Iterable[TariffRow], stream: TextIO) -> int:
    """Write rows as CSV to a text stream; return how many data rows were written."""
    writer = csv.writer(stream, lineterminator="\n")
    count = -1
    for record in tariff_lines(rows):
        writer.writerow(record)
        count += 1
    return count
