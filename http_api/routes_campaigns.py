"""Campaigns: create a draft, add recipients, and drive it through its states; progress from the messages.

    GET  /v1/campaigns                      campaigns.read    newest first (paginated)
    POST /v1/campaigns                      campaigns.write   201, state draft; schedule_at optional
    GET  /v1/campaigns/{id}                 campaigns.read    with live progress; a bulk batch_id works too
    POST /v1/campaigns/{id}/recipients      campaigns.write   {recipients: [{to, variables}]}, [{to, ...}],
                                                              {group_ids: [...]}, or CSV
    POST /v1/campaigns/{id}/submit          campaigns.write   draft -> pending_approval (trusted: approved)
    POST /v1/campaigns/{id}/approve         campaigns.approve pending_approval -> approved (then sending at
                                                              its schedule_at, or at once)
    POST /v1/campaigns/{id}/reject          campaigns.approve pending_approval -> rejected
    POST /v1/campaigns/{id}/schedule        campaigns.write   {schedule_at}: before it starts
    POST /v1/campaigns/{id}/pause           campaigns.write   sending -> paused (no release after the answer)
    POST /v1/campaigns/{id}/resume          campaigns.write   paused -> sending
    POST /v1/campaigns/{id}/cancel          campaigns.write   -> cancelled; pending recipients are never sent

The state table is engine.campaigns.runner.ACTIONS, applied by engine.campaigns.actions (the operator's
CLI uses the same); a transition it does not allow is 409 CONFLICT with the current state in
`details.state`. campaigns.approve is never implied by "*": an account admin's key (issued by the
operator) or the operator's CLI approves. Recipients are validated when added and de-duplicated by
number; the engine's campaign runner sends them through the one accept path. A bulk batch
(routes_bulk) is shown here as a campaign of kind "batch", its progress read from its messages.
This module must never send a message itself.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from engine.campaigns.actions import ActionRefused, CampaignNotFound, apply_action
from engine.campaigns.runner import EDITABLE_STATES, Progress, campaign_progress, placeholders
from http_api.contacts_csv import CSV_TEXT, csv_records, read_csv_upload, reject_nul
from http_api.envelopes import One, Page, PageQuery, one, page_of
from http_api.errors import ApiError, not_found, validation_error
from http_api.operations import Call, Operation, Reply, decode_json
from http_api.pagination import decode_cursor, paginate
from http_api.routes_contacts import RowId, path_id
from http_api.schemas import Body, CampaignSchedule, Request, Sender, Variables
from routing.numbers import InvalidDestination, normalise_destination

MAX_RECIPIENTS_PER_REQUEST = 100_000
CampaignState = Literal[
    "draft", "pending_approval", "approved", "rejected", "sending", "paused", "completed", "cancelled",
    "failed",
]  # fmt: skip


class CampaignIn(Request, frozen=True):
    name: Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
    from_: Sender = msgspec.field(name="from")
    body: Body
    send_rate: Annotated[float, Meta(gt=0, le=10_000, description="messages per second, at most")] = 10.0
    schedule_at: CampaignSchedule | None = None  # the document's name
    scheduled_at: CampaignSchedule | None = None  # the send endpoint's name, taken too


class ProgressOut(msgspec.Struct, frozen=True):
    total: int  # recipients
    pending: int  # not released yet
    queued: int  # accepted, not yet taken by a carrier
    sent: int  # taken by a carrier, no final receipt yet
    delivered: int
    failed: int  # refused at release, or final without delivery
    cancelled: int  # never released because the campaign was cancelled


class Campaign(msgspec.Struct, frozen=True):
    id: str
    kind: Literal["campaign", "batch"]
    name: str
    from_: str = msgspec.field(name="from")
    body: str
    send_rate: float | None
    state: CampaignState
    schedule_at: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reason: str
    reviewed_by: str
    reviewed_at: datetime | None
    sandbox: bool
    progress: ProgressOut | None = None  # in GET /v1/campaigns/{id} and the actions' answers


class RecipientIn(Request, frozen=True):
    # Checked per recipient (a list from a spreadsheet has bad rows: they are reported, the rest added)
    to: Annotated[str, Meta(min_length=1, max_length=32)]
    variables: Variables = msgspec.field(default_factory=dict)


class RecipientList(Request, frozen=True):
    recipients: Annotated[list[RecipientIn], Meta(min_length=1, max_length=MAX_RECIPIENTS_PER_REQUEST)]


class GroupRecipients(Request, frozen=True):
    group_ids: Annotated[list[RowId], Meta(min_length=1, max_length=100)]


class RecipientRejected(msgspec.Struct, frozen=True):
    index: int  # position in the JSON list, the CSV row (header = row 1), or 0 for a group's contact
    to: str
    code: str
    reason: str


class RecipientsAdded(msgspec.Struct, frozen=True):
    added: int
    duplicates: int  # numbers already in the campaign (or twice in this request): sent once
    rejected: list[RecipientRejected]
    total: int  # recipients in the campaign now


class ScheduleIn(Request, frozen=True):
    schedule_at: CampaignSchedule  # in the past: as soon as approved


class RejectIn(Request, frozen=True):
    reason: Annotated[str, Meta(max_length=500, pattern=r"^[^\x00]*$")] = ""


_COLUMNS = """id, name, source, body, send_rate, state, scheduled_at, created_at, updated_at, started_at,
finished_at, reason, sandbox, reviewed_by, reviewed_at"""
_RecipientArray = Annotated[list[RecipientIn], Meta(min_length=1, max_length=MAX_RECIPIENTS_PER_REQUEST)]
_OBJECT_SHAPES: dict[str, type] = {"recipients": RecipientList, "group_ids": GroupRecipients}


def _decode_recipients(text: str) -> list[RecipientIn] | GroupRecipients:
    """A plain list, {recipients: [...]} or {group_ids: [...]}, told apart by their first character/key."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        recipients: list[RecipientIn] = decode_json(_RecipientArray, text)
        return recipients
    keys = msgspec.json.decode(text, type=dict[str, Any]) if stripped.startswith("{") else {}
    key = "recipients" if "recipients" in keys else "group_ids"
    decoded = decode_json(_OBJECT_SHAPES[key], text)
    if isinstance(decoded, RecipientList):
        return decoded.recipients
    assert isinstance(decoded, GroupRecipients)
    return decoded


