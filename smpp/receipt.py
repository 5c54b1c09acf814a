"""Delivery receipt text (SMPP 3.4 Appendix B): build it exactly, read it tolerantly.

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...

Carriers bend this format every way: keys in any case, fields missing or reordered, `submit_date` with an
underscore, ids in hex, decimal or as a UUID (up to 65 characters), dates of 10, 12 or 14 digits, stat
words spelt out (DELIVERED for DELIVRD). `parse_receipt` accepts all of that and never raises; what it
cannot read it leaves as None. It does not normalise message ids: that depends on the carrier and is
the engine's job (the receipt correlator).
"""

from __future__ import annotations

import re
from datetime import datetime

import msgspec

from smpp.constants import MessageState

_KEY = re.compile(r"(?i)(?<![A-Za-z])(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:")

# Appendix B's 7-letter words, and the longer spellings seen in the wild, by their first five letters.
_STATES = {
    "DELIV": MessageState.DELIVERED,
    "EXPIR": MessageState.EXPIRED,
    "DELET": MessageState.DELETED,
    "UNDEL": MessageState.UNDELIVERABLE,
    "ACCEP": MessageState.ACCEPTED,
    "UNKNO": MessageState.UNKNOWN,
    "REJEC": MessageState.REJECTED,
    "ENROU": MessageState.ENROUTE,
}
STAT_WORDS = {
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
    MessageState.ENROUTE: "ENROUTE",
}


class Receipt(msgspec.Struct, frozen=True):
    """The fields of a receipt text; any of them may be missing (None) except the raw text.

    Dates are kept as written and parsed on access: correlating a receipt needs only id, stat and err,
    and strptime would otherwise be the most expensive step of reading one."""

    raw: str
    message_id: str | None = None
    submitted: int | None = None
    delivered: int | None = None
    submit_date_text: str | None = None
    done_date_text: str | None = None
    stat: str | None = None
    err: str | None = None
    text: str | None = None

    @property
    def submit_date(self) -> datetime | None:
        return _date(self.submit_date_text) if self.submit_date_text else None

    @property
    def done_date(self) -> datetime | None:
        return _date(self.done_date_text) if self.done_date_text else None

    @property
    def state(self) -> MessageState | None:
        """The message_state the stat word stands for (DELIVRD → DELIVERED ...), None if unknown."""
        return state_of_stat(self.stat)


def state_of_stat(stat: str | None) -> MessageState | None:
    """The message_state a stat word stands for (DELIVRD, or DELIVERED, → DELIVERED), None if unknown."""
    return _STATES.get(stat[:5].upper()) if stat else None


def _date(value: str) -> datetime | None:
    digits = value.strip()
    if len(digits) in (10, 12):
        digits = "20" + digits  # YY is this century: strptime's %y would put 69-99 in the 1900s
    formats = {12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    fmt = formats.get(len(digits))
    if fmt is None or not digits.isdigit():
        return None
    try:
        return datetime.strptime(digits, fmt)
    except ValueError:
        return None


def _count(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


# Appendix B to the letter, as most carriers send it: one C-level match instead of the tolerant scan.
_CANONICAL = re.compile(
    r"id:(\S{1,65}) sub:(\d*) dlvrd:(\d*) submit date:(\d*) done date:(\d*) stat:(\S*) err:(\S*)"
    r"(?: [Tt]ext:(.*))?$",
    re.DOTALL,
)


def parse_receipt(data: str | bytes) -> Receipt | None:
    """The receipt in a short_message or message_payload, or None if it carries no `id:` field."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    m = _CANONICAL.match(text)
    if m is not None:
        sub, dlvrd, submitted, done, stat, err = m.group(2, 3, 4, 5, 6, 7)
        return Receipt(
            raw=text,
            message_id=m.group(1),
            submitted=int(sub) if sub else None,
            delivered=int(dlvrd) if dlvrd else None,
            submit_date_text=submitted,
            done_date_text=done,
            stat=stat.upper() or None,
            err=err or None,
            text=m.group(8),
        )
    return _parse_tolerantly(text)


def _parse_tolerantly(text: str) -> Receipt | None:
    matches = list(_KEY.finditer(text))
    if not matches:
        return None
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        key = match.group(1).lower().replace("_", " ")
        if key in ("submitdate", "donedate"):
            key = key[:-4] + " date"
        if key in fields:
            continue  # a key repeated inside the free text never overrides the real field
        if key == "text":
            fields[key] = text[match.end() :]
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        fields[key] = text[match.end() : end].strip()
    message_id = fields.get("id")
    if not message_id:
        return None
    message_id = message_id.split()[0][:65]
    return Receipt(
        raw=text,
        message_id=message_id,
        submitted=_count(fields["sub"]) if "sub" in fields else None,
        delivered=_count(fields["dlvrd"]) if "dlvrd" in fields else None,
        submit_date_text=fields.get("submit date"),
        done_date_text=fields.get("done date"),
        stat=fields["stat"].split()[0].upper() if fields.get("stat") else None,
        err=fields["err"].split()[0] if fields.get("err") else None,
        text=fields.get("text"),
    )


def format_receipt(
    message_id: str,
    state: MessageState,
    *,
    submit_date: datetime,
    done_date: datetime,
    err: int = 0,
    submitted: int = 1,
    delivered: int | None = None,
    text: str = "",
) -> str:
    """Appendix B text. `delivered` defaults to `submitted` when the state is DELIVERED, else 0."""
    if delivered is None:
        delivered = submitted if state == MessageState.DELIVERED else 0
    return (
        f"id:{message_id} sub:{submitted:03d} dlvrd:{delivered:03d} "
        f"submit date:{_minute(submit_date)} done date:{_minute(done_date)} "
        f"stat:{STAT_WORDS[state]} err:{err:03d} text:{text[:20]}"
    )


def _minute(moment: datetime) -> str:
    """YYMMDDhhmm (strftime costs several times this; a receipt needs two)."""
    return f"{moment.year % 100:02d}{moment.month:02d}{moment.day:02d}{moment.hour:02d}{moment.minute:02d}"
