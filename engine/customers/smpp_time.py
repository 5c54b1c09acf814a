"""SMPP time fields (schedule_delivery_time, validity_period; SMPP 3.4 section 7.1.1).

    absolute  YYMMDDhhmmsstnnp   p '+' or '-': nn quarter hours ahead of / behind UTC
    relative  YYMMDDhhmmss000R   an interval from now

Empty means "not given". Anything else is an error the caller answers with ESME_RINVSCHED or
ESME_RINVEXPIRY.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class InvalidSmppTime(ValueError):
    pass


def parse_smpp_time(value: str, now: datetime) -> datetime | None:
    """The moment a time field names (UTC), None when empty; InvalidSmppTime otherwise."""
    if not value:
        return None
    if len(value) != 16 or not value[:15].isdigit() or value[15] not in "+-R":
        raise InvalidSmppTime(f"{value!r} is not YYMMDDhhmmsstnnp")
    yy, mm, dd, hh, mi, ss = (int(value[i : i + 2]) for i in range(0, 12, 2))
    if value[15] == "R":
        return now + timedelta(days=yy * 365 + mm * 30 + dd, hours=hh, minutes=mi, seconds=ss)
    tenths, quarters = int(value[12]), int(value[13:15])
    if quarters > 48:
        raise InvalidSmppTime(f"{value!r}: UTC offset of {quarters} quarter hours")
    try:
        local = datetime(2000 + yy, mm, dd, hh, mi, ss, tenths * 100_000, tzinfo=UTC)
    except ValueError as exc:
        raise InvalidSmppTime(f"{value!r}: {exc}") from None
    offset = timedelta(minutes=15 * quarters)
    return local - offset if value[15] == "+" else local + offset
