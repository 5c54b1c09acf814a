"""Settings: the account's profile, sender IDs, SMPP credentials and notification preferences.

    GET   /v1/settings/profile              settings.manage   the account and its profile
    PATCH /v1/settings/profile              settings.manage   name, company, email, timezone, ...
    GET   /v1/settings/sender-ids           settings.manage   pending, approved and rejected requests
    POST  /v1/settings/sender-ids           settings.manage   201 pending (the operator approves: CLI)
    GET   /v1/settings/smpp                 settings.manage   system_id, host, port, limits (no password)
    POST  /v1/settings/smpp/regenerate      settings.manage   a new password, shown once; the SMPP server
                                                              checks exactly these credentials from then on
    GET   /v1/settings/notifications        settings.manage
    PATCH /v1/settings/notifications        settings.manage   which alerts, to what address; the low-balance
                                                              threshold is the ledger's (balance.low)

API keys and webhooks under /v1/settings are routes_keys' and routes_webhooks'. Sender IDs live in the
engine (engine.senders: checked at send time); SMPP credentials are the engine's smpp_credentials, set
through engine.admin.provision like the operator's `smsengine smpp set`. This module never shows a
password after the answer that made it.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

import msgspec
from msgspec import Meta

from billing import balance, set_policy
from billing.model import UnknownAccount
from billing.money import from_minor, to_minor
from engine.admin.provision import set_smpp_credentials
from engine.senders.registry import SenderExists, request_sender, senders_of
from http_api.envelopes import One, Page, PageQuery, offset_page, one, page_of
from http_api.errors import ApiError, not_found, validation_error
from http_api.operations import Call, Operation, Reply
from http_api.routes_contacts import Email
from http_api.schemas import Request, Sender

PERMISSION, TAG = "settings.manage", "Settings"
NoNul = r"^[^\x00]*$"
Short = Annotated[str, Meta(max_length=200, pattern=NoNul)]
_ZONES = frozenset(available_timezones())
# The IANA zones this machine knows, listed in the schema (checked against the same set on the way in).
Timezone = Annotated[
    str,
    Meta(max_length=64, extra_json_schema={"enum": sorted(_ZONES)}, description="IANA, e.g. Europe/London"),
]
Country = Annotated[str, Meta(pattern=r"^$|^[A-Z]{2}$", description="ISO 3166 alpha-2")]


class Profile(msgspec.Struct, frozen=True):
    account_id: int
    account: str  # the operator's name for the account
    display_name: str
    company: str
    email: str
    phone: str
    timezone: str
    country: str
    address: str
    vat_number: str
    currency: str
    campaigns_trusted: bool  # submitted campaigns skip approval
    sender_ids_required: bool  # sends must use an approved sender ID
    created_at: datetime


class ProfilePatch(Request, frozen=True):
    display_name: Short | None = None
    company: Short | None = None
    email: Email | None = None
    phone: Annotated[str, Meta(pattern=r"^$|^\+[1-9][0-9]{6,14}$")] | None = None
    timezone: Timezone | None = None
    country: Country | None = None
    address: Annotated[str, Meta(max_length=500, pattern=NoNul)] | None = None
    vat_number: Annotated[str, Meta(max_length=32, pattern=r"^[A-Za-z0-9 -]*$")] | None = None


class SenderIdIn(Request, frozen=True):
    sender_id: Sender
    use_case: Annotated[str, Meta(max_length=500, pattern=NoNul)] = ""
    countries: Annotated[list[Country], Meta(max_length=50)] = msgspec.field(default_factory=list)


class SenderIdOut(msgspec.Struct, frozen=True):
    id: int
    sender_id: str
    kind: str  # alphanumeric | numeric
    status: Literal["pending", "approved", "rejected"]
    use_case: str
    countries: list[str]
    reason: str
    created_at: datetime
    reviewed_at: datetime | None


class SmppSettings(msgspec.Struct, frozen=True):
    configured: bool
    system_id: str | None
    host: str
    port: int
    tls: bool
    allowed_ips: list[str]
    max_binds: int
    throughput: int  # submit_sm per second per bind
    created_at: datetime | None


class SmppRegenerated(msgspec.Struct, frozen=True):
    system_id: str
    password: str  # shown once: store it now
    host: str
    port: int


class Notifications(msgspec.Struct, frozen=True):
    email: str
    low_balance: bool
    low_balance_threshold: int  # minor units; 0: no balance.low alert
    webhook_failure: bool
    campaign_finished: bool
    invoice_issued: bool
    weekly_report: bool
    currency: str


class NotificationsPatch(Request, frozen=True):
    email: Email | None = None
    low_balance: bool | None = None
    low_balance_threshold: Annotated[int, Meta(ge=0, le=10**12)] | None = None
    webhook_failure: bool | None = None
    campaign_finished: bool | None = None
    invoice_issued: bool | None = None
    weekly_report: bool | None = None


_PROFILE = """SELECT a.id, a.name, a.currency, a.created_at, a.campaigns_trusted, a.sender_ids_required,
    coalesce(p.display_name, '') AS display_name, coalesce(p.company, '') AS company,
    coalesce(p.email, '') AS email, coalesce(p.phone, '') AS phone, coalesce(p.timezone, 'UTC') AS timezone,
    coalesce(p.country, '') AS country, coalesce(p.address, '') AS address,
    coalesce(p.vat_number, '') AS vat_number
