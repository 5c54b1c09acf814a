"""Settings: profile, sender IDs (requested, approved by the operator's CLI, enforced at send time on HTTP
and SMPP alike), SMPP credentials (regenerated, then checked by the SMPP server: an independent ESME,
smpplib, binds with them), notification preferences."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.exceptions

from tests.http_api.conftest import Api, sms
from tests.http_api.test_contacts import eventually


async def cli(database_url: str, tmp_path: Path, *args: str) -> str:
    """The operator's `smsengine ...` command, as a separate process against the test's database."""
    env = dict(os.environ, SMSENGINE_DATABASE_URL=database_url)
    command = [sys.executable, "-m", "smsengine.cli", "--config", str(tmp_path / "none.toml"), *args]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_profile_is_read_and_patched_field_by_field(api: Api) -> None:
    c, h = api.client, api.headers()
    r = await c.get("/v1/settings/profile", headers=h)
    assert r.status_code == 200
    profile = r.json()["data"]
    assert profile["account"] == "acme" and profile["timezone"] == "UTC" and profile["currency"] == "EUR"
    r = await c.patch(
        "/v1/settings/profile", json={"company": "Acme Ltd", "timezone": "Europe/London"}, headers=h
    )
    assert r.status_code == 200 and r.json()["data"]["company"] == "Acme Ltd"
    r = await c.patch("/v1/settings/profile", json={"email": "ops@acme.example"}, headers=h)
    data = r.json()["data"]
    assert (data["company"], data["timezone"], data["email"]) == (
        "Acme Ltd",
        "Europe/London",
        "ops@acme.example",
    )
    assert (
        await c.patch("/v1/settings/profile", json={"timezone": "Mars/Olympus"}, headers=h)
    ).status_code == 400
    assert (await c.patch("/v1/settings/profile", json={"email": "nope"}, headers=h)).status_code == 400
    theirs = (await c.get("/v1/settings/profile", headers=api.other())).json()["data"]
    assert theirs["account"] == "globex" and theirs["company"] == ""
    reader = await api.new_key(permissions=["sms.read"])
    assert (await c.get("/v1/settings/profile", headers=reader)).status_code == 403


async def test_unapproved_sender_ids_are_refused_once_the_account_requires_approval(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    c, h = api.client, api.headers()
    assert (await c.post("/v1/sms/send", json=sms(), headers=h)).status_code == 202  # any sender, by default
    r = await c.post("/v1/settings/sender-ids", json={"sender_id": "MyShop", "use_case": "receipts",
                                                       "countries": ["GB"]}, headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["data"]["status"] == "pending" and r.json()["data"]["kind"] == "alphanumeric"
    assert (
        await c.post("/v1/settings/sender-ids", json={"sender_id": "MyShop"}, headers=h)
    ).status_code == 409
    await cli(database_url, tmp_path, "senders", "require", "acme")
    senders = api.stack.engine.senders
    assert senders is not None

    async def refused(source: str) -> bool:
        r = await c.post("/v1/sms/send", json={**sms(), "from": source}, headers=h)
        return r.status_code == 400 and r.json()["error"]["code"] == "INVALID_SENDER_ID"

    await eventually(lambda: refused("Acme"))  # the CLI's NOTIFY reaches the running engine
    assert await refused("MyShop")  # asked for, not approved yet
    # SMPP is refused the same way (ESME_RINVSRCADR), by the same check
    assert not senders.allowed(api.stack.account_id, "MyShop")
    out = await cli(database_url, tmp_path, "senders", "approve", "acme", "MyShop")
    assert "approved" in out

    async def accepted() -> bool:
        return (await c.post("/v1/sms/send", json={**sms(), "from": "MyShop"}, headers=h)).status_code == 202

    await eventually(accepted)
    listed = (await c.get("/v1/settings/sender-ids", headers=h)).json()
    assert [(s["sender_id"], s["status"]) for s in listed["data"]] == [("MyShop", "approved")]
    assert listed["pagination"]["total"] == 1
    assert await refused("Acme")
    # the other account never required approval, and sees none of these
    assert (await c.post("/v1/sms/send", json=sms(), headers=api.other())).status_code == 202
    assert (await c.get("/v1/settings/sender-ids", headers=api.other())).json()["data"] == []
    await cli(database_url, tmp_path, "senders", "reject", "acme", "MyShop", "--reason", "brand not yours")
    await eventually(lambda: refused("MyShop"))
    rejected = (await c.get("/v1/settings/sender-ids", headers=h)).json()["data"][0]
    assert rejected["status"] == "rejected" and rejected["reason"] == "brand not yours"


def _bind(port: int, system_id: str, password: str) -> str:
    """smpplib, an independent ESME, in a worker thread: "bound" or the command_status it was refused."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=15.0, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id=system_id, password=password)
        client.unbind()
        return "bound"
    except smpplib.exceptions.PDUError as exc:
        return f"refused {exc.args[1]}"
    finally:
        client.disconnect()


