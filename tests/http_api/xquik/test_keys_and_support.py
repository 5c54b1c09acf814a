"""Seed 002 (Xquik) API keys (session auth only) and support tickets through a real HTTP client."""

from __future__ import annotations

import pytest

from engine.xquik.keys import KeyLimit, create_key
from tests.http_api.xquik.conftest import Xq

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_api_keys_are_session_only_shown_once_and_revoked_at_once(xq: Xq) -> None:
    r = await xq.client.post(xq.url("/api-keys"), json={"name": "x"}, headers=xq.auth)
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"  # an API key cannot mint keys
    r = await xq.client.get(xq.url("/api-keys"), headers=xq.auth)
    assert r.status_code == 401
    made = await xq.call("POST", "/api-keys", 201, json={"name": "Production"}, headers=xq.session)
    assert set(made) == {"id", "fullKey", "prefix", "name", "createdAt"} and made["name"] == "Production"
    full = made["fullKey"]
    assert full.startswith("xq_") and len(full) == 67 and made["prefix"] == full[:8]
    assert made["createdAt"].endswith("Z") and made["id"].isdigit()
    default = await xq.call("POST", "/api-keys", 201, headers=xq.session)  # no body: "Default"
    assert default["name"] == "Default"
    cookie = {"Cookie": xq.session["Authorization"].replace("Bearer ", "session_token=")}
    listed = (await xq.call("GET", "/api-keys", 200, headers=cookie))["keys"]
    mine = next(k for k in listed if k["id"] == made["id"])
    assert mine == {
        "id": made["id"],
        "name": "Production",
        "prefix": made["prefix"],
        "isActive": True,
        "createdAt": made["createdAt"],
    }  # fmt: skip  (never used: no lastUsedAt; no key)
    assert all("fullKey" not in k for k in listed)
    assert (await xq.call("GET", "/account", 200, headers={"x-api-key": full}))["plan"] == "inactive"
    bearer = {"Authorization": f"Bearer {full}"}
    assert (await xq.client.get(xq.url("/credits"), headers=bearer)).status_code == 200
    listed = (await xq.call("GET", "/api-keys", 200, headers=xq.session))["keys"]
    assert next(k for k in listed if k["id"] == made["id"])["lastUsedAt"].endswith("Z")

    assert await xq.call("DELETE", f"/api-keys/{made['id']}", 200, headers=xq.session) == {"success": True}
    r = await xq.client.get(xq.url("/account"), headers={"x-api-key": full})
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    listed = (await xq.call("GET", "/api-keys", 200, headers=xq.session))["keys"]
    assert next(k for k in listed if k["id"] == made["id"])["isActive"] is False
    r = await xq.client.delete(xq.url("/api-keys/abc"), headers=xq.session)
    assert r.status_code == 400 and r.json()["error"] == "invalid_id"
    r = await xq.client.delete(xq.url("/api-keys/999999"), headers=xq.session)
    assert r.status_code == 404 and r.json()["error"] == "not_found"

    while True:  # up to the limit of 100 active keys
        try:
            await create_key(xq.pool, xq.account_id, "filler")
        except KeyLimit:
            break
    r = await xq.client.post(xq.url("/api-keys"), json={"name": "one more"}, headers=xq.session)
    body = r.json()
    assert r.status_code == 403 and body["error"] == "api_key_limit_reached" and body["limit"] == 100
    await xq.call("DELETE", f"/api-keys/{default['id']}", 200, headers=xq.session)
    await xq.call("POST", "/api-keys", 201, json={"name": "one more"}, headers=xq.session)


async def test_operator_provisions_a_first_key_and_credits_from_the_command_line(xq: Xq) -> None:
    account = str(xq.stack.account_id)  # the harness' own account: no Xquik key, no credit record yet
    status, out = await xq.smsengine("xquik", "key", account, "--name", "first")
    assert status == 0, out
    full = next(line.split()[1] for line in out.splitlines() if line.startswith("full_key"))
    r = await xq.client.get(xq.url("/credits"), headers={"x-api-key": full})
    assert r.status_code == 200 and r.json()["balance"] == "0"
    for _ in range(2):  # once per key
        status, out = await xq.smsengine("xquik", "grant", account, "500", "--key", "welcome")
        assert status == 0 and "500 credits" in out, out
    r = await xq.client.get(xq.url("/credits"), headers={"x-api-key": full})
    assert r.json()["balance"] == "500" and r.json()["lifetimePurchased"] == "500"


async def test_support_tickets(xq: Xq) -> None:
    made = await xq.call("POST", "/support/tickets", 201, json={"subject": "Help", "body": "It broke"})
    assert set(made) == {"id", "subject", "status", "createdAt"} and made["status"] == "open"
    listed = (await xq.call("GET", "/support/tickets", 200))["tickets"]
    assert [t["id"] for t in listed] == [made["id"]]
    got = await xq.call("GET", f"/support/tickets/{made['id']}", 200)
    assert [m["body"] for m in got["messages"]] == ["It broke"] and got["messages"][0]["author"] == "user"
    closed = await xq.call("PATCH", f"/support/tickets/{made['id']}", 200, json={"status": "closed"})
    assert closed["status"] == "closed"
    reply = await xq.call("POST", f"/support/tickets/{made['id']}/messages", 201, json={"body": "Still"})
    assert reply["body"] == "Still"
    got = await xq.call("GET", f"/support/tickets/{made['id']}", 200)
    assert got["status"] == "open" and [m["body"] for m in got["messages"]] == ["It broke", "Still"]

    other = await xq.pool.fetchval(  # another account's ticket is not found, as a missing one
        "INSERT INTO xquik_support_tickets (account_id, subject) VALUES ($1, 'theirs') RETURNING id",
        xq.stack.account_id,
    )
    for method, path, kw in [
        ("GET", f"/support/tickets/{other}", {}),
        ("PATCH", f"/support/tickets/{other}", {"json": {"status": "closed"}}),
        ("POST", f"/support/tickets/{other}/messages", {"json": {"body": "hi"}}),
        ("GET", "/support/tickets/999999", {}),
    ]:
        r = await xq.client.request(method, xq.url(path), headers=xq.auth, **kw)
        assert r.status_code == 404 and r.json()["error"] == "not_found", (path, r.text)
    bad = [
        ("GET", "/support/tickets/x1", {}, "invalid_id"),
        ("PATCH", f"/support/tickets/{made['id']}", {"json": {"status": "gone"}}, "invalid_input"),
        ("POST", "/support/tickets", {"json": {"subject": "", "body": "x"}}, "invalid_input"),
        ("POST", "/support/tickets", {"json": {"subject": "s"}}, "invalid_input"),
        ("POST", "/support/tickets", {"content": b"{"}, "invalid_json"),
        ("POST", "/support/tickets", {"content": b""}, "invalid_json"),
    ]
    for method, path, kw, code in bad:
        r = await xq.client.request(method, xq.url(path), headers=xq.auth, **kw)
        assert r.status_code == 400 and r.json()["error"] == code, (path, kw, r.text)
        assert set(r.json()) == {"error", "message"}
    r = await xq.client.get(xq.url("/support/tickets"))
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
