"""Contact tags: the account's tags with their ids, and adding or removing one on a contact.

    GET    /v1/contacts/tags                   contacts.read   with the number of contacts bearing each
    POST   /v1/contacts/tags                   contacts.write  201; 409 if the name exists
    DELETE /v1/contacts/tags/{id}              contacts.write  the tag leaves every contact too
    POST   /v1/contacts/{id}/tags              contacts.write  {tag_id} or {name} (made if new): the contact
    DELETE /v1/contacts/{id}/tags/{tag_id}     contacts.write  the contact, without the tag

A contact's tags are the names in contacts.tags (the GIN-indexed filter of GET /v1/contacts?tags=);
contact_tags gives each name an id. Every query is bounded by the caller's account. This module must
never touch anything but tags.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import Meta

from http_api.envelopes import One, Page, PageQuery, one, page_of
from http_api.errors import ApiError, not_found, validation_error
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.routes_contacts import _CONTACT, Contact, Deleted, RowId, Tag, contact_of, ensure_tags, path_id
from http_api.schemas import Request, one_of_fields

R, W, T = "contacts.read", "contacts.write", "Contacts"
Color = Annotated[str, Meta(pattern=r"^(#[0-9a-fA-F]{6})?$", description="#rrggbb, or empty")]


class TagIn(Request, frozen=True):
    name: Tag
    color: Color = ""


class ContactTagIn(Request, frozen=True):
    json_schema_extra: ClassVar[dict[str, object]] = one_of_fields(
        ("tag_id", {"type": "integer"}), ("name", {"type": "string"})
    )

    tag_id: RowId | None = None  # an existing tag, or:
    name: Tag | None = None  # a tag by name (created if the account has none by that name)


class TagOut(msgspec.Struct, frozen=True):
    id: int
    name: str
    color: str
    contacts: int  # contacts bearing it
    created_at: datetime


_TAG = """SELECT t.id, t.name, t.color, t.created_at,
    (SELECT count(*) FROM contacts c WHERE c.account_id = t.account_id AND c.tags @> ARRAY[t.name])
        AS contacts
FROM contact_tags t"""


def _tag(row: Any) -> TagOut:
    return TagOut(row["id"], row["name"], row["color"], row["contacts"], row["created_at"])


async def list_tags(call: Call) -> Reply:
    q = call.query_as(PageQuery)
    before = decode_cursor(q.cursor)
    total = await call.ctx.pool.fetchval(
        "SELECT count(*) FROM contact_tags WHERE account_id = $1", call.account_id
    )
    rows = await call.ctx.pool.fetch(
        f"{_TAG} WHERE t.account_id = $1 AND ($2::bigint IS NULL OR t.id < $2) ORDER BY t.id DESC LIMIT $3",
        call.account_id, before, q.page_size + 1,
    )  # fmt: skip
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
    return page_of(call, [_tag(r) for r in page], pagination)


async def create_tag(call: Call) -> Reply:
    body = call.body_as(TagIn)
    row = await call.ctx.pool.fetchrow(
        "INSERT INTO contact_tags (account_id, name, color) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING "
        "RETURNING id, name, color, created_at, 0 AS contacts",
        call.account_id, body.name, body.color,
    )  # fmt: skip
    if row is None:
        raise ApiError(409, "CONFLICT", f"a tag named {body.name!r} exists already", {"field": "name"})
    return one(call, _tag(row), 201)


async def delete_tag(call: Call) -> Reply:
    tag_id = path_id(call, "id", "tag")
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        name = await conn.fetchval(
            "DELETE FROM contact_tags WHERE id = $1 AND account_id = $2 RETURNING name",
            tag_id,
            call.account_id,
        )
        if name is None:
            raise not_found("tag")
        await conn.execute(
            "UPDATE contacts SET tags = array_remove(tags, $2), updated_at = now() "
            "WHERE account_id = $1 AND tags @> ARRAY[$2]",
            call.account_id, name,
        )  # fmt: skip
    return one(call, Deleted(str(tag_id)))


async def _tag_name(conn: Any, account_id: int, tag_id: int) -> str:
    name: str | None = await conn.fetchval(
        "SELECT name FROM contact_tags WHERE id = $1 AND account_id = $2", tag_id, account_id
    )
    if name is None:
        raise not_found("tag")
    return name


async def _retag(conn: Any, call: Call, contact_id: int, sql: str, name: str) -> Reply:
    row = await conn.fetchrow(
        f"UPDATE contacts SET tags = {sql}, updated_at = now() WHERE id = $1 AND account_id = $2 "
        f"RETURNING {_CONTACT}",
        contact_id, call.account_id, name,
    )  # fmt: skip
    if row is None:
        raise not_found("contact")
    return one(call, contact_of(row))


async def add_contact_tag(call: Call) -> Reply:
    body = call.body_as(ContactTagIn)
    if (body.tag_id is None) == (body.name is None):
        raise validation_error("give either tag_id or name")
    contact_id = path_id(call, "id", "contact")
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        if body.tag_id is not None:
            name = await _tag_name(conn, call.account_id, body.tag_id)
        else:
            assert body.name is not None
            name = body.name
            await ensure_tags(conn, call.account_id, [name])
        added = "ARRAY(SELECT DISTINCT t FROM unnest(array_append(tags, $3::text)) t ORDER BY t)"
        return await _retag(conn, call, contact_id, added, name)


async def remove_contact_tag(call: Call) -> Reply:
    contact_id = path_id(call, "id", "contact")
    tag_id = path_id(call, "tag_id", "tag")
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        name = await _tag_name(conn, call.account_id, tag_id)
        return await _retag(conn, call, contact_id, "array_remove(tags, $3::text)", name)


OPERATIONS = [
    Operation("GET", "/v1/contacts/tags", list_tags, "List all tags", R, T, query=PageQuery,
              responses={200: Page[TagOut]}),
    Operation("POST", "/v1/contacts/tags", create_tag, "Create a tag", W, T, body=TagIn,
              responses={201: One[TagOut]}),
    Operation("DELETE", "/v1/contacts/tags/{id}", delete_tag, "Delete a tag (from every contact too)", W, T,
              responses={200: One[Deleted]}),
    Operation("POST", "/v1/contacts/{id}/tags", add_contact_tag, "Add tag to contact", W, T,
              body=ContactTagIn, responses={200: One[Contact]}),
    Operation("DELETE", "/v1/contacts/{id}/tags/{tag_id}", remove_contact_tag, "Remove tag from contact", W,
              T, responses={200: One[Contact]}),
]  # fmt: skip
