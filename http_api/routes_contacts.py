"""Contacts, groups, CSV import and opt-outs.

    GET    /v1/contacts                         contacts.read   ?tags=a,b&group_id=&phone= (paginated)
    POST   /v1/contacts                         contacts.write  201; 409 if the phone is already a contact
    GET    /v1/contacts/{id}                    contacts.read
    PATCH  /v1/contacts/{id}                    contacts.write
    DELETE /v1/contacts/{id}                    contacts.write
    POST   /v1/contacts/import                  contacts.write  CSV (text/csv or multipart), ?group_id=
    POST   /v1/contacts/groups/{id}/import      contacts.write  the same, into that group (the document's)
    GET    /v1/contacts/groups                  contacts.read   (cursor)
    POST   /v1/contacts/groups                  contacts.write
    GET    /v1/contacts/groups/{id}             contacts.read
    DELETE /v1/contacts/groups/{id}             contacts.write  the contacts stay
    POST   /v1/contacts/groups/{id}/members     contacts.write  {contact_ids: [...]}
    DELETE /v1/contacts/groups/{id}/members/{contact_id}   contacts.write
    GET    /v1/contacts/opt-outs                contacts.read   (cursor)
    POST   /v1/contacts/opt-outs                contacts.write  the engine's opt-out set learns it at once
    DELETE /v1/contacts/opt-outs/{number}       contacts.write

Tags (their ids, and adding or removing one on a contact) are routes_tags'; a tag named on a contact here
is registered there too (`ensure_tags`). Lists answer the document's envelope (http_api.envelopes).
Phones are validated and stored as E.164 digits (routing.numbers.normalise_destination), shown with '+'.
Every query is bounded by the caller's account: another account's id answers 404 like an unknown one.
This module must never send a message nor decide whether a number may receive one (intake does).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from engine import consent
from http_api.contacts_csv import CSV_BODY, CsvRowError, parse_contacts_csv, read_csv_upload, reject_nul
from http_api.envelopes import Cursor, One, Page, PageQuery, PageSize, one, page_of
from http_api.errors import ApiError, not_found, validation_error
from http_api.operations import Call, Operation, Reply
from http_api.pagination import decode_cursor, paginate
from http_api.schemas import Phone, Request
from routing.numbers import InvalidDestination, normalise_destination

Tag = Annotated[str, Meta(pattern=r"^[^\x00,;]{1,64}$", description="a tag's name")]
# Character classes spelt out (no \\s): Python and JSON Schema regular expressions differ on spaces.
Email = Annotated[str, Meta(max_length=254, pattern=r"^$|^[^@\x00-\x20]+@[^@\x00-\x20]+\.[^@\x00-\x20]+$")]
FieldValue = Annotated[str, Meta(max_length=1000, pattern=r"^[^\x00]*$")] | int | float | bool | None
Fields = dict[Annotated[str, Meta(pattern=r"^[^\x00]{1,64}$")], FieldValue]
RowId = Annotated[int, Meta(ge=1, le=2**63 - 1)]  # a bigserial: larger values would fail in the query
Text = Annotated[str, Meta(max_length=200, pattern=r"^[^\x00]*$")]


class ContactIn(Request, frozen=True):
    phone: Phone
    name: Text = ""
    email: Email = ""
    tags: Annotated[list[Tag], Meta(max_length=50)] = msgspec.field(default_factory=list)
    fields: Fields = msgspec.field(default_factory=dict)


class ContactPatch(Request, frozen=True):
    phone: Phone | None = None
    name: Text | None = None
    email: Email | None = None
    tags: Annotated[list[Tag], Meta(max_length=50)] | None = None
    fields: Fields | None = None  # replaces the custom fields as a whole


class Contact(msgspec.Struct, frozen=True):
    id: int
    phone: str
    name: str
    email: str
    tags: list[str]
    fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ContactQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    tags: (
        Annotated[str, Meta(pattern=r"^[^\x00]{0,500}$", description="comma-separated: contacts with all")]
        | None
    ) = None
    group_id: RowId | None = None
    phone: Phone | None = None
    page_size: PageSize = 50
    cursor: Cursor | None = None


class Deleted(msgspec.Struct, frozen=True):
    id: str
    deleted: bool = True


class ImportQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    group_id: RowId | None = None


class ImportResult(msgspec.Struct, frozen=True):
    imported: int  # new contacts
    updated: int  # existing contacts (same phone) updated
    rejected: list[CsvRowError]


class GroupIn(Request, frozen=True):
    name: Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class Group(msgspec.Struct, frozen=True):
    id: int
    name: str
    members: int
    created_at: datetime


class MembersIn(Request, frozen=True):
    contact_ids: Annotated[list[RowId], Meta(min_length=1, max_length=10_000)]


class MembersResult(msgspec.Struct, frozen=True):
    added: int
    not_found: list[int]  # ids that are not this account's contacts


class OptOutIn(Request, frozen=True):
    number: Phone


class OptOut(msgspec.Struct, frozen=True):
    number: str
    source: str  # "mo" (the number replied STOP) or "api"
    created_at: datetime


def phone_digits(text: str, field: str = "phone") -> str:
    try:
        return normalise_destination(text)
    except InvalidDestination as exc:
        raise ApiError(400, "INVALID_PHONE_NUMBER", str(exc), {"field": field}) from None


def path_id(call: Call, name: str, what: str) -> int:
    text = call.path(name)
    if not text.isdigit() or len(text) > 18:
        raise not_found(what)
    return int(text)


_CONTACT = "id, phone, name, email, tags, fields, created_at, updated_at"


def contact_of(row: Any) -> Contact:
    return Contact(row["id"], "+" + row["phone"], row["name"], row["email"], list(row["tags"]),
                   json.loads(row["fields"]), row["created_at"], row["updated_at"])  # fmt: skip


def _duplicate(digits: str) -> ApiError:
    return ApiError(409, "CONFLICT", f"+{digits} is already a contact", {"field": "phone"})


async def create_contact(call: Call) -> Reply:
    body = call.body_as(ContactIn)
    reject_nul(body)
    digits = phone_digits(body.phone)
    row = await call.ctx.pool.fetchrow(
        f"""INSERT INTO contacts (account_id, phone, name, email, tags, fields)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (account_id, phone) DO NOTHING RETURNING {_CONTACT}""",
        call.account_id, digits, body.name, body.email, sorted(set(body.tags)), json.dumps(body.fields),
    )  # fmt: skip
    if row is None:
        raise _duplicate(digits)
    await ensure_tags(call.ctx.pool, call.account_id, body.tags)
    return one(call, contact_of(row), 201)


async def list_contacts(call: Call) -> Reply:
    q = call.query_as(ContactQuery)
    where, args = ["c.account_id = $1"], [call.account_id]

    def param(sql: str, value: Any) -> None:
        args.append(value)
        where.append(sql.format(f"${len(args)}"))

    if q.tags:
        param("c.tags @> {}::text[]", [t.strip() for t in q.tags.split(",") if t.strip()])
    if q.group_id is not None:
        param("c.id IN (SELECT contact_id FROM contact_group_members WHERE group_id = {})", q.group_id)
    if q.phone is not None:  # a filter: a number no contact can have matches none
        param("c.phone = {}", q.phone.lstrip("+"))
    total = await call.ctx.pool.fetchval(
        f"SELECT count(*) FROM contacts c WHERE {' AND '.join(where)}", *args
    )
    before = decode_cursor(q.cursor)
    if before is not None:
        param("c.id < {}", before)
    args.append(q.page_size + 1)
    sql = (
        f"SELECT {_CONTACT} FROM contacts c WHERE {' AND '.join(where)} ORDER BY c.id DESC LIMIT ${len(args)}"
    )
    rows = await call.ctx.pool.fetch(sql, *args)
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
    return page_of(call, [contact_of(r) for r in page], pagination)


async def get_contact(call: Call) -> Reply:
    contact_id = path_id(call, "id", "contact")
    row = await call.ctx.pool.fetchrow(
        f"SELECT {_CONTACT} FROM contacts WHERE id = $1 AND account_id = $2", contact_id, call.account_id
    )
    if row is None:
        raise not_found("contact")
    return one(call, contact_of(row))


async def update_contact(call: Call) -> Reply:
    body = call.body_as(ContactPatch)
    reject_nul(body)
    contact_id = path_id(call, "id", "contact")
    digits = None if body.phone is None else phone_digits(body.phone)
    tags = None if body.tags is None else sorted(set(body.tags))
    fields = None if body.fields is None else json.dumps(body.fields)
    try:
        row = await call.ctx.pool.fetchrow(
            f"""UPDATE contacts SET phone = coalesce($3, phone), name = coalesce($4, name),
                email = coalesce($5, email), tags = coalesce($6, tags), fields = coalesce($7::jsonb, fields),
                updated_at = now()
            WHERE id = $1 AND account_id = $2 RETURNING {_CONTACT}""",
            contact_id, call.account_id, digits, body.name, body.email, tags, fields,
        )  # fmt: skip
    except Exception as exc:
        if getattr(exc, "sqlstate", "") == "23505" and digits is not None:  # unique (account, phone)
            raise _duplicate(digits) from None
        raise
    if row is None:
        raise not_found("contact")
    if tags:
        await ensure_tags(call.ctx.pool, call.account_id, tags)
    return one(call, contact_of(row))


async def delete_contact(call: Call) -> Reply:
    contact_id = path_id(call, "id", "contact")
    done = await call.ctx.pool.fetchval(
        "DELETE FROM contacts WHERE id = $1 AND account_id = $2 RETURNING id", contact_id, call.account_id
    )
    if done is None:
        raise not_found("contact")
    return one(call, Deleted(str(contact_id)))


async def ensure_tags(conn: Any, account_id: int, names: list[str]) -> None:
    """Give every tag name put on a contact an id in contact_tags (GET /v1/contacts/tags lists them)."""
    if names:
        await conn.execute(
            "INSERT INTO contact_tags (account_id, name) SELECT $1, unnest($2::text[])"
            " ON CONFLICT DO NOTHING",
            account_id, sorted(set(names)),
        )  # fmt: skip


_UPSERT = """
INSERT INTO contacts AS c (account_id, phone, name, email, tags, fields)
SELECT $1, u.phone, u.name, u.email, coalesce(string_to_array(nullif(u.tags, ''), ';'), '{}'), u.fields::jsonb
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(phone, name, email, tags, fields)
ON CONFLICT (account_id, phone) DO UPDATE SET
    -- an empty cell keeps what the contact had: a CSV re-import never blanks a field by omission
    name = CASE WHEN EXCLUDED.name = '' THEN c.name ELSE EXCLUDED.name END,
    email = CASE WHEN EXCLUDED.email = '' THEN c.email ELSE EXCLUDED.email END,
    tags = ARRAY(SELECT DISTINCT t FROM unnest(c.tags || EXCLUDED.tags) t ORDER BY t),
    fields = c.fields || EXCLUDED.fields,
    updated_at = now()
