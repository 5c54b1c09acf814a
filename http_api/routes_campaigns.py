"""Campaigns: create a draft, add recipients, and drive it through its states; progress from the messages.

    GET  /v1/campaigns                      campaigns.read   newest first (cursor)
    POST /v1/campaigns                      campaigns.write  201, state draft
    GET  /v1/campaigns/{id}                 campaigns.read   with live progress counts
    POST /v1/campaigns/{id}/recipients      campaigns.write  [{to, variables}], {group_ids: [...]}, or CSV
    POST /v1/campaigns/{id}/submit          campaigns.write  draft -> sending (scheduled if its time is ahead)
    POST /v1/campaigns/{id}/schedule        campaigns.write  {scheduled_at}: draft | scheduled -> scheduled
    POST /v1/campaigns/{id}/pause           campaigns.write  sending -> paused (no release after the answer)
    POST /v1/campaigns/{id}/resume          campaigns.write  paused -> sending
    POST /v1/campaigns/{id}/cancel          campaigns.write  -> cancelled; pending recipients are never sent

A transition that the state table (engine.campaigns.runner.ACTIONS) does not allow is 409 CONFLICT with
the current state in `details.state`. Recipients are validated when added (number, every {{placeholder}}
has a value) and de-duplicated by number; the engine's campaign runner sends them through the one accept path.
This module must never send a message itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from engine.campaigns.runner import EDITABLE_STATES, Progress, campaign_progress, placeholders, transition
from http_api.contacts_csv import csv_records, read_csv_upload, reject_nul
from http_api.errors import ApiError, not_found, validation_error
from http_api.operations import Call, Operation, Reply, read_body
from http_api.pagination import decode_cursor, paginate
from http_api.routes_contacts import PageQuery, RowId, path_id
from http_api.schemas import Body, Pagination, Phone, Request, Schedule, Sender, Variables
from routing.numbers import InvalidDestination, normalise_destination

MAX_RECIPIENTS_PER_REQUEST = 100_000
MAX_SCHEDULE_AHEAD = timedelta(days=30)


class CampaignIn(Request, frozen=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    from_: Sender = msgspec.field(name="from")
    body: Body
    send_rate: Annotated[float, Meta(gt=0, le=10_000, description="messages per second, at most")] = 10.0
    scheduled_at: Schedule | None = None


class ProgressOut(msgspec.Struct, frozen=True):
    total: int  # recipients
    pending: int  # not released yet
    queued: int  # accepted, not yet taken by a carrier
    sent: int  # taken by a carrier, no final receipt yet
    delivered: int
    failed: int  # refused at release, or final without delivery
    cancelled: int  # never released because the campaign was cancelled


class Campaign(msgspec.Struct, frozen=True):
    id: int
    name: str
    from_: str = msgspec.field(name="from")
    body: str
    send_rate: float
    state: str
    scheduled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    reason: str
    sandbox: bool
    progress: ProgressOut | None = None  # in GET /v1/campaigns/{id} and the actions' answers


class CampaignList(msgspec.Struct, frozen=True):
    data: list[Campaign]
    pagination: Pagination


class RecipientIn(Request, frozen=True):
    to: Phone
    variables: Variables = msgspec.field(default_factory=dict)


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
    scheduled_at: Schedule


_COLUMNS = """id, name, source, body, send_rate, state, scheduled_at, created_at, updated_at, started_at,
finished_at, reason, sandbox"""
_recipients_decoder = msgspec.json.Decoder(
    Annotated[list[RecipientIn], Meta(min_length=1, max_length=MAX_RECIPIENTS_PER_REQUEST)] | GroupRecipients
)


def campaign_of(row: Any, progress: Progress | None = None) -> Campaign:
    p = None
    if progress is not None:
        p = ProgressOut(progress.total, progress.pending, progress.queued, progress.sent, progress.delivered,
                        progress.failed, progress.cancelled)  # fmt: skip
    return Campaign(row["id"], row["name"], row["source"], row["body"], row["send_rate"], row["state"],
                    row["scheduled_at"], row["created_at"], row["updated_at"], row["started_at"],
                    row["finished_at"], row["reason"], row["sandbox"], p)  # fmt: skip


def _check_schedule(at: datetime) -> None:
    ahead = at - datetime.now(UTC)
    if ahead > MAX_SCHEDULE_AHEAD:
        raise validation_error("scheduled_at is more than 30 days ahead", field="scheduled_at")


async def create_campaign(call: Call) -> Reply:
    body = call.body_as(CampaignIn)
    reject_nul(body)
    if body.scheduled_at is not None:
        _check_schedule(body.scheduled_at)
    row = await call.ctx.pool.fetchrow(
        f"""INSERT INTO campaigns (account_id, name, source, body, send_rate, scheduled_at, sandbox)
        VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}""",
        call.account_id, body.name, body.from_, body.body, body.send_rate, body.scheduled_at,
        call.principal.sandbox,
    )  # fmt: skip
    return Reply(201, campaign_of(row, Progress()))


async def list_campaigns(call: Call) -> Reply:
    q = call.query_as(PageQuery)
    before = decode_cursor("campaigns", q.cursor)
    rows = await call.ctx.pool.fetch(
        f"""SELECT {_COLUMNS} FROM campaigns WHERE account_id = $1 AND ($2::bigint IS NULL OR id < $2)
        ORDER BY id DESC LIMIT $3""",
        call.account_id, before, q.page_size + 1,
    )  # fmt: skip
    page, pagination = paginate("campaigns", rows, q.page_size, key=lambda r: int(r["id"]))
    return Reply(200, CampaignList([campaign_of(r) for r in page], pagination))


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


async def get_campaign(call: Call) -> Reply:
    return Reply(200, await _detail(call, path_id(call, "id", "campaign")))


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
    parsed = _recipients_decoder.decode(body_text)
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
        upload = await read_csv_upload(call)
        records, errors = csv_records(upload.text, ("phone", "to"))
        candidates = []
        for r in records:
            row = int(r.pop("#"))
            to = r.pop("phone", "") or r.pop("to", "")
            candidates.append((row, to, {k: v for k, v in r.items() if v}))
        early = [RecipientRejected(e.row, "", "VALIDATION_ERROR", e.reason) for e in errors]
    else:
        raw = await read_body(call.request, call.ctx.settings.max_body_bytes)
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
    return Reply(200, RecipientsAdded(len(added), duplicates + len(good) - len(added), rejected, total))


async def _act(call: Call, action: str, scheduled_at: datetime | None = None) -> Reply:
    campaign_id = path_id(call, "id", "campaign")
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        # FOR UPDATE waits for a release batch in flight: once this answers, the runner has stopped.
        row = await conn.fetchrow(
            "SELECT state, scheduled_at FROM campaigns WHERE id = $1 AND account_id = $2 FOR UPDATE",
            campaign_id, call.account_id,
        )  # fmt: skip
        if row is None:
            raise not_found("campaign")
        state = row["state"]
        when = scheduled_at or row["scheduled_at"]
        target = transition(action, state, scheduled_in_future=when is not None and when > datetime.now(UTC))
        if target is None:
            raise ApiError(409, "CONFLICT", f"cannot {action} a {state} campaign", {"state": state})
        if action == "submit" and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = $1)", campaign_id
        ):
            raise ApiError(409, "CONFLICT", "the campaign has no recipients", {"state": state})
        await conn.execute(
            """UPDATE campaigns SET state = $2, scheduled_at = coalesce($3, scheduled_at), updated_at = now(),
                started_at = CASE WHEN $2 = 'sending' THEN coalesce(started_at, now()) ELSE started_at END,
                finished_at = CASE WHEN $2 = 'cancelled' THEN now() ELSE finished_at END
            WHERE id = $1""",
            campaign_id, target, scheduled_at,
        )  # fmt: skip
        if target == "cancelled":
            await conn.execute(
                """UPDATE campaign_recipients SET state = 'rejected', code = 'CANCELLED',
                reason = 'campaign cancelled' WHERE campaign_id = $1 AND state = 'pending'""",
                campaign_id,
            )
    runner = call.ctx.engine.campaigns
    if runner is not None:
        runner.wake()
    return Reply(200, await _detail(call, campaign_id))


async def submit_campaign(call: Call) -> Reply:
    return await _act(call, "submit")


async def schedule_campaign(call: Call) -> Reply:
    at = call.body_as(ScheduleIn).scheduled_at
    _check_schedule(at)
    if at <= datetime.now(UTC):
        raise validation_error(
            "scheduled_at must be in the future (use submit to send now)", field="scheduled_at"
        )
    return await _act(call, "schedule", at)


async def pause_campaign(call: Call) -> Reply:
    return await _act(call, "pause")


async def resume_campaign(call: Call) -> Reply:
    return await _act(call, "resume")


async def cancel_campaign(call: Call) -> Reply:
    return await _act(call, "cancel")


R, W, T = "campaigns.read", "campaigns.write", "Campaigns"
OPERATIONS = [
    Operation("GET", "/v1/campaigns", list_campaigns, "List campaigns (newest first)", R, T, query=PageQuery,
              responses={200: CampaignList}),
    Operation("POST", "/v1/campaigns", create_campaign, "Create a campaign (draft)", W, T, body=CampaignIn,
              responses={201: Campaign}, idempotent=True),
    Operation("GET", "/v1/campaigns/{id}", get_campaign, "Get a campaign with its progress", R, T,
              responses={200: Campaign}),
    Operation("POST", "/v1/campaigns/{id}/recipients", add_recipients, "Add recipients", W, T,
              responses={200: RecipientsAdded},
              description="JSON [{to, variables}] or {group_ids: [...]} (each contact's name, email, phone "
              "and custom fields become variables), or text/csv (phone or to column, the others variables). "
              "Allowed in draft, scheduled and paused campaigns."),
    Operation("POST", "/v1/campaigns/{id}/submit", submit_campaign, "Start sending (or schedule)", W, T,
              responses={200: Campaign}),
    Operation("POST", "/v1/campaigns/{id}/schedule", schedule_campaign, "Schedule", W, T, body=ScheduleIn,
              responses={200: Campaign}),
    Operation("POST", "/v1/campaigns/{id}/pause", pause_campaign, "Pause", W, T,
              responses={200: Campaign}),
    Operation("POST", "/v1/campaigns/{id}/resume", resume_campaign, "Resume", W, T,
              responses={200: Campaign}),
    Operation("POST", "/v1/campaigns/{id}/cancel", cancel_campaign, "Cancel", W, T,
              responses={200: Campaign}),
]  # fmt: skip
