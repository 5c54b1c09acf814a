"""Message templates: saved bodies with {{variables}}, per account.

    GET    /v1/templates          templates.manage   newest first, cursor paginated, ?name= exact match
    POST   /v1/templates          templates.manage   201; the name is unique per account (409 otherwise)
    GET    /v1/templates/{id}     templates.manage
    PATCH  /v1/templates/{id}     templates.manage   name, body, description
    DELETE /v1/templates/{id}     templates.manage

A template's placeholders use the send path's syntax (http_api.messages.Template: `{{name}}`, spaces
allowed inside the braces) and are listed in `variables`, so a client knows what a send must supply.
Sending with `template_id` belongs to the send endpoint (routes_sms), which can load the body with
`template_body`. Every query is scoped by
the caller's account: another account's template is a 404. This module must never send anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec
from msgspec import Meta

from http_api.envelopes import Cursor, One, Page, PageSize, one, page_of
from http_api.errors import ApiError, not_found
from http_api.messages import _PLACEHOLDER  # the one placeholder syntax, shared with the send path
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.schemas import Body, Request

PERMISSION = "templates.manage"

Name = Annotated[
    str, Meta(min_length=1, max_length=100, pattern=r"^[^\x00]*[^\x00-\x20][^\x00]*$")
]  # something visible
Description = Annotated[str, Meta(max_length=500)]


class TemplateCreate(Request, frozen=True):
    name: Name
    body: Body
    description: Description = ""


class TemplateUpdate(Request, frozen=True):
    name: Name | None = None
    body: Body | None = None
    description: Description | None = None


class Template(msgspec.Struct, frozen=True):
    id: int
    name: str
    body: str
    description: str
    variables: list[str]  # the placeholders of `body`, in order of first appearance
    created_at: datetime
    updated_at: datetime


class TemplateQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name | None = None
    page_size: PageSize = 50
    cursor: Cursor | None = None


class Deleted(msgspec.Struct, frozen=True):
    id: int
    deleted: bool


_COLUMNS = "id, name, body, description, created_at, updated_at"


def variables_of(body: str) -> list[str]:
    return list(dict.fromkeys(_PLACEHOLDER.findall(body)))


def _template(row: asyncpg.Record) -> Template:
    return Template(
        row["id"], row["name"], row["body"], row["description"], variables_of(row["body"]),
        row["created_at"], row["updated_at"],
    )  # fmt: skip


def _name_taken(name: str) -> ApiError:
    return ApiError(409, "CONFLICT", f"a template named {name!r} exists already", {"field": "name"})


def _template_id(call: Call) -> int:
    raw = call.path("id")
    if not raw.isdigit() or len(raw) > 18:
        raise not_found("template")
    return int(raw)


async def template_body(conn: Any, account_id: int, template_id: int) -> str | None:
    """A template's body for the send path (`template_id`), or None if the account has no such one."""
    body: str | None = await conn.fetchval(
        "SELECT body FROM message_templates WHERE id = $1 AND account_id = $2", template_id, account_id
    )
    return body


async def list_templates(call: Call) -> Reply:
    q = call.query_as(TemplateQuery)
    where = "account_id = $1"
    args: list[Any] = [call.account_id]
    if q.name is not None:
        args.append(q.name)
        where += f" AND name = ${len(args)}"
    total = await call.ctx.pool.fetchval(f"SELECT count(*) FROM message_templates WHERE {where}", *args)
    before = decode_cursor(q.cursor)
    if before is not None:
        args.append(before)
        where += f" AND id < ${len(args)}"
    args.append(q.page_size + 1)
    rows = await call.ctx.pool.fetch(
        f"SELECT {_COLUMNS} FROM message_templates WHERE {where} ORDER BY id DESC LIMIT ${len(args)}", *args
    )
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
    return page_of(call, [_template(r) for r in page], pagination)


async def create_template(call: Call) -> Reply:
    body = call.body_as(TemplateCreate)
    try:
        row = await call.ctx.pool.fetchrow(
            "INSERT INTO message_templates (account_id, name, body, description) VALUES ($1, $2, $3, $4)"
            f" RETURNING {_COLUMNS}",
            call.account_id, body.name, body.body, body.description,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise _name_taken(body.name) from None
    assert row is not None
    return one(call, _template(row), 201)


async def get_template(call: Call) -> Reply:
    row = await call.ctx.pool.fetchrow(
        f"SELECT {_COLUMNS} FROM message_templates WHERE id = $1 AND account_id = $2",
        _template_id(call),
        call.account_id,
    )
    if row is None:
        raise not_found("template")
    return one(call, _template(row))


async def update_template(call: Call) -> Reply:
    body = call.body_as(TemplateUpdate)
    try:
        # coalesce: a field left out keeps its value
        row = await call.ctx.pool.fetchrow(
            "UPDATE message_templates SET name = coalesce($3, name), body = coalesce($4, body),"
            " description = coalesce($5, description), updated_at = now()"
            f" WHERE id = $1 AND account_id = $2 RETURNING {_COLUMNS}",
            _template_id(call), call.account_id, body.name, body.body, body.description,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise _name_taken(body.name or "") from None
    if row is None:
        raise not_found("template")
    return one(call, _template(row))


async def delete_template(call: Call) -> Reply:
    deleted = await call.ctx.pool.fetchval(
        "DELETE FROM message_templates WHERE id = $1 AND account_id = $2 RETURNING id",
        _template_id(call),
        call.account_id,
    )
    if deleted is None:
        raise not_found("template")
    return one(call, Deleted(deleted, True))


OPERATIONS = [
    Operation("GET", "/v1/templates", list_templates, "List templates (newest first, cursor pagination)",
              PERMISSION, "Templates", query=TemplateQuery, responses={200: Page[Template]}),
    Operation("POST", "/v1/templates", create_template, "Save a template", PERMISSION, "Templates",
              body=TemplateCreate, responses={201: One[Template]}),
    Operation("GET", "/v1/templates/{id}", get_template, "Get a template", PERMISSION, "Templates",
              responses={200: One[Template]}),
    Operation("PATCH", "/v1/templates/{id}", update_template, "Update a template", PERMISSION, "Templates",
              body=TemplateUpdate, responses={200: One[Template]}),
    Operation("DELETE", "/v1/templates/{id}", delete_template, "Delete a template", PERMISSION, "Templates",
              responses={200: One[Deleted]}),
]  # fmt: skip
