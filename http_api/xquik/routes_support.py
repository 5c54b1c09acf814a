"""Xquik support tickets: POST/GET /support/tickets, GET/PATCH /support/tickets/{id},
POST /support/tickets/{id}/messages.

A ticket is a subject, a status (open, pending, resolved, closed) and its messages (the first is the
creation's body); a reply by the customer reopens a resolved or closed ticket. Another account's
ticket is 404 not_found, as one that does not exist: this module must never tell whether another
account's ticket exists.
"""

from __future__ import annotations

from typing import Annotated, Literal

import asyncpg
from msgspec import Meta

from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import DIALECT, PREFIX, XquikIn, XquikOut, id_param, stamp, xquik_error

TAG = "Xquik support"
Text = Annotated[str, Meta(min_length=1, max_length=10_000, pattern=r"^[^\x00]*\S[^\x00]*$")]
Status = Literal["open", "pending", "resolved", "closed"]


class NewTicket(XquikIn, frozen=True):
    subject: Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00]*\S[^\x00]*$")]
    body: Text


class TicketOut(XquikOut, frozen=True):
    id: str
    subject: str
    status: str
    created_at: str
    updated_at: str


class NewTicketOut(XquikOut, frozen=True):
    """201, as the document writes it: {id, subject, status, createdAt}."""

    id: str
    subject: str
    status: str
    created_at: str


class MessageOut(XquikOut, frozen=True):
    id: str
    author: str
    body: str
    created_at: str


class TicketWithMessages(XquikOut, frozen=True):
    id: str
    subject: str
    status: str
    created_at: str
    updated_at: str
    messages: list[MessageOut]


class TicketList(XquikOut, frozen=True):
    tickets: list[TicketOut]


class TicketUpdate(XquikIn, frozen=True):
    status: Status


class Reply_(XquikIn, frozen=True):
    body: Text


def _ticket(r: asyncpg.Record) -> TicketOut:
    return TicketOut(str(r["id"]), r["subject"], r["status"], stamp(r["created_at"]) or "",
                     stamp(r["updated_at"]) or "")  # fmt: skip


def _message(r: asyncpg.Record) -> MessageOut:
    return MessageOut(str(r["id"]), r["author"], r["body"], stamp(r["created_at"]) or "")


_COLUMNS = "id, subject, status, created_at, updated_at"


async def xquik_create_ticket(call: Call) -> Reply:
    body = call.body_as(NewTicket)
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"INSERT INTO xquik_support_tickets (account_id, subject) VALUES ($1, $2) RETURNING {_COLUMNS}",
            call.account_id, body.subject.strip(),
        )  # fmt: skip
        assert row is not None
        await conn.execute(
            "INSERT INTO xquik_support_messages (ticket_id, author, body) VALUES ($1, 'user', $2)",
            row["id"], body.body,
        )  # fmt: skip
    t = _ticket(row)
    return Reply(201, NewTicketOut(t.id, t.subject, t.status, t.created_at))


async def xquik_list_tickets(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        f"SELECT {_COLUMNS} FROM xquik_support_tickets WHERE account_id = $1 ORDER BY id DESC",
        call.account_id,
    )
    return Reply(200, TicketList([_ticket(r) for r in rows]))


async def _owned(call: Call, conn: asyncpg.pool.PoolConnectionProxy, lock: bool = False) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM xquik_support_tickets WHERE id = $1 AND account_id = $2"
        + (" FOR UPDATE" if lock else ""),
        id_param(call), call.account_id,
    )  # fmt: skip
    if row is None:
        raise xquik_error(404, "not_found", "ticket not found")
    return row


async def _with_messages(conn: asyncpg.pool.PoolConnectionProxy, row: asyncpg.Record) -> TicketWithMessages:
    messages = await conn.fetch(
        "SELECT id, author, body, created_at FROM xquik_support_messages WHERE ticket_id = $1 ORDER BY id",
        row["id"],
    )
    t = _ticket(row)
    return TicketWithMessages(t.id, t.subject, t.status, t.created_at, t.updated_at,
                              [_message(m) for m in messages])  # fmt: skip


async def xquik_get_ticket(call: Call) -> Reply:
    async with call.ctx.pool.acquire() as conn:
        return Reply(200, await _with_messages(conn, await _owned(call, conn)))


async def xquik_update_ticket(call: Call) -> Reply:
    status = call.body_as(TicketUpdate).status
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await _owned(call, conn, lock=True)
        updated = await conn.fetchrow(
            f"UPDATE xquik_support_tickets SET status = $2, updated_at = now() WHERE id = $1"
            f" RETURNING {_COLUMNS}",
            id_param(call), status,
        )  # fmt: skip
    assert updated is not None
    return Reply(200, _ticket(updated))


async def xquik_reply_ticket(call: Call) -> Reply:
    body = call.body_as(Reply_).body
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        row = await _owned(call, conn, lock=True)
        message = await conn.fetchrow(
            "INSERT INTO xquik_support_messages (ticket_id, author, body) VALUES ($1, 'user', $2)"
            " RETURNING id, author, body, created_at",
            row["id"], body,
        )  # fmt: skip
        await conn.execute(
            "UPDATE xquik_support_tickets SET updated_at = now(),"
            " status = CASE WHEN status IN ('resolved', 'closed') THEN 'open' ELSE status END WHERE id = $1",
            row["id"],
        )
    assert message is not None
    return Reply(201, _message(message))


_T = f"{PREFIX}/support/tickets"
OPERATIONS = [
    Operation("POST", _T, xquik_create_ticket, "Create a support ticket", None, TAG, body=NewTicket,
              responses={201: NewTicketOut}, dialect=DIALECT),
    Operation("GET", _T, xquik_list_tickets, "List support tickets", None, TAG,
              responses={200: TicketList}, dialect=DIALECT),
    Operation("GET", _T + "/{id}", xquik_get_ticket, "Get a ticket with its messages", None, TAG,
              responses={200: TicketWithMessages}, dialect=DIALECT),
    Operation("PATCH", _T + "/{id}", xquik_update_ticket, "Update a ticket's status", None, TAG,
              body=TicketUpdate, responses={200: TicketOut}, dialect=DIALECT),
    Operation("POST", _T + "/{id}/messages", xquik_reply_ticket, "Reply to a ticket", None, TAG,
              body=Reply_, responses={201: MessageOut}, dialect=DIALECT),
]  # fmt: skip