_RECIPIENTS_BODY = (RecipientList, GroupRecipients)  # documented; a plain list of RecipientIn is taken too


def _progress(p: Progress) -> ProgressOut:
    return ProgressOut(p.total, p.pending, p.queued, p.sent, p.delivered, p.failed, p.cancelled)


def campaign_of(row: Any, progress: Progress | None = None) -> Campaign:
    return Campaign(
        id=str(row["id"]), kind="campaign", name=row["name"], from_=row["source"], body=row["body"],
        send_rate=row["send_rate"], state=row["state"], schedule_at=row["scheduled_at"],
        created_at=row["created_at"], updated_at=row["updated_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], reason=row["reason"], reviewed_by=row["reviewed_by"],
        reviewed_at=row["reviewed_at"], sandbox=row["sandbox"],
        progress=None if progress is None else _progress(progress),
    )  # fmt: skip


def _schedule(*candidates: datetime | None) -> datetime | None:
    at = next((c for c in candidates if c is not None), None)
    return at


async def create_campaign(call: Call) -> Reply:
    body = call.body_as(CampaignIn)
    reject_nul(body)
    at = _schedule(body.schedule_at, body.scheduled_at)
    row = await call.ctx.pool.fetchrow(
        f"""INSERT INTO campaigns (account_id, name, source, body, send_rate, scheduled_at, sandbox)
        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}""",
        call.account_id, body.name, body.from_, body.body, body.send_rate, at, call.principal.sandbox,
    )  # fmt: skip
    return one(call, campaign_of(row, Progress()), 201)


async def list_campaigns(call: Call) -> Reply:
    q = call.query_as(PageQuery)
    before = decode_cursor(q.cursor)
    total = await call.ctx.pool.fetchval(
        "SELECT count(*) FROM campaigns WHERE account_id = $1", call.account_id
    )
    rows = await call.ctx.pool.fetch(
        f"""SELECT {_COLUMNS} FROM campaigns WHERE account_id = $1 AND ($2::bigint IS NULL OR id < $2)
        ORDER BY id DESC LIMIT $3""",
        call.account_id, before, q.page_size + 1,
    )  # fmt: skip
    page, pagination = paginate(rows, q.page_size, key=lambda r: int(r["id"]), total=total)
    return page_of(call, [campaign_of(r) for r in page], pagination)


async def _detail(call: Call, campaign_id: int) -> Campaign:
    async with call.ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM campaigns WHERE id = $1 AND account_id = $2",
            campaign_id,
            call.account_id,
        )
        if row is None:
            raise not_found("campaign")
        return campaign_of(row, await campaign_progress(conn, campaign_id))