async def test_smpp_credentials_regenerated_are_the_ones_the_smpp_server_checks(api: Api) -> None:
    c, h = api.client, api.headers()
    r = await c.get("/v1/settings/smpp", headers=h)
    assert r.status_code == 200
    smpp: dict[str, Any] = r.json()["data"]
    assert smpp["configured"] is True and smpp["system_id"] == "acme" and "password" not in smpp
    assert smpp["port"] == api.stack.engine.smpp_port and smpp["host"] == "127.0.0.1"
    port = api.stack.engine.smpp_port
    assert await asyncio.to_thread(_bind, port, "acme", "secret") == "bound"
    r = await c.post("/v1/settings/smpp/regenerate", headers=h)
    assert r.status_code == 200, r.text
    new = r.json()["data"]
    assert new["system_id"] == "acme" and len(new["password"]) == 8 and new["password"] != "secret"
    assert await asyncio.to_thread(_bind, port, "acme", new["password"]) == "bound"
    assert (await asyncio.to_thread(_bind, port, "acme", "secret")).startswith("refused")
    # an account without SMPP credentials gets its first ones
    theirs = (await c.get("/v1/settings/smpp", headers=api.other())).json()["data"]
    assert theirs["configured"] is False and theirs["system_id"] is None
    made = (await c.post("/v1/settings/smpp/regenerate", headers=api.other())).json()["data"]
    assert made["system_id"] == "globex"
    assert await asyncio.to_thread(_bind, port, "globex", made["password"]) == "bound"
    assert (await c.get("/v1/settings/smpp", headers=api.other())).json()["data"]["configured"] is True


async def test_notification_preferences_and_the_low_balance_threshold(api: Api) -> None:
    c, h = api.client, api.headers()
    prefs = (await c.get("/v1/settings/notifications", headers=h)).json()["data"]
    assert prefs["low_balance"] is True and prefs["low_balance_threshold"] == 0 and prefs["currency"] == "EUR"
    r = await c.patch(
        "/v1/settings/notifications",
        json={"email": "alerts@acme.example", "weekly_report": True, "low_balance_threshold": 500}, headers=h,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    prefs = r.json()["data"]
    assert prefs["email"] == "alerts@acme.example" and prefs["weekly_report"] is True
    assert prefs["low_balance_threshold"] == 500 and prefs["webhook_failure"] is True
    # the threshold is the ledger's: the balance shows it, and balance.low fires below it
    balance = (await c.get("/v1/billing/balance", headers=h)).json()["data"]
    assert balance["low_balance_threshold"] == 500
    low = await api.stack.pool.fetchval(
        "SELECT low_threshold FROM billing_customers WHERE account_id = $1", api.stack.account_id
    )
    assert low == 5_000_000  # 5.00 EUR in micro-units
    assert (await c.get("/v1/settings/notifications", headers=api.other())).json()["data"]["email"] == ""
