"""Opaque cursors for list endpoints: stable keyset pagination, newest first.

A cursor is the last row's sort key, tagged with the list it belongs to and base64url-encoded, so a
client treats it as an opaque string and a cursor from one list is refused by another. Lists order by
an id that only grows (message ids, posting ids), so a page never repeats or skips a row while new rows
arrive. Usage in a handler:

    before = decode_cursor("sms", query.cursor)          # None on the first page
    rows = fetch(... WHERE id < before ... ORDER BY id DESC LIMIT page_size + 1)
    page, pagination = paginate("sms", rows, page_size, key=lambda r: r["id"])

This module must never run a query.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from http_api.errors import ApiError
from http_api.schemas import Pagination

T = TypeVar("T")


def encode_cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    invalid = ApiError(400, "VALIDATION_ERROR", "invalid cursor", {"field": "cursor"})
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    tag, _, value = text.partition(":")
    if tag != kind or not value.isdigit() or len(value) > 20:
        raise invalid
    return int(value)


def paginate(
    kind: str, rows: Sequence[T], page_size: int, key: Callable[[T], int]
) -> tuple[Sequence[T], Pagination]:
    """Cut the page_size + 1 rows fetched into a page and its pagination block."""
    page = rows[:page_size]
    more = len(rows) > page_size
    cursor = encode_cursor(kind, key(page[-1])) if more and page else None
    return page, Pagination(page_size=page_size, has_more=more, next_cursor=cursor)
