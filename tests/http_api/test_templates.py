"""Templates over a real socket: CRUD, unique names per account, variables, pagination, isolation."""

from __future__ import annotations

from tests.http_api.conftest import Api


async def test_crud_with_variables_and_unique_names(api: Api) -> None:
    h = api.headers()
    r = await api.client.post(
        "/v1/templates", json={"name": "otp", "body": "Hi {{ name }}, code {{code}} ({{name}})"}, headers=h
    )
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["variables"] == ["name", "code"] and created["description"] == ""
    tid = created["id"]
    assert (await api.client.get(f"/v1/templates/{tid}", headers=h)).json()["data"] == created
    r = await api.client.post("/v1/templates", json={"name": "otp", "body": "again"}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
    # the same name in another account is another template
    r = await api.client.post("/v1/templates", json={"name": "otp", "body": "theirs"}, headers=api.other())
    assert r.status_code == 201
    r = await api.client.patch(f"/v1/templates/{tid}", json={"body": "Code {{code}}"}, headers=h)
    assert (
        r.status_code == 200
        and r.json()["data"]["variables"] == ["code"]
        and r.json()["data"]["name"] == "otp"
    )
    assert r.json()["data"]["updated_at"] >= created["updated_at"]
    second = (
        await api.client.post("/v1/templates", json={"name": "promo", "body": "Sale"}, headers=h)
    ).json()["data"]
    r = await api.client.patch(f"/v1/templates/{second['id']}", json={"name": "otp"}, headers=h)
    assert r.status_code == 409
    bad_bodies = [{"name": "", "body": "x"}, {"name": "x", "body": ""}, {"name": "x"}]
    for bad in [*bad_bodies, {"name": "x", "body": "y", "extra": 1}]:
        assert (await api.client.post("/v1/templates", json=bad, headers=h)).status_code == 400, bad
    r = await api.client.delete(f"/v1/templates/{tid}", headers=h)
    assert r.status_code == 200 and r.json()["data"] == {"id": tid, "deleted": True}
    assert (await api.client.get(f"/v1/templates/{tid}", headers=h)).status_code == 404
    assert (await api.client.delete(f"/v1/templates/{tid}", headers=h)).status_code == 404


async def test_list_paginates_and_another_account_sees_nothing(api: Api) -> None:
    h = api.headers()
    ids = []
    for n in range(5):
        r = await api.client.post("/v1/templates", json={"name": f"t{n}", "body": f"body {n}"}, headers=h)
        ids.append(r.json()["data"]["id"])
    seen: list[int] = []
    cursor = None
    while True:
        params = {"page_size": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/v1/templates", params=params, headers=h)).json()
        seen += [t["id"] for t in page["data"]]
        cursor = page["pagination"]["cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    named = (await api.client.get("/v1/templates", params={"name": "t3"}, headers=h)).json()["data"]
    assert [t["id"] for t in named] == [ids[3]]
    assert (await api.client.get("/v1/templates", headers=api.other())).json()["data"] == []
    for method, body in [("GET", None), ("PATCH", {"body": "mine"}), ("DELETE", None)]:
        r = await api.client.request(method, f"/v1/templates/{ids[0]}", json=body, headers=api.other())
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", method
    assert (await api.client.get(f"/v1/templates/{ids[0]}", headers=h)).json()["data"]["body"] == "body 0"
    bad = await api.client.get("/v1/templates", params={"cursor": "zzz"}, headers=h)
    assert bad.status_code == 400
    reader = await api.new_key(permissions=["sms.send"])
    assert (await api.client.get("/v1/templates", headers=reader)).status_code == 403
    writer = await api.new_key(permissions=["templates.manage"])
    assert (await api.client.get("/v1/templates", headers=writer)).status_code == 200


async def test_text_postgresql_cannot_store_is_a_400_not_a_500(api: Api) -> None:
    h = api.headers()
    for path, body in [
        ("/v1/templates", {"name": "n\x00", "body": "b"}),
        ("/v1/templates", {"name": "n", "body": "b\x00"}),
        ("/v1/settings/webhooks", {"url": "https://x.example/\x00", "events": ["opt_out"]}),
        ("/v1/settings/webhooks", {"url": "http://[bad", "events": ["opt_out"]}),
        ("/v1/settings/webhooks", {"url": "https://x.example", "events": ["opt_out"], "description": "\x00"}),
    ]:
        r = await api.client.post(path, json=body, headers=h)
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", (path, body)
    r = await api.client.get("/v1/reports/messages", params={"client_ref": "a\x00"}, headers=h)
    assert r.status_code == 400


async def test_send_with_a_template_renders_its_body_and_another_accounts_template_is_not_found(
    api: Api,
) -> None:
    h = api.headers()
    tid = (
        await api.client.post(
            "/v1/templates", json={"name": "otp", "body": "Your code is {{code}}"}, headers=h
        )
    ).json()["data"]["id"]
    send = {"to": "+447700900123", "from": "Acme", "template_id": tid, "variables": {"code": "4921"}}
    r = await api.client.post("/v1/sms/preview", json=send, headers=h)
    assert r.status_code == 200, r.text
    assert "Your code is 4921" in r.text
    r = await api.client.post("/v1/sms/send", json=send, headers=h)
    assert r.status_code == 202, r.text
    r = await api.client.post("/v1/sms/send", json=send, headers=api.other())
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    both = {**send, "body": "Hello"}
    r = await api.client.post("/v1/sms/send", json=both, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    neither = {k: v for k, v in send.items() if k != "template_id"}
    assert (await api.client.post("/v1/sms/send", json=neither, headers=h)).status_code == 400
