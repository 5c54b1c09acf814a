"""Cursors for list endpoints: stable keyset pagination, newest first.

A cursor is the last row's sort key (an id that only grows: message ids, posting ids) in hexadecimal,
so a page never repeats or skips a row while new rows arrive. Clients treat it as opaque; its whole
format is stated in the schema (envelopes.CURSOR_PATTERN), so every string that matches it is a valid
position in any list and nothing that matches is refused. Usage in a handler:

    total = count(... WHERE <filters>)                   # the same filters, without the cursor
    before = decode_cursor(query.cursor)                 # None on the first page
    rows = fetch(... WHERE <filters> AND id < before ... ORDER BY id DESC LIMIT page_size + 1)
    page, pagination = paginate(rows, page_size, key=lambda r: r["id"], total=total)

This module must never run a query.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from http_api.envelopes import CURSOR_PATTERN, Pagination
from http_api.errors import ApiError

T = TypeVar("T")
_CURSOR = re.compile(CURSOR_PATTERN)


def encode_cursor(value: int) -> str:
    return f"{value:x}"


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not _CURSOR.fullmatch(cursor):  # the query schema checks it too; this guards direct callers
        raise ApiError(400, "VALIDATION_ERROR", "invalid cursor", {"field": "cursor"})
    return int(cursor, 16)


def paginate(
    rows: Sequence[T], page_size: int, key: Callable[[T], int], total: int
) -> tuple[Sequence[T], Pagination]:
    """Cut the page_size + 1 rows fetched into a page and its pagination block."""
    page = rows[:page_size]
    more = len(rows) > page_size
    cursor = encode_cursor(key(page[-1])) if more and page else None
    return page, Pagination(total=total, page_size=page_size, has_more=more, cursor=cursor)
