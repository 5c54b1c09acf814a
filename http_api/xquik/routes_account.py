"""Xquik account: GET /account, PATCH /account (session only), PUT /account/x-identity; GET /credits.

GET /account answers plan, monitor billing, creditInfo (figures as strings) and xUsername. Monitors are
counted from the monitors module's table xquik_monitors when it exists (its active ones, `is_active`,
make the daily and hourly estimates), else 0. PATCH /account is session auth only, as the document
says. This module must never move credits.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from engine.xquik import credits
from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import (
    DIALECT,
    PREFIX,
    SESSION_DIALECT,
    XquikIn,
    XquikOut,
    figure,
    shown,
    xquik_error,
)

TAG = "Xquik account"
UNLIMITED = 9007199254740991  # the document's monitorsAllowed: JavaScript's MAX_SAFE_INTEGER
CREDITS_PER_MONITOR_DAY = 500
CREDITS_PER_MONITOR_HOUR = 21


class CreditInfoOut(XquikOut, frozen=True):
    balance: str
    lifetime_purchased: str
    lifetime_used: str
    auto_topup_enabled: bool
    auto_topup_amount_dollars: int
    auto_topup_threshold: str


class MonitorBilling(XquikOut, frozen=True):
    active_daily_estimate: str
    active_hourly_burn: str
    credits_per_active_monitor_day: str
    credits_per_active_monitor_hour: str
    events_included: bool
    instant_check_interval_seconds: int
    unlimited_slots: bool


class AccountOut(XquikOut, frozen=True):
    plan: str
    monitors_allowed: int
    monitors_used: int
    monitor_billing: MonitorBilling
    credit_info: CreditInfoOut
    x_username: str | None


def credit_info_out(info: credits.CreditInfo) -> CreditInfoOut:
    return CreditInfoOut(
        figure(info.balance), figure(info.lifetime_purchased), figure(info.lifetime_used),
        info.auto_topup_enabled, info.auto_topup_amount_dollars, figure(info.auto_topup_threshold),
    )  # fmt: skip


async def _monitors(call: Call) -> tuple[int, int]:
    """(monitors, active monitors) of the account, from the monitors module's table when it exists."""
    pool = call.ctx.pool
    columns = await pool.fetchval(
        "SELECT array_agg(attname::text) FROM pg_attribute"
        " WHERE attrelid = to_regclass('xquik_monitors') AND attnum > 0 AND NOT attisdropped"
    )
    if not columns:
        return 0, 0
    active = "count(*) FILTER (WHERE is_active)" if "is_active" in columns else "count(*)"
    row = await pool.fetchrow(
        f"SELECT count(*) AS n, {active} AS active FROM xquik_monitors WHERE account_id = $1",
        call.account_id,
    )
    assert row is not None
    return int(row["n"]), int(row["active"])


async def xquik_get_account(call: Call) -> Reply:
    pool = call.ctx.pool
    row = await pool.fetchrow(
        "SELECT plan, x_username FROM xquik_accounts WHERE account_id = $1", call.account_id
    )
    info = await credits.balance(pool, call.account_id)
    used, active = await _monitors(call)
    billing = MonitorBilling(
        figure(active * CREDITS_PER_MONITOR_DAY), figure(active * CREDITS_PER_MONITOR_HOUR),
        figure(CREDITS_PER_MONITOR_DAY), figure(CREDITS_PER_MONITOR_HOUR), True, 1, True,
    )  # fmt: skip
    return Reply(200, AccountOut(
        plan=row["plan"] if row else "inactive", monitors_allowed=UNLIMITED, monitors_used=used,
        monitor_billing=billing, credit_info=credit_info_out(info),
        x_username=row["x_username"] if row else None,
    ))  # fmt: skip


class UpdateAccount(XquikIn, frozen=True):
    locale: Literal["en", "tr", "es"]


class UpdatedAccount(XquikOut, frozen=True):
    success: bool
    locale: str


async def xquik_update_account(call: Call) -> Reply:
    body = call.body_as(UpdateAccount)
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await credits.open_profile(conn, call.account_id)
        await conn.execute(
            "UPDATE xquik_accounts SET locale = $2 WHERE account_id = $1", call.account_id, body.locale
        )
    return Reply(200, UpdatedAccount(True, body.locale))


Username = Annotated[str, Meta(min_length=1, max_length=15, pattern=r"^[A-Za-z0-9_]+$")]


class XIdentity(XquikIn, frozen=True):
    username: Annotated[str, shown(pattern=r"^[A-Za-z0-9_]{1,15}$")]


class XIdentityOut(XquikOut, frozen=True):
    success: bool
    x_username: str


async def xquik_set_x_identity(call: Call) -> Reply:
    name = call.body_as(XIdentity).username.strip().removeprefix("@")
    try:
        username = msgspec.convert(name, Username)
    except msgspec.ValidationError:
        raise xquik_error(400, "invalid_input", "username is 1-15 letters, digits or _ (without @)") from None
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await credits.open_profile(conn, call.account_id)
        await conn.execute(
            "UPDATE xquik_accounts SET x_username = $2 WHERE account_id = $1", call.account_id, username
        )
    return Reply(200, XIdentityOut(True, username))


async def xquik_get_credits(call: Call) -> Reply:
    return Reply(200, credit_info_out(await credits.balance(call.ctx.pool, call.account_id)))


OPERATIONS = [
    Operation("GET", f"{PREFIX}/account", xquik_get_account, "Get account", None, TAG,
              responses={200: AccountOut}, dialect=DIALECT),
    Operation("PATCH", f"{PREFIX}/account", xquik_update_account, "Update account locale (session only)",
              None, TAG, body=UpdateAccount, responses={200: UpdatedAccount}, dialect=SESSION_DIALECT),
    Operation("PUT", f"{PREFIX}/account/x-identity", xquik_set_x_identity, "Set X identity", None, TAG,
              body=XIdentity, responses={200: XIdentityOut}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/credits", xquik_get_credits, "Get credit balance", None, TAG,
              responses={200: CreditInfoOut}, dialect=DIALECT),
]  # fmt: skip
