"""Xquik Drafts: tweet drafts saved for later, free of credits.

POST   /drafts          {text, topic?, goal?}  201 draft
GET    /drafts          ?limit=1..50 (50) &afterCursor=  {drafts, afterCursor, hasMore}, newest first
GET    /drafts/{id}     draft | 400 invalid_id | 404 draft_not_found
DELETE /drafts/{id}     204   | 400 invalid_id | 404 draft_not_found

A draft: {id, text, topic, goal, createdAt, updatedAt} (id a string, as the document writes it).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import (
    DIALECT,
    NONBLANK,
    PREFIX,
    IdCursor,
    XquikIn,
    XquikOut,
    id_after,
    id_page,
    id_param,
    shown,
    stamp,
    xquik_error,
)  # fmt: skip

TAG = "Xquik drafts"
Goal = Literal["engagement", "followers", "authority", "conversation"]
_COLUMNS = "id, text, topic, goal, created_at, updated_at"


class DraftIn(XquikIn, frozen=True):
    text: Annotated[str, Meta(min_length=1, max_length=25_000), shown(pattern=NONBLANK)]
    topic: Annotated[str, Meta(max_length=500)] | None = None
    goal: Goal | None = None


class DraftsQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    limit: Annotated[int, Meta(ge=1, le=50)] = 50
    after_cursor: IdCursor | None = None


class DraftOut(XquikOut, frozen=True):
    id: str
    text: str
    topic: str | None
    goal: str | None
    created_at: str
    updated_at: str


class DraftList(XquikOut, frozen=True):
    drafts: list[DraftOut]
    after_cursor: str | None
    has_more: bool


def draft_out(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]), "text": row["text"], "topic": row["topic"], "goal": row["goal"],
        "createdAt": stamp(row["created_at"]), "updatedAt": stamp(row["updated_at"]),
    }  # fmt: skip


async def create_draft(call: Call) -> Reply:
    body = call.body_as(DraftIn)
    if not body.text.strip():
        raise xquik_error(400, "invalid_input", "text must not be empty")
    row = await call.ctx.pool.fetchrow(
        f"""INSERT INTO xquik_drafts (account_id, text, topic, goal) VALUES ($1, $2, $3, $4)
            RETURNING {_COLUMNS}""",
        call.account_id, body.text, body.topic, body.goal,
    )  # fmt: skip
    return Reply(201, draft_out(row))


async def list_drafts(call: Call) -> Reply:
    q = call.query_as(DraftsQuery)
    before = id_after(q.after_cursor)
    rows = await call.ctx.pool.fetch(
        f"""SELECT {_COLUMNS} FROM xquik_drafts WHERE account_id = $1 AND ($2::bigint IS NULL OR id < $2)
            ORDER BY id DESC LIMIT $3""",
        call.account_id, before, q.limit + 1,
    )  # fmt: skip
    page = id_page(rows, q.limit, key=lambda r: int(r["id"]))
    drafts = [draft_out(r) for r in page.items]
    return Reply(200, {"drafts": drafts, "afterCursor": page.next_cursor, "hasMore": page.has_more})


async def _draft(call: Call) -> Any:
    row = await call.ctx.pool.fetchrow(
        f"SELECT {_COLUMNS} FROM xquik_drafts WHERE id = $1 AND account_id = $2",
        id_param(call),
        call.account_id,
    )
    if row is None:
        raise xquik_error(404, "draft_not_found", "no such draft")
    return row


async def get_draft(call: Call) -> Reply:
    return Reply(200, draft_out(await _draft(call)))


async def delete_draft(call: Call) -> Reply:
    done = await call.ctx.pool.fetchval(
        "DELETE FROM xquik_drafts WHERE id = $1 AND account_id = $2 RETURNING id",
        id_param(call),
        call.account_id,
    )
    if done is None:
        raise xquik_error(404, "draft_not_found", "no such draft")
    return Reply(204, b"")


OPERATIONS = [
    Operation("POST", f"{PREFIX}/drafts", create_draft, "Create a draft", None, TAG, body=DraftIn,
              responses={201: DraftOut}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/drafts", list_drafts, "List drafts", None, TAG, query=DraftsQuery,
              responses={200: DraftList}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/drafts/{{id}}", get_draft, "Get a draft", None, TAG,
              responses={200: DraftOut}, dialect=DIALECT),
    Operation("DELETE", f"{PREFIX}/drafts/{{id}}", delete_draft, "Delete a draft", None, TAG,
              responses={204: type(None)}, dialect=DIALECT),
]  # fmt: skip
