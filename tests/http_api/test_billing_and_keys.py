"""Billing (balance, transactions, usage, top-up) and API key management, each scoped to its account."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.http_api.conftest import Api, sms


async def test_balance_and_topup_are_the_callers_own(api: Api) -> None:
    mine = (await api.client.get("/v1/billing/balance", headers=api.headers())).json()["data"]
    theirs = (await api.client.get("/v1/billing/balance", headers=api.other())).json()["data"]
    # the document's shape, in minor units (cents): 100.00 EUR is 10000
    assert mine == {
        "balance": 10_000, "credit_limit": 0, "available": 10_000, "currency": "EUR",
        "low_balance_threshold": 0, "auto_topup_enabled": False, "reserved": 0,
    }  # fmt: skip
    assert theirs["balance"] == 5_000
    # "*" does not include billing.write: topping up is for operator keys only
    r = await api.client.post("/v1/billing/topup", json={"amount": "2.5"}, headers=api.other())
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    operator = await api.new_key(permissions=["billing.write"], account=api.other_account)
    r = await api.client.post("/v1/billing/topup", json={"amount": "2.5"}, headers=operator)
    assert r.status_code == 200 and r.json()["data"]["balance"] == 5_250 and r.json()["data"]["applied"]
    assert (await api.client.get("/v1/billing/balance", headers=api.headers())).json()["data"] == mine
    mine_operator = await api.new_key(permissions=["billing.write"])
    for amount in ("-1", "0", "1.1234567", "abc", "1e3"):
        r = await api.client.post("/v1/billing/topup", json={"amount": amount}, headers=mine_operator)
        assert r.status_code == 400, amount
    r = await api.client.post("/v1/billing/topup", json={"amount": 5}, headers=mine_operator)
    assert r.status_code == 400  # a number, not a decimal string


async def test_transactions_paginate_and_never_show_another_account(api: Api) -> None:
    for _ in range(3):
        assert (await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())).status_code == 202
    await api.client.post("/v1/sms/send", json=sms(), headers=api.other())
    assert await api.stack.engine.wait_idle(within=30.0)
    await _wait_settled(api)  # the ledger stands still while the pages are read
    seen = []
    totals: set[int] = set()
    cursor = None
    while True:
        params = {"page_size": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/v1/billing/transactions", params=params, headers=api.headers())).json()
        seen += page["data"]
        cursor = page["pagination"]["cursor"]
        totals.add(page["pagination"]["total"])
        if cursor is None:
            break
    assert totals == {len(seen)}  # every page counts the same whole list
    kinds = [t["type"] for t in seen]
    assert kinds.count("reserve") == 3 and kinds.count("topup") == 1  # the harness' initial funding
    assert kinds.count("capture") >= 1  # captures are batched: one posting may settle several messages
    assert [t["id"] for t in seen] == sorted((t["id"] for t in seen), reverse=True)
    assert all("cost" not in t for t in seen)  # what the carrier charges us is not the customer's business
    assert [t["amount"] for t in seen if t["type"] == "topup"] == [10_000]  # minor units
    assert {t["amount"] for t in seen if t["type"] == "reserve"} == {-1}  # 0.5 cent held: 1 cent, rounded up
    theirs = (await api.client.get("/v1/billing/transactions", headers=api.other())).json()["data"]
    assert not {t["id"] for t in theirs} & {t["id"] for t in seen}
    bad = await api.client.get("/v1/billing/transactions", params={"cursor": "zzz"}, headers=api.headers())
    assert bad.status_code == 400


async def test_usage_counts_captured_messages_by_country(api: Api) -> None:
    r = await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())
    assert r.status_code == 202
    assert await api.stack.engine.wait_idle(within=30.0)
    await _wait_captured(api)
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    params = {"period": "day", "from_date": since, "by": "country"}
    usage = (await api.client.get("/v1/billing/usage", params=params, headers=api.headers())).json()["data"]
    assert [(row["country"], row["messages"], row["cost"]) for row in usage["breakdown"]] == [("GB", 1, 1)]
    assert usage["messages"] == 1 and usage["segments"] == 1 and usage["currency"] == "EUR"
    theirs = (await api.client.get("/v1/billing/usage", params=params, headers=api.other())).json()["data"]
    assert theirs["breakdown"] == [] and theirs["messages"] == 0
    csv = await api.client.get("/v1/billing/usage/export", params=params, headers=api.headers())
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "period_start,country,messages,segments,cost,currency"
    assert lines[1].endswith(",GB,1,1,1,EUR") and len(lines) == 2
    r = await api.client.get("/v1/billing/usage", params={"period": "week"}, headers=api.headers())
    assert r.status_code == 400


async def _wait_settled(api: Api) -> None:
    """Until no message of the account holds a reservation: every capture is posted."""
    async with asyncio.timeout(30):
        while True:  # the carrier's submit_sm_resp decides when: poll the rows
            held = await api.stack.pool.fetchval(
                "SELECT count(*) FROM messages WHERE account_id = $1 AND money = 'reserved'",
                api.stack.account_id,
            )
            if not held:
                return
            await asyncio.sleep(0.02)


async def _wait_captured(api: Api, count: int = 1) -> None:
    # The capture follows the carrier's submit_sm_resp, which wait_idle already waited for; the
    # posting is written in the same transaction as the submitted status, so a short poll suffices.
    async with asyncio.timeout(30):
        while True:
            captured = await api.stack.pool.fetchval(
                "SELECT count(*) FROM billing_postings WHERE kind = 'capture'"
            )
            if captured >= count:
                return
            await asyncio.sleep(0.02)


async def test_api_keys_crud_shows_the_secret_once_and_is_scoped(api: Api) -> None:
    r = await api.client.post(
        "/v1/settings/api-keys",
        json={"name": "ci", "permissions": ["sms.send", "sms.read"]},
        headers=api.headers(),
    )
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["key"].startswith("bsms_live_") and created["secret"] and created["permissions"] == [
        "sms.read", "sms.send",
    ]  # fmt: skip
    new = api.headers(created["key"], created["secret"])
    assert (await api.client.post("/v1/sms/send", json=sms(), headers=new)).status_code == 202
    listed = (await api.client.get("/v1/settings/api-keys", headers=api.headers())).json()["data"]
    assert created["key"] in {k["id"] for k in listed} and all("secret" not in k for k in listed)
    theirs = (await api.client.get("/v1/settings/api-keys", headers=api.other())).json()["data"]
    assert {k["id"] for k in theirs} == {api.other_key}
    # B cannot revoke A's key: 404, as for a key that does not exist
    r = await api.client.delete(f"/v1/settings/api-keys/{created['key']}", headers=api.other())
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    assert (
        await api.client.delete("/v1/settings/api-keys/sk_live_nope", headers=api.headers())
    ).status_code == 404
    assert (await api.client.post("/v1/sms/send", json=sms(), headers=new)).status_code == 202
    # a key can only grant what it holds
    r = await api.client.post("/v1/settings/api-keys", json={"permissions": ["*"]}, headers=new)
    assert r.status_code == 403
    manager = await api.new_key(permissions=["keys.manage", "sms.read"])
    r = await api.client.post(
        "/v1/settings/api-keys", json={"permissions": ["billing.write"]}, headers=manager
    )
    assert r.status_code == 403
    r = await api.client.post("/v1/settings/api-keys", json={"permissions": ["sms.read"]}, headers=manager)
    assert r.status_code == 201
    r = await api.client.post("/v1/settings/api-keys", json={"permissions": ["root"]}, headers=api.headers())
    assert r.status_code == 400
    r = await api.client.post(
        "/v1/settings/api-keys", json={"permissions": ["billing.write"]}, headers=api.headers()
    )
    assert r.status_code == 403  # operator permission: never minted through the API, not even by "*"