RETURNING c.id, (xmax = 0) AS inserted
"""


async def _own_group(conn: Any, account_id: int, group_id: int) -> None:
    if not await conn.fetchval(
        "SELECT 1 FROM contact_groups WHERE id = $1 AND account_id = $2", group_id, account_id
    ):
        raise not_found("group")


async def import_into_group(call: Call) -> Reply:
    """The document's POST /v1/contacts/groups/{id}/import: the same import, into the group of the path."""
    return await _import(call, path_id(call, "id", "group"))


async def import_contacts(call: Call) -> Reply:
    return await _import(call, call.query_as(ImportQuery).group_id)


async def _import(call: Call, group_id: int | None) -> Reply:
    upload = read_csv_upload(call)
    if group_id is None and upload.fields.get("group_id"):
        text = upload.fields["group_id"]
        if not text.isdigit():
            raise validation_error("group_id must be a number", field="group_id")
        group_id = int(text)
    parsed = parse_contacts_csv(upload.text)
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        if group_id is not None:
            await _own_group(conn, call.account_id, group_id)
        rows = parsed.rows
        cols = [[r.phone for r in rows], [r.name for r in rows], [r.email for r in rows],
                [";".join(r.tags) for r in rows], [json.dumps(r.fields) for r in rows]]  # fmt: skip
        stored = await conn.fetch(_UPSERT, call.account_id, *cols) if rows else []
        if group_id is not None and stored:
            await conn.execute(
                "INSERT INTO contact_group_members (group_id, contact_id) SELECT $1, unnest($2::bigint[]) "
                "ON CONFLICT DO NOTHING",
                group_id, [r["id"] for r in stored],
            )  # fmt: skip
        await ensure_tags(conn, call.account_id, [t for r in rows for t in r.tags])
    imported = sum(1 for r in stored if r["inserted"])
    return one(call, ImportResult(imported, len(stored) - imported, parsed.errors))