FROM accounts a LEFT JOIN account_profiles p ON p.account_id = a.id WHERE a.id = $1"""
_PROFILE_FIELDS = (
    "display_name",
    "company",
    "email",
    "phone",
    "timezone",
    "country",
    "address",
    "vat_number",
)


async def profile_row(conn: Any, account_id: int) -> Any:
    row = await conn.fetchrow(_PROFILE, account_id)
    if row is None:
        raise not_found("account")
    return row


def _profile(r: Any) -> Profile:
    return Profile(
        r["id"], r["name"], r["display_name"], r["company"], r["email"], r["phone"], r["timezone"],
        r["country"], r["address"], r["vat_number"], r["currency"].strip(), r["campaigns_trusted"],
        r["sender_ids_required"], r["created_at"],
    )  # fmt: skip


async def get_profile(call: Call) -> Reply:
    return one(call, _profile(await profile_row(call.ctx.pool, call.account_id)))


async def update_profile(call: Call) -> Reply:
    body = call.body_as(ProfilePatch)
    if body.timezone is not None and body.timezone not in _ZONES:
        raise validation_error(f"unknown timezone {body.timezone!r}", field="timezone")
    values = [getattr(body, f) for f in _PROFILE_FIELDS]
    sets = ", ".join(f"{f} = coalesce(${i + 2}, account_profiles.{f})" for i, f in enumerate(_PROFILE_FIELDS))
    columns = ", ".join(_PROFILE_FIELDS)
    defaults = {"timezone": "UTC"}  # the table's defaults: a field left out of the first PATCH gets them
    insert_values = ", ".join(
        f"coalesce(${i + 2}, '{defaults.get(f, '')}')" for i, f in enumerate(_PROFILE_FIELDS)
    )
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await profile_row(conn, call.account_id)
        await conn.execute(
            f"""INSERT INTO account_profiles (account_id, {columns}) VALUES ($1, {insert_values})
            ON CONFLICT (account_id) DO UPDATE SET {sets}, updated_at = now()""",
            call.account_id, *values,
        )  # fmt: skip
        row = await profile_row(conn, call.account_id)
    return one(call, _profile(row))


def _sender(r: Any) -> SenderIdOut:
    return SenderIdOut(r["id"], r["sender"], r["kind"], r["status"], r["use_case"], list(r["countries"]),
                       r["reason"], r["created_at"], r["reviewed_at"])  # fmt: skip


async def list_sender_ids(call: Call) -> Reply:
    async with call.ctx.pool.acquire() as conn:
        rows = await senders_of(conn, call.account_id)
    page, pagination = offset_page(rows, call.query_as(PageQuery))
    return page_of(call, [_sender(r) for r in page], pagination)


async def request_sender_id(call: Call) -> Reply:
    body = call.body_as(SenderIdIn)
    try:
        row = await request_sender(
            call.ctx.pool, call.account_id, body.sender_id.strip(), use_case=body.use_case,
            countries=sorted(set(body.countries)),
        )  # fmt: skip
    except SenderExists:
        raise ApiError(409, "CONFLICT", f"sender ID {body.sender_id!r} was requested already",
                       {"field": "sender_id"}) from None  # fmt: skip
    return one(call, _sender(row), 201)


def _smpp_address(call: Call) -> tuple[str, int]:
    portal = call.ctx.engine.settings.portal
    engine = call.ctx.engine
    return portal.smpp_host or engine.settings.smpp.host, portal.smpp_port or engine.smpp_port


_CREDENTIAL = """SELECT system_id, allowed_ips, max_binds, throughput, created_at FROM smpp_credentials
WHERE account_id = $1 ORDER BY created_at LIMIT 1"""


async def get_smpp(call: Call) -> Reply:
    row = await call.ctx.pool.fetchrow(_CREDENTIAL, call.account_id)
    host, port = _smpp_address(call)
    tls = bool(call.ctx.engine.settings.smpp.tls_cert)
    if row is None:
        return one(call, SmppSettings(False, None, host, port, tls, [], 4, 100, None))
    return one(
        call,
        SmppSettings(True, row["system_id"], host, port, tls, list(row["allowed_ips"]), row["max_binds"],
                     row["throughput"], row["created_at"]),
    )  # fmt: skip


_ALPHABET = string.ascii_letters + string.digits


async def _free_system_id(call: Call) -> str:
    """A system_id for an account that has none: its name, cut to SMPP's 15 characters, made unique."""
    name = await call.ctx.pool.fetchval("SELECT name FROM accounts WHERE id = $1", call.account_id)
    base = re.sub(r"[^A-Za-z0-9]", "", str(name or ""))[:10] or "acct"
    candidate = base
    while await call.ctx.pool.fetchval("SELECT 1 FROM smpp_credentials WHERE system_id = $1", candidate):
        candidate = f"{base}{secrets.randbelow(100_000)}"[:15]
    return candidate


