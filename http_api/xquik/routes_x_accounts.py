"""Xquik "X Accounts (Connected)": the caller's connected X accounts, free of credits.

GET    /x/accounts        {accounts: [{id, username, displayName, isActive, createdAt}]}
GET    /x/accounts/{id}   one of them (404 not_found)
DELETE /x/accounts/{id}   {success: true}: disconnected (the same rows seed 004's /v1/accounts shows:
                          social_accounts, state 'disconnected'; its jobs and inbox rows stay)

Connecting or re-authenticating happens in the dashboard (seed 004's OAuth flow), never here.
"""

from __future__ import annotations

from typing import Any

from engine.social.accounts.store import AccountRecord
from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import DIALECT, PREFIX, XquikOut, id_param, stamp, xquik_error
from http_api.xquik.x_common import Done, layer, x_accounts

TAG = "Xquik X accounts"


class XAccountOut(XquikOut, frozen=True):
    id: str
    username: str
    display_name: str | None
    is_active: bool
    created_at: str | None


class XAccountList(XquikOut, frozen=True):
    accounts: list[XAccountOut]


def account_out(record: AccountRecord) -> dict[str, Any]:
    a = record.account
    return {
        "id": str(a.id),
        "username": a.username,
        "displayName": a.display_name,
        "isActive": record.state == "active",
        "createdAt": stamp(record.created_at),
    }


async def _one(call: Call) -> AccountRecord:
    wanted = id_param(call)
    found = next((r for r in await x_accounts(call) if r.account.id == wanted), None)
    if found is None:
        raise xquik_error(404, "not_found", "no such connected X account")
    return found


async def list_x_accounts(call: Call) -> Reply:
    return Reply(200, {"accounts": [account_out(r) for r in await x_accounts(call)]})


async def get_x_account(call: Call) -> Reply:
    return Reply(200, account_out(await _one(call)))


async def disconnect_x_account(call: Call) -> Reply:
    record = await _one(call)
    await layer(call).store.set_state(record.account.id, "disconnected", "disconnected through the Xquik API")
    return Reply(200, {"success": True})


OPERATIONS = [
    Operation("GET", f"{PREFIX}/x/accounts", list_x_accounts, "List connected X accounts", None, TAG,
              responses={200: XAccountList}, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/x/accounts/{{id}}", get_x_account, "Get a connected X account", None, TAG,
              responses={200: XAccountOut}, dialect=DIALECT),
    Operation("DELETE", f"{PREFIX}/x/accounts/{{id}}", disconnect_x_account, "Disconnect an X account", None,
              TAG, responses={200: Done}, dialect=DIALECT),
]  # fmt: skip
