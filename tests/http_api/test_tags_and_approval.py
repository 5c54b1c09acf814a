"""Contact tags (the document's five tag endpoints) and campaign approval: pending_approval -> approved |
rejected, by an account admin's key or the operator's CLI, skipped by an account trusted to."""

from __future__ import annotations

from pathlib import Path

from tests.http_api.conftest import Api
from tests.http_api.test_contacts import eventually
from tests.http_api.test_settings import cli


async def test_tags_have_ids_and_go_on_and_off_contacts(api: Api) -> None:
    c, h = api.client, api.headers()
    r = await c.post("/v1/contacts/tags", json={"name": "vip", "color": "#ff8800"}, headers=h)
    assert r.status_code == 201, r.text
    vip = r.json()["data"]
    assert vip["name"] == "vip" and vip["contacts"] == 0
    assert (await c.post("/v1/contacts/tags", json={"name": "vip"}, headers=h)).status_code == 409
    ann = (await c.post("/v1/contacts", json={"phone": "+447700900001", "tags": ["uk"]}, headers=h)).json()[
        "data"
    ]
    r = await c.post(f"/v1/contacts/{ann['id']}/tags", json={"tag_id": vip["id"]}, headers=h)
    assert r.status_code == 200 and r.json()["data"]["tags"] == ["uk", "vip"]
    r = await c.post(f"/v1/contacts/{ann['id']}/tags", json={"name": "new-tag"}, headers=h)
    assert r.json()["data"]["tags"] == ["new-tag", "uk", "vip"]
    tags = (await c.get("/v1/contacts/tags", headers=h)).json()
    by_name = {t["name"]: t for t in tags["data"]}
    assert (
        set(by_name) == {"vip", "uk", "new-tag"} and tags["pagination"]["total"] == 3
    )  # "uk" from the contact
    assert by_name["vip"]["contacts"] == 1 and by_name["vip"]["color"] == "#ff8800"
    r = await c.delete(f"/v1/contacts/{ann['id']}/tags/{vip['id']}", headers=h)
    assert r.status_code == 200 and r.json()["data"]["tags"] == ["new-tag", "uk"]
    r = await c.delete(f"/v1/contacts/tags/{by_name['uk']['id']}", headers=h)
    assert r.status_code == 200
    assert (await c.get(f"/v1/contacts/{ann['id']}", headers=h)).json()["data"]["tags"] == ["new-tag"]
    # another account's tags and contacts are 404, as unknown ones
    theirs = api.other()
    assert (await c.delete(f"/v1/contacts/tags/{vip['id']}", headers=theirs)).status_code == 404
    assert (
        await c.post(f"/v1/contacts/{ann['id']}/tags", json={"tag_id": vip["id"]}, headers=theirs)
    ).status_code == 404
    assert (await c.get("/v1/contacts/tags", headers=theirs)).json()["data"] == []
    assert (await c.post(f"/v1/contacts/{ann['id']}/tags", json={}, headers=h)).status_code == 400


async def _campaign(api: Api) -> str:
    c, h = api.client, api.headers()
    body = {
        "name": "Spring Sale 2026",
        "from": "MyShop",
        "body": "Hi {{name}}, get 30% off",
        "schedule_at": None,
    }
    r = await c.post("/v1/campaigns", json=body, headers=h)
    assert r.status_code == 201, r.text
    cid = str(r.json()["data"]["id"])
    recipients = {"recipients": [{"to": "+447700900001", "variables": {"name": "Alice"}}]}
    r = await c.post(f"/v1/campaigns/{cid}/recipients", json=recipients, headers=h)
    assert r.status_code == 200 and r.json()["data"]["added"] == 1
    return cid


async def state_of(api: Api, cid: str) -> str:
    return str((await api.client.get(f"/v1/campaigns/{cid}", headers=api.headers())).json()["data"]["state"])


async def test_submit_waits_for_an_admin_and_sends_once_approved(api: Api) -> None:
    c, h = api.client, api.headers()
    cid = await _campaign(api)
    r = await c.post(f"/v1/campaigns/{cid}/submit", headers=h)
    assert r.status_code == 200 and r.json()["data"]["state"] == "pending_approval"
    runner = api.stack.engine.campaigns
    assert runner is not None
    await runner.step()  # nothing is sent while it waits
    assert await api.stack.pool.fetchval("SELECT count(*) FROM messages") == 0
    # the sender's own "*" key cannot approve: campaigns.approve is an admin's, granted by the operator
    assert (await c.post(f"/v1/campaigns/{cid}/approve", headers=h)).status_code == 403
    admin = await api.new_key(permissions=["campaigns.approve", "campaigns.read"])
    r = await c.post(f"/v1/campaigns/{cid}/approve", headers=admin)
    assert r.status_code == 200 and r.json()["data"]["state"] in ("approved", "sending", "completed")
    assert r.json()["data"]["reviewed_by"].startswith("api_key:")

    async def completed() -> bool:
        return await state_of(api, cid) == "completed"

    await eventually(completed)
    assert (
        await api.stack.pool.fetchval("SELECT count(*) FROM messages WHERE campaign_id = $1", int(cid)) == 1
    )
    assert (await c.post(f"/v1/campaigns/{cid}/approve", headers=admin)).status_code == 409
    # another account's admin cannot approve mine
    their_admin = await api.new_key(permissions=["campaigns.approve"], account=api.other_account)
    other = await _campaign(api)
    await c.post(f"/v1/campaigns/{other}/submit", headers=h)
    assert (await c.post(f"/v1/campaigns/{other}/approve", headers=their_admin)).status_code == 404


async def test_rejection_by_the_admin_or_the_operator_and_trusted_accounts(
    api: Api, database_url: str, tmp_path: Path
) -> None:
    c, h = api.client, api.headers()
    out = await cli(database_url, tmp_path, "apikeys", "create", "acme", "--permission", "campaigns.approve")
    key, secret = (line.split()[1] for line in out.splitlines()[:2])  # the operator hands these over
    admin = api.headers(key, secret)
    first = await _campaign(api)
    await c.post(f"/v1/campaigns/{first}/submit", headers=h)
    r = await c.post(f"/v1/campaigns/{first}/reject", json={"reason": "no opt-in proof"}, headers=admin)
    assert r.status_code == 200
    rejected = r.json()["data"]
    assert (
        rejected["state"] == "rejected"
        and rejected["reason"] == "no opt-in proof"
        and rejected["finished_at"]
    )
    assert (await c.post(f"/v1/campaigns/{first}/submit", headers=h)).status_code == 409
    # the operator, from the CLI
    second = await _campaign(api)
    await c.post(f"/v1/campaigns/{second}/submit", headers=h)
    assert "approved" in await cli(database_url, tmp_path, "campaigns", "approve", second)

    async def sent() -> bool:
        return await state_of(api, second) == "completed"

    await eventually(sent)
    third = await _campaign(api)
    await c.post(f"/v1/campaigns/{third}/submit", headers=h)
    assert "rejected" in await cli(database_url, tmp_path, "campaigns", "reject", third, "--reason", "spam")
    assert await state_of(api, third) == "rejected"
    # a trusted account skips approval
    await cli(database_url, tmp_path, "accounts", "trust", "acme")
    fourth = await _campaign(api)
    r = await c.post(f"/v1/campaigns/{fourth}/submit", headers=h)
    assert r.json()["data"]["state"] in ("approved", "sending", "completed")
    profile = (await c.get("/v1/settings/profile", headers=h)).json()["data"]
    assert profile["campaigns_trusted"] is True