async def regenerate_smpp(call: Call) -> Reply:
    # SMPP 3.4 passwords are at most 8 characters: 8 random letters and digits (~47 bits).
    password = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    row = await call.ctx.pool.fetchrow(_CREDENTIAL, call.account_id)
    if row is None:
        system_id = await _free_system_id(call)
        await set_smpp_credentials(call.ctx.pool, call.account_id, system_id, password)
    else:
        system_id = row["system_id"]
        await set_smpp_credentials(
            call.ctx.pool, call.account_id, system_id, password, allowed_ips=list(row["allowed_ips"]),
            max_binds=row["max_binds"], throughput=row["throughput"],
        )  # fmt: skip
    host, port = _smpp_address(call)
    return one(call, SmppRegenerated(system_id, password, host, port))


_PREFS = """SELECT email, low_balance, webhook_failure, campaign_finished, invoice_issued, weekly_report
FROM notification_preferences WHERE account_id = $1"""
_PREF_FIELDS = (
    "email",
    "low_balance",
    "webhook_failure",
    "campaign_finished",
    "invoice_issued",
    "weekly_report",
)
_PREF_DEFAULTS: dict[str, Any] = {
    "email": "", "low_balance": True, "webhook_failure": True, "campaign_finished": False,
    "invoice_issued": True, "weekly_report": False,
}  # fmt: skip


async def _notifications(conn: Any, account_id: int) -> Notifications:
    row = await conn.fetchrow(_PREFS, account_id)
    prefs = dict(_PREF_DEFAULTS) if row is None else {f: row[f] for f in _PREF_FIELDS}
    try:
        b = await balance(conn, account_id)
    except UnknownAccount:
        raise not_found("account") from None
    threshold = to_minor(b.low_threshold or 0, b.currency, round_up=False)
    return Notifications(**prefs, low_balance_threshold=threshold, currency=b.currency)


async def get_notifications(call: Call) -> Reply:
    async with call.ctx.pool.acquire() as conn:
        return one(call, await _notifications(conn, call.account_id))


async def update_notifications(call: Call) -> Reply:
    body = call.body_as(NotificationsPatch)
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        current = await _notifications(conn, call.account_id)
        merged = {
            f: getattr(body, f) if getattr(body, f) is not None else getattr(current, f) for f in _PREF_FIELDS
        }
        await conn.execute(
            """INSERT INTO notification_preferences (account_id, email, low_balance, webhook_failure,
                campaign_finished, invoice_issued, weekly_report) VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (account_id) DO UPDATE SET email = $2, low_balance = $3, webhook_failure = $4,
                campaign_finished = $5, invoice_issued = $6, weekly_report = $7, updated_at = now()""",
            call.account_id, *(merged[f] for f in _PREF_FIELDS),
        )  # fmt: skip
        if body.low_balance_threshold is not None:
            b = await balance(conn, call.account_id)
            micro = from_minor(body.low_balance_threshold, b.currency) or None
            await set_policy(
                conn, call.account_id, low_threshold=micro, refund_undeliverable=b.refund_undeliverable
            )
        result = await _notifications(conn, call.account_id)
    return one(call, result)


P, T = PERMISSION, TAG
OPERATIONS = [
    Operation("GET", "/v1/settings/profile", get_profile, "Get account profile", P, T,
              responses={200: One[Profile]}),
    Operation("PATCH", "/v1/settings/profile", update_profile, "Update profile (name, timezone, etc.)", P, T,
              body=ProfilePatch, responses={200: One[Profile]}),
    Operation("GET", "/v1/settings/sender-ids", list_sender_ids, "List sender IDs", P, T, query=PageQuery,
              responses={200: Page[SenderIdOut]}),
    Operation("POST", "/v1/settings/sender-ids", request_sender_id, "Request a new sender ID", P, T,
              body=SenderIdIn, responses={201: One[SenderIdOut]},
              description="The request is pending until the operator approves it (smsengine senders "
              "approve). An account that requires approved sender IDs gets 400 INVALID_SENDER_ID for any "
              "other."),
    Operation("GET", "/v1/settings/smpp", get_smpp, "Get SMPP credentials", P, T,
              responses={200: One[SmppSettings]}),
    Operation("POST", "/v1/settings/smpp/regenerate", regenerate_smpp, "Regenerate SMPP password", P, T,
              responses={200: One[SmppRegenerated]}),
    Operation("GET", "/v1/settings/notifications", get_notifications, "Get notification preferences", P, T,
              responses={200: One[Notifications]}),
    Operation("PATCH", "/v1/settings/notifications", update_notifications, "Update notification preferences",
              P, T, body=NotificationsPatch, responses={200: One[Notifications]}),
]  # fmt: skip
