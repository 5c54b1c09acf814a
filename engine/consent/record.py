"""One opt-out record per person, across SMS and social DMs.

An address is how the engine reaches someone: E.164 digits for SMS (`address_of_phone`), or
`<platform>:<platform user id>` for a social DM recipient (`social_address("x", "2244994945")`,
`social_address("bluesky", "did:plc:...")`). A person is the addresses one key groups in
`person_addresses` (engine/migrations/0151): the HTTP API keys each contact (`contact:<id>`) by its
phone and the platform user ids in its custom fields `x_user_id` and `bluesky_did`
(http_api/migrations/0151 keeps that mapping with the contact). An address nobody grouped is a person
of its own.

`opt_outs` is the one record: a row per (account, address), always the same for every address of one
person — an opt-out (a STOP by SMS or by DM, the API) writes all of them, an opt-in deletes all of them,
and grouping an address with an opted-out one opts it out too. So the SMS intake's in-memory set (by
number, reloaded from the table and told by NOTIFY) and the social DM check (`opted_out`, one query)
read the same answer for the same person.

    rows = await opt_out(conn, account_id, address, source)   # every address of the person, as stored
    gone = await opt_in(conn, account_id, address)            # the addresses no longer opted out
    hit = await opted_out(conn, account_id, [addresses])      # the first opted-out one, or None

Callers tell the engine's set (`Engine.set_opt_out`) about the addresses returned, after their commit.
This module must never decide what a keyword means beyond STOP / START, nor send anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

STOP_WORDS = frozenset({"STOP", "UNSUBSCRIBE", "STOPALL", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "SUBSCRIBE"})


def keyword_of(text: str | None) -> bool | None:
    """True for a STOP word, False for a START word (the whole text, any case), None otherwise."""
    word = (text or "").strip().upper()
    if word in STOP_WORDS:
        return True
    if word in START_WORDS:
        return False
    return None


def address_of_phone(digits: str) -> str:
    return digits.removeprefix("+")


def social_address(platform: str, user_id: str) -> str:
    return f"{platform}:{user_id}"


class OptOutRow(msgspec.Struct, frozen=True):
    number: str  # the address
    source: str  # mo, api, dm, person (grouped with an opted-out address)
    created_at: datetime


# The address and every address grouped with it.
_PERSON = """
SELECT $2::text AS address
UNION
SELECT b.address FROM person_addresses a
JOIN person_addresses b ON b.account_id = a.account_id AND b.person = a.person
WHERE a.account_id = $1 AND a.address = $2
"""
_OPT_OUT = f"""
INSERT INTO opt_outs (account_id, number, source)
SELECT $1, p.address, CASE WHEN p.address = $2 THEN $3 ELSE 'person' END FROM ({_PERSON}) p
ORDER BY p.address
ON CONFLICT (account_id, number) DO UPDATE SET account_id = excluded.account_id
RETURNING number, source, created_at
"""
_OPT_IN = f"""
DELETE FROM opt_outs WHERE account_id = $1 AND number IN ({_PERSON}) RETURNING number
"""
_OPTED_OUT = """
SELECT number FROM opt_outs WHERE account_id = $1 AND number = ANY($2::text[]) ORDER BY number LIMIT 1
"""


async def opt_out(conn: Any, account_id: int, address: str, source: str) -> list[OptOutRow]:
    """Opt the person of `address` out (in `conn`'s transaction): each of its addresses' rows, as stored
    (one stored before keeps its source and time)."""
    rows = await conn.fetch(_OPT_OUT, account_id, address, source)
    return [OptOutRow(r["number"], r["source"], r["created_at"]) for r in rows]


async def opt_in(conn: Any, account_id: int, address: str) -> list[str]:
    """Opt the person of `address` back in: the addresses that were opted out."""
    return [r["number"] for r in await conn.fetch(_OPT_IN, account_id, address)]


async def opted_out(conn: Any, account_id: int, addresses: Sequence[str]) -> str | None:
    """The first of `addresses` whose person opted out, or None."""
    if not addresses:
        return None
    found: str | None = await conn.fetchval(_OPTED_OUT, account_id, list(addresses))
    return found
