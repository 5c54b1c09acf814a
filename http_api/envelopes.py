"""The success envelopes of the BulkSMSRates surface: one object, or one page of a list.

    {"data": {...}, "meta": {"request_id": "req_..."}}                                   `one(call, item)`
    {"data": [...], "pagination": {"total", "page_size", "has_more", "cursor"},
     "meta": {"request_id": "req_..."}}                                                  `page_of(call, ...)`

Every list answers the second shape (webhooks and API keys included), every single resource the first, so
a client reads `.data` everywhere and walks any list with the same loop (pass `pagination.cursor` back as
`cursor` while `has_more`). Errors have their own envelope (errors.py). This module must never do I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

import msgspec
from msgspec import Meta as Constraint

from http_api.errors import Meta
from http_api.operations import Call, Reply

T = TypeVar("T")

MAX_PAGE_SIZE = 500
PageSize = Annotated[int, Constraint(ge=1, le=MAX_PAGE_SIZE, description="results per page (1-500)")]
CURSOR_PATTERN = r"^[0-7]?[0-9a-f]{1,15}$"
Cursor = Annotated[
    str,
    Constraint(pattern=CURSOR_PATTERN, description="opaque: pagination.cursor of the previous page"),
]


class Pagination(msgspec.Struct, frozen=True):
    total: int  # rows matching the filters, on every page
    page_size: int
    has_more: bool
    cursor: str | None  # pass back as `cursor` for the next page; null on the last page


class One(msgspec.Struct, Generic[T], frozen=True):
    data: T
    meta: Meta


class Page(msgspec.Struct, Generic[T], frozen=True):
    data: list[T]
    pagination: Pagination
    meta: Meta


class PageQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    page_size: PageSize = 50
    cursor: Cursor | None = None


def one(call: Call, item: object, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, One(item, Meta(call.request_id)), headers or {})


def page_of(call: Call, items: Sequence[object], pagination: Pagination) -> Reply:
    return Reply(200, Page(list(items), pagination, Meta(call.request_id)))


def offset_page(rows: Sequence[T], query: PageQuery) -> tuple[Sequence[T], Pagination]:
    """A page of a short list fetched whole (webhooks, API keys, sender IDs, tags): the cursor is the
    offset of the next page, in the same hexadecimal form as every other cursor."""
    start = 0 if query.cursor is None else int(query.cursor, 16)
    page = rows[start : start + query.page_size]
    more = start + query.page_size < len(rows)
    cursor = f"{start + query.page_size:x}" if more else None
    return page, Pagination(len(rows), query.page_size, more, cursor)