_GROUP = """SELECT g.id, g.name, g.created_at,
       (SELECT count(*) FROM contact_group_members m WHERE m.group_id = g.id) AS members
FROM contact_groups g"""


def group_of(row: Any) -> Group:
    return Group(row["id"], row["name"], row["members"], row["created_at"])


async def list_groups(call: Call) -> Reply:
    q = call.query_as(PageQuery)
    before = decode_cursor(q.cursor)
    total = await call.ctx.pool.fetchval(
        "SELECT count(*) FROM contact_groups WHERE account_id = $1", call.account_id
    )
    rows = await call.ctx.pool.fetch(
        f"{_GROUP} WHERE g.account_id = $1 AND ($2::bigint IS NULL OR g.id < $2) ORDER BY g.id DESC LIMIT $3",
        call.account_id, before, q.page_size + 1,
    )  # fmt: skip
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
    return page_of(call, [group_of(r) for r in page], pagination)


async def create_group(call: Call) -> Reply:
    body = call.body_as(GroupIn)
    reject_nul(body)
    row = await call.ctx.pool.fetchrow(
        "INSERT INTO contact_groups (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING "
        "RETURNING id, name, created_at, 0 AS members",
        call.account_id, body.name,
    )  # fmt: skip
    if row is None:
        raise ApiError(409, "CONFLICT", f"a group named {body.name!r} exists already", {"field": "name"})
    return one(call, group_of(row), 201)