_BATCH = """SELECT id, client_ref, source, body, accepted, rejected, sandbox, scheduled_at, created_at
FROM sms_batches WHERE id = $1 AND account_id = $2"""
_BATCH_MESSAGES = """SELECT status, count(*) AS n, max(updated_at) AS last, min(created_at) AS first
FROM messages WHERE batch_id = $1 AND account_id = $2 GROUP BY status"""


async def _batch(call: Call, batch_id: uuid.UUID) -> Campaign:
    """A bulk batch as a campaign: its progress counted from its messages."""
    async with call.ctx.pool.acquire() as conn:
        row = await conn.fetchrow(_BATCH, batch_id, call.account_id)
        if row is None:
            raise not_found("campaign")
        counts = await conn.fetch(_BATCH_MESSAGES, str(batch_id), call.account_id)
    p = Progress()
    p.total = row["accepted"] + row["rejected"]
    p.failed = row["rejected"]
    last = row["created_at"]
    for r in counts:
        last = max(last, r["last"])
        p.count(r["status"], int(r["n"]))
    open_ = p.queued + p.sent
    state: CampaignState = "sending" if open_ else "completed" if row["accepted"] else "failed"
    return Campaign(
        id=str(row["id"]), kind="batch", name=row["client_ref"] or "bulk batch", from_=row["source"],
        body=row["body"], send_rate=None, state=state, schedule_at=row["scheduled_at"],
        created_at=row["created_at"], updated_at=last, started_at=row["created_at"],
        finished_at=None if open_ else last, reason="", reviewed_by="", reviewed_at=None,
        sandbox=row["sandbox"], progress=_progress(p),
    )  # fmt: skip


async def get_campaign(call: Call) -> Reply:
    text = call.path("id")
    try:
        batch_id = uuid.UUID(text) if len(text) == 36 else None
    except ValueError:
        batch_id = None
    if batch_id is not None:
        return one(call, await _batch(call, batch_id))
    return one(call, await _detail(call, path_id(call, "id", "campaign")))


def _recipient(
    index: int, to: str, variables: dict[str, Any], needed: set[str]
) -> tuple[str, dict[str, Any]] | RecipientRejected:
    try:
        digits = normalise_destination(to)
    except InvalidDestination as exc:
        return RecipientRejected(index, to, "INVALID_PHONE_NUMBER", str(exc))
    missing = sorted(n for n in needed if variables.get(n) in (None, ""))
    if missing:
        return RecipientRejected(index, to, "VALIDATION_ERROR", f"no value for {{{{{missing[0]}}}}}")
    return digits, variables


_GROUP_CONTACTS = """
SELECT DISTINCT ON (c.phone) c.phone,
       c.fields || jsonb_build_object('name', c.name, 'email', c.email, 'phone', '+' || c.phone) AS variables
FROM contacts c JOIN contact_group_members m ON m.contact_id = c.id
WHERE c.account_id = $1 AND m.group_id = ANY($2::bigint[]) ORDER BY c.phone
"""


async def _candidates(call: Call, body_text: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(index, to, variables) from a JSON list, a CSV, or the contacts of the caller's groups."""
    parsed = _decode_recipients(body_text)
    reject_nul(parsed)
    if isinstance(parsed, list):
        return [(i, r.to, dict(r.variables)) for i, r in enumerate(parsed)]
    groups = sorted(set(parsed.group_ids))
    owned = await call.ctx.pool.fetch(
        "SELECT id FROM contact_groups WHERE id = ANY($1::bigint[]) AND account_id = $2",
        groups,
        call.account_id,
    )
    if len(owned) != len(groups):
        raise not_found("group")
    rows = await call.ctx.pool.fetch(_GROUP_CONTACTS, call.account_id, groups)
    return [(0, "+" + r["phone"], json.loads(r["variables"])) for r in rows]


_ADD = """
INSERT INTO campaign_recipients (campaign_id, seq, destination, variables)
SELECT $1, $2 + u.ord, u.destination, u.variables::jsonb
FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS u(destination, variables, ord)
ON CONFLICT (campaign_id, destination) DO NOTHING RETURNING seq
"""


async def add_recipients(call: Call) -> Reply:
    campaign_id = path_id(call, "id", "campaign")
    media = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in ("text/csv", "application/csv", "multipart/form-data"):
        upload = read_csv_upload(call)
        records, errors = csv_records(upload.text, ("phone", "to"))
        candidates = []
        for r in records:
            row = int(r.pop("#"))
            to = r.pop("phone", "") or r.pop("to", "")
            candidates.append((row, to, {k: v for k, v in r.items() if v}))
        early = [RecipientRejected(e.row, "", "VALIDATION_ERROR", e.reason) for e in errors]
    else:
        raw = call.raw
        if not raw.strip():
            raise validation_error("a JSON body, or a text/csv one, is required")
        candidates, early = await _candidates(call, raw.decode("utf-8", "replace")), []
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        campaign = await conn.fetchrow(
            "SELECT state, body FROM campaigns WHERE id = $1 AND account_id = $2 FOR UPDATE",
            campaign_id, call.account_id,
        )  # fmt: skip
        if campaign is None:
            raise not_found("campaign")
        if campaign["state"] not in EDITABLE_STATES:
            raise ApiError(409, "CONFLICT", f"recipients cannot be added to a {campaign['state']} campaign",
                           {"state": campaign["state"]})  # fmt: skip
        needed = placeholders(campaign["body"])
        rejected, good, seen = list(early), [], set()
        duplicates = 0
        for index, to, variables in candidates:
            outcome = _recipient(index, to, variables, needed)
            if isinstance(outcome, RecipientRejected):
                rejected.append(outcome)
            elif outcome[0] in seen:
                duplicates += 1
            else:
                seen.add(outcome[0])
                good.append(outcome)
        last = await conn.fetchval(
            "SELECT coalesce(max(seq), 0) FROM campaign_recipients WHERE campaign_id = $1", campaign_id
        )
        added = await conn.fetch(
            _ADD, campaign_id, last, [g[0] for g in good], [json.dumps(g[1]) for g in good]
        ) if good else []  # fmt: skip
        total = await conn.fetchval(
            "SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1", campaign_id
        )
    rejected.sort(key=lambda r: r.index)
    return one(call, RecipientsAdded(len(added), duplicates + len(good) - len(added), rejected, total))


def _reviewer(call: Call) -> str:
    p = call.principal
    if p.key is not None:
        return f"api_key:{p.key.key}"
    return f"user:{p.user.email}" if p.user is not None else "api"


async def _act(call: Call, action: str, scheduled_at: datetime | None = None, reason: str = "") -> Reply:
    campaign_id = path_id(call, "id", "campaign")
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        try:
            await apply_action(
                conn, campaign_id, action, account_id=call.account_id, scheduled_at=scheduled_at,
                reviewer=_reviewer(call), reason=reason,
            )  # fmt: skip
        except CampaignNotFound:
            raise not_found("campaign") from None
        except ActionRefused as exc:
            raise ApiError(409, "CONFLICT", str(exc), {"state": exc.state}) from None
    runner = call.ctx.engine.campaigns
    if runner is not None:
        runner.wake()
    return one(call, await _detail(call, campaign_id))


async def submit_campaign(call: Call) -> Reply:
    return await _act(call, "submit")


async def approve_campaign(call: Call) -> Reply:
    return await _act(call, "approve")


async def reject_campaign(call: Call) -> Reply:
    body = decode_json(RejectIn, call.raw) if call.raw.strip() else RejectIn()
    return await _act(call, "reject", reason=body.reason or "rejected by the account admin")


async def schedule_campaign(call: Call) -> Reply:
    at = _schedule(call.body_as(ScheduleIn).schedule_at)
    assert at is not None
    return await _act(call, "schedule", at)


async def pause_campaign(call: Call) -> Reply:
    return await _act(call, "pause")


async def resume_campaign(call: Call) -> Reply:
    return await _act(call, "resume")


async def cancel_campaign(call: Call) -> Reply:
    return await _act(call, "cancel")


R, W, A, T = "campaigns.read", "campaigns.write", "campaigns.approve", "Campaigns"
_ONE = {200: One[Campaign]}
OPERATIONS = [
    Operation("GET", "/v1/campaigns", list_campaigns, "List campaigns", R, T, query=PageQuery,
              responses={200: Page[Campaign]}),
    Operation("POST", "/v1/campaigns", create_campaign, "Create a campaign (draft state)", W, T,
              body=CampaignIn, responses={201: One[Campaign]}),
    Operation("GET", "/v1/campaigns/{id}", get_campaign, "Get campaign details + progress (or a bulk batch)",
              R, T, responses=_ONE),
    Operation("POST", "/v1/campaigns/{id}/recipients", add_recipients, "Upload recipient list", W, T,
              responses={200: One[RecipientsAdded]},
              content={"application/json": _RECIPIENTS_BODY, "text/csv": CSV_TEXT},
              description="JSON {recipients: [{to, variables}]}, a plain list of them, or {group_ids: [...]} "
              "(each contact's name, email, phone and custom fields become variables), or text/csv (phone or "
              "to column, the others variables). Allowed before the campaign starts, and while paused."),
    Operation("POST", "/v1/campaigns/{id}/submit", submit_campaign, "Submit for send (-> pending_approval)",
              W, T, responses=_ONE),
    Operation("POST", "/v1/campaigns/{id}/approve", approve_campaign, "Approve (account admin)", A, T,
              responses=_ONE),
    Operation("POST", "/v1/campaigns/{id}/reject", reject_campaign, "Reject (account admin)", A, T,
              responses=_ONE, content={"application/json": (RejectIn,)}),
    Operation("POST", "/v1/campaigns/{id}/schedule", schedule_campaign, "Set schedule_at before it starts",
              W, T, body=ScheduleIn, responses=_ONE),
    Operation("POST", "/v1/campaigns/{id}/pause", pause_campaign, "Pause in-progress campaign", W, T,
              responses=_ONE),
    Operation("POST", "/v1/campaigns/{id}/resume", resume_campaign, "Resume paused campaign", W, T,
              responses=_ONE),
    Operation("POST", "/v1/campaigns/{id}/cancel", cancel_campaign, "Cancel campaign", W, T,
              responses=_ONE),
]  # fmt: skip