async def get_group(call: Call) -> Reply:
    group_id = path_id(call, "id", "group")
    row = await call.ctx.pool.fetchrow(
        f"{_GROUP} WHERE g.id = $1 AND g.account_id = $2", group_id, call.account_id
    )
    if row is None:
        raise not_found("group")
    return one(call, group_of(row))


async def delete_group(call: Call) -> Reply:
    group_id = path_id(call, "id", "group")
    done = await call.ctx.pool.fetchval(
        "DELETE FROM contact_groups WHERE id = $1 AND account_id = $2 RETURNING id", group_id, call.account_id
    )
    if done is None:
        raise not_found("group")
    return one(call, Deleted(str(group_id)))


async def add_members(call: Call) -> Reply:
    body = call.body_as(MembersIn)
    group_id = path_id(call, "id", "group")
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await _own_group(conn, call.account_id, group_id)
        owned = await conn.fetch(
            "SELECT id FROM contacts WHERE id = ANY($1::bigint[]) AND account_id = $2",
            list(set(body.contact_ids)), call.account_id,
        )  # fmt: skip
        ids = {int(r["id"]) for r in owned}
        added = await conn.fetch(
            "INSERT INTO contact_group_members (group_id, contact_id) SELECT $1, unnest($2::bigint[]) "
            "ON CONFLICT DO NOTHING RETURNING contact_id",
            group_id, sorted(ids),
        )  # fmt: skip
    missing = sorted(set(body.contact_ids) - ids)
    return one(call, MembersResult(len(added), missing))


async def remove_member(call: Call) -> Reply:
    group_id = path_id(call, "id", "group")
    contact_id = path_id(call, "contact_id", "member")
    done = await call.ctx.pool.fetchval(
        """DELETE FROM contact_group_members m USING contact_groups g
        WHERE m.group_id = g.id AND g.id = $1 AND g.account_id = $2 AND m.contact_id = $3
        RETURNING m.contact_id""",
        group_id, call.account_id, contact_id,
    )  # fmt: skip
    if done is None:
        raise not_found("member")
    return one(call, Deleted(str(contact_id)))


async def list_opt_outs(call: Call) -> Reply:
    q = call.query_as(PageQuery)
    # Numbers are E.164 digits (the API and STOP MO both store them so): they order and page as integers.
    before = decode_cursor(q.cursor)
    total = await call.ctx.pool.fetchval(
        "SELECT count(*) FROM opt_outs WHERE account_id = $1 AND number ~ '^[0-9]{1,18}$'", call.account_id
    )
    rows = await call.ctx.pool.fetch(
        """SELECT number, source, created_at FROM opt_outs WHERE account_id = $1 AND number ~ '^[0-9]{1,18}$'
        AND ($2::bigint IS NULL OR number::bigint < $2) ORDER BY number::bigint DESC LIMIT $3""",
        call.account_id, before, q.page_size + 1,
    )  # fmt: skip
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["number"]), total=total)
    return page_of(call, [OptOut("+" + r["number"], r["source"], r["created_at"]) for r in page], pagination)


async def add_opt_out(call: Call) -> Reply:
    digits = phone_digits(call.body_as(OptOutIn).number, "number")
    async with call.ctx.pool.acquire() as conn, conn.transaction():  # the person's every address
        rows = await consent.opt_out(conn, call.account_id, digits, "api")
    # Stored first, then the engine's set: a restart reloads the set from the table, never the reverse.
    for r in rows:
        call.ctx.engine.set_opt_out(call.account_id, r.number, True)
    row = next(r for r in rows if r.number == digits)
    return one(call, OptOut("+" + row.number, row.source, row.created_at), 201)


async def delete_opt_out(call: Call) -> Reply:
    try:
        digits = normalise_destination(call.path("number"))
    except InvalidDestination:
        raise not_found("opt-out") from None
    async with call.ctx.pool.acquire() as conn, conn.transaction():  # the person's every address
        gone = await consent.opt_in(conn, call.account_id, digits)
    for address in gone:
        call.ctx.engine.set_opt_out(call.account_id, address, False)
    if digits not in gone:
        raise not_found("opt-out")
    return one(call, Deleted("+" + digits))


R, W, T = "contacts.read", "contacts.write", "Contacts"
OPERATIONS = [
    Operation("GET", "/v1/contacts", list_contacts, "List contacts (filters: tags, group_id, phone)", R, T,
              query=ContactQuery, responses={200: Page[Contact]}),
    Operation("POST", "/v1/contacts", create_contact, "Create a contact", W, T, body=ContactIn,
              responses={201: One[Contact]}),
    Operation("POST", "/v1/contacts/import", import_contacts, "Import contacts from CSV (upsert by phone)",
              W, T,
              query=ImportQuery, responses={200: One[ImportResult]}, content=CSV_BODY,
              description="Body: text/csv, or multipart/form-data with a file part (and optionally group_id)."
              " "
              "Header row: phone,name,email,[tags],<custom fields...>; tags separated by ';'. Rows are "
              "numbered as in a spreadsheet (the header is row 1)."),
    Operation("POST", "/v1/contacts/groups/{id}/import", import_into_group, "Import CSV into group", W, T,
              responses={200: One[ImportResult]}, content=CSV_BODY,
              description="CSV (text/csv, or multipart/form-data with a file part): phone,name,email and "
              "custom fields; contacts upserted by phone and added to the group."),
    Operation("GET", "/v1/contacts/groups", list_groups, "List groups", R, T, query=PageQuery,
              responses={200: Page[Group]}),
    Operation("POST", "/v1/contacts/groups", create_group, "Create a group", W, T, body=GroupIn,
              responses={201: One[Group]}),
    Operation("GET", "/v1/contacts/groups/{id}", get_group, "Get a group", R, T, responses={200: One[Group]}),
    Operation("DELETE", "/v1/contacts/groups/{id}", delete_group, "Delete a group (not its contacts)", W, T,
              responses={200: One[Deleted]}),
    Operation("POST", "/v1/contacts/groups/{id}/members", add_members, "Add contacts to a group", W, T,
              body=MembersIn, responses={200: One[MembersResult]}),
    Operation("DELETE", "/v1/contacts/groups/{id}/members/{contact_id}", remove_member,
              "Remove a contact from a group", W, T, responses={200: One[Deleted]}),
    Operation("GET", "/v1/contacts/opt-outs", list_opt_outs, "List opted-out numbers", R, T, query=PageQuery,
              responses={200: Page[OptOut]}),
    Operation("POST", "/v1/contacts/opt-outs", add_opt_out, "Opt a number out (sends to it get 422 OPT_OUT)",
              W, T, body=OptOutIn, responses={201: One[OptOut]}),
    Operation("DELETE", "/v1/contacts/opt-outs/{number}", delete_opt_out, "Opt a number back in", W, T,
              responses={200: One[Deleted]}),
    Operation("GET", "/v1/contacts/{id}", get_contact, "Get a contact", R, T, responses={200: One[Contact]}),
    Operation("PATCH", "/v1/contacts/{id}", update_contact, "Update a contact", W, T, body=ContactPatch,
              responses={200: One[Contact]}),
    Operation("DELETE", "/v1/contacts/{id}", delete_contact, "Delete a contact", W, T,
              responses={200: One[Deleted]}),
]  # fmt: skip
