"""Contacts, groups, CSV import and opt-outs over real HTTP, each scoped to the caller's account.

`extended(api)` serves the app again on another port of the same running engine (the campaign tests use
it too).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import redis.asyncio as aioredis

from engine.infra.settings import HttpSettings
from http_api.app import ROUTE_MODULES, create_app
from http_api.server import serve_http
from tests.http_api.conftest import Api, sms

WAIT = 30.0
CSV = "text/csv"


@contextlib.asynccontextmanager
async def extended(api: Api, redis_url: str, prefix: str, settings: HttpSettings) -> AsyncIterator[Api]:
    redis = aioredis.Redis.from_url(redis_url)
    try:
        app = create_app(api.stack.engine, redis, prefix=prefix, settings=settings, modules=ROUTE_MODULES)
        async with serve_http(app, settings.host, settings.port) as server:
            base_url = f"http://127.0.0.1:{server.port}"
            async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as client:
                yield dataclasses.replace(api, client=client, base_url=base_url)
    finally:
        await redis.aclose()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = WAIT) -> None:
    """Wait until `check()` holds, looking again every few milliseconds: the state, not a fixed time."""
    # What is awaited is a row or a count in PostgreSQL: there is no in-process event to wait on.
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


@pytest.fixture
async def capi(
    api: Api, redis_url: str, redis_prefix: str, http_settings: HttpSettings
) -> AsyncIterator[Api]:
    async with extended(api, redis_url, redis_prefix, http_settings) as served:
        yield served


async def test_contact_crud_with_validation_tags_filter_and_cursor(capi: Api) -> None:
    c, h = capi.client, capi.headers()
    r = await c.post("/v1/contacts", json={"phone": "+447700900001", "name": "Ann", "tags": ["vip", "uk"],
                                           "fields": {"plan": "gold", "visits": 3}}, headers=h)  # fmt: skip
    assert r.status_code == 201, r.text
    ann = r.json()["data"]
    assert ann["phone"] == "+447700900001" and ann["tags"] == ["uk", "vip"] and ann["fields"]["visits"] == 3
    dup = await c.post("/v1/contacts", json={"phone": "+447700900001"}, headers=h)
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "CONFLICT"
    bad = await c.post("/v1/contacts", json={"phone": "12"}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_PHONE_NUMBER"
    bad = await c.post("/v1/contacts", json={"phone": "+9991234567"}, headers=h)  # no such country
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_PHONE_NUMBER"
    bad = await c.post("/v1/contacts", json={"phone": "+447700900009", "email": "nope"}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "$.email"
    for i in range(2, 7):
        tags = ["vip"] if i % 2 else []
        r = await c.post("/v1/contacts", json={"phone": f"+44770090000{i}", "tags": tags}, headers=h)
        assert r.status_code == 201
    r = await c.patch(f"/v1/contacts/{ann['id']}", json={"name": "Anna", "tags": ["vip"]}, headers=h)
    assert (
        r.status_code == 200
        and r.json()["data"]["name"] == "Anna"
        and r.json()["data"]["fields"] == ann["fields"]
    )
    assert (await c.get(f"/v1/contacts/{ann['id']}", headers=h)).json()["data"]["name"] == "Anna"
    seen, cursor = [], None
    while True:
        params = {"tags": "vip", "page_size": "2", **({"cursor": cursor} if cursor else {})}
        page = (await c.get("/v1/contacts", params=params, headers=h)).json()
        seen += [x["phone"] for x in page["data"]]
        if (cursor := page["pagination"]["cursor"]) is None:
            break
    assert seen == ["+447700900005", "+447700900003", "+447700900001"]
    found = (await c.get("/v1/contacts", params={"phone": "+447700900004"}, headers=h)).json()["data"]
    assert [x["phone"] for x in found] == ["+447700900004"]
    assert (await c.delete(f"/v1/contacts/{ann['id']}", headers=h)).status_code == 200
    assert (await c.get(f"/v1/contacts/{ann['id']}", headers=h)).status_code == 404


async def test_groups_and_membership(capi: Api) -> None:
    c, h = capi.client, capi.headers()
    ids = [(await c.post("/v1/contacts", json={"phone": f"+4477009001{i:02d}"}, headers=h)).json()["data"][
        "id"] for i in range(3)]  # fmt: skip
    theirs = (await c.post("/v1/contacts", json={"phone": "+447700900199"}, headers=capi.other())).json()[
        "data"
    ]["id"]
    group = (await c.post("/v1/contacts/groups", json={"name": "friends"}, headers=h)).json()["data"]
    assert (await c.post("/v1/contacts/groups", json={"name": "friends"}, headers=h)).status_code == 409
    r = await c.post(
        f"/v1/contacts/groups/{group['id']}/members", json={"contact_ids": [*ids, theirs]}, headers=h
    )
    assert r.json()["data"] == {"added": 3, "not_found": [theirs]}
    members = (await c.get("/v1/contacts", params={"group_id": group["id"]}, headers=h)).json()["data"]
    assert sorted(m["id"] for m in members) == sorted(ids)
    assert (
        await c.delete(f"/v1/contacts/groups/{group['id']}/members/{ids[0]}", headers=h)
    ).status_code == 200
    assert (await c.get(f"/v1/contacts/groups/{group['id']}", headers=h)).json()["data"]["members"] == 2
    listed = (await c.get("/v1/contacts/groups", headers=h)).json()["data"]
    assert [g["name"] for g in listed] == ["friends"]
    assert (await c.delete(f"/v1/contacts/groups/{group['id']}", headers=h)).status_code == 200
    assert (await c.get(f"/v1/contacts/{ids[1]}", headers=h)).status_code == 200  # contacts stay


async def test_csv_import_reports_bad_rows_and_upserts_the_good_ones(capi: Api) -> None:
    c, h = capi.client, capi.headers(**{"Content-Type": CSV})
    text = (
        "phone,name,email,tier\n"
        "+447700900201,Alice Smith,alice@example.com,VIP\n"
        "not-a-phone,Bob,bob@example.com,Standard\n"
        "+447700900203,Carol,carol-at-example,Standard\n"
        "+447700900204,Dan\n"
        "+447700900201,Alice again,,VIP\n"
        "\n"
        "+447700900206,Eve,,\n"
    )
    r = await c.post("/v1/contacts/import", content=text.encode(), headers=h)
    assert r.status_code == 200, r.text
    result = r.json()["data"]
    assert (result["imported"], result["updated"]) == (2, 0)
    assert [(x["row"], x["field"]) for x in result["rejected"]] == [
        (3, "phone"),
        (4, "email"),
        (5, ""),
        (6, "phone"),
    ]
    alice = (await c.get("/v1/contacts", params={"phone": "+447700900201"}, headers=capi.headers())).json()
    assert alice["data"][0]["fields"] == {"tier": "VIP"} and alice["data"][0]["name"] == "Alice Smith"
    # Re-import as multipart into a group: Alice updated (her name kept: the cell is empty), Frank new.
    group = (await c.post("/v1/contacts/groups", json={"name": "g"}, headers=capi.headers())).json()["data"]
    body = (
        '--XyZ\r\nContent-Disposition: form-data; name="group_id"\r\n\r\n' + str(group["id"]) + "\r\n"
        '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
        "phone,name,tier,tags\r\n+447700900201,,Gold,a;b\r\n+447700900207,Frank,,\r\n"
        "--XyZ--\r\n"
    )
    multipart = capi.headers(**{"Content-Type": "multipart/form-data; boundary=XyZ"})
    r = await c.post("/v1/contacts/import", content=body.encode(), headers=multipart)
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["imported"], r.json()["data"]["updated"], r.json()["data"]["rejected"]) == (
        1,
        1,
        [],
    )
    alice = (await c.get("/v1/contacts", params={"phone": "+447700900201"}, headers=capi.headers())).json()
    assert alice["data"][0]["name"] == "Alice Smith" and alice["data"][0]["fields"] == {"tier": "Gold"}
    assert alice["data"][0]["tags"] == ["a", "b"]
    assert (await c.get(f"/v1/contacts/groups/{group['id']}", headers=capi.headers())).json()["data"][
        "members"
    ] == 2
    r = await c.post("/v1/contacts/import", content=b"name,email\nx,y\n", headers=h)
    assert r.status_code == 200 and r.json()["data"]["imported"] == 0  # nothing to import: it says why
    assert r.json()["data"]["rejected"] == [
        {"row": 1, "field": "phone", "reason": "the header row names no phone column"}
    ]
    r = await c.post(
        "/v1/contacts/import", content=b"phone\n", headers=capi.headers(**{"Content-Type": "x/y"})
    )
    assert r.status_code == 415


async def test_opt_outs_from_the_api_and_from_stop_mo_block_sends(capi: Api) -> None:
    c, h = capi.client, capi.headers()
    r = await c.post("/v1/contacts/opt-outs", json={"number": "+447700900301"}, headers=h)
    assert r.status_code == 201 and r.json()["data"]["source"] == "api"
    refused = await c.post("/v1/sms/send", json=sms(to="+447700900301"), headers=h)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "OPT_OUT"
    # Opt-outs are per account: the other account may still send to the number.
    assert (
        await c.post("/v1/sms/send", json=sms(to="+447700900301"), headers=capi.other())
    ).status_code == 202
    capi.stack.sim.inject_mo("447700900302", capi.stack.mo_number, "STOP")

    async def listed() -> list[tuple[str, str]]:
        page = (await c.get("/v1/contacts/opt-outs", params={"page_size": "1"}, headers=h)).json()
        out = [(x["number"], x["source"]) for x in page["data"]]
        if page["pagination"]["cursor"]:
            more = {"cursor": page["pagination"]["cursor"]}
            out += [(x["number"], x["source"]) for x in (await c.get(
                "/v1/contacts/opt-outs", params=more, headers=h)).json()["data"]]  # fmt: skip
        return out

    async def stop_stored() -> bool:
        return len(await listed()) == 2

    await eventually(stop_stored)
    assert await listed() == [("+447700900302", "mo"), ("+447700900301", "api")]
    refused = await c.post("/v1/sms/send", json=sms(to="+447700900302"), headers=h)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "OPT_OUT"
    assert (await c.delete("/v1/contacts/opt-outs/+447700900301", headers=h)).status_code == 200
    assert (await c.post("/v1/sms/send", json=sms(to="+447700900301"), headers=h)).status_code == 202
    assert (await c.delete("/v1/contacts/opt-outs/+447700900301", headers=h)).status_code == 404


async def test_another_accounts_contacts_groups_and_opt_outs_are_404(capi: Api) -> None:
    c, mine, theirs = capi.client, capi.headers(), capi.other()
    contact = (await c.post("/v1/contacts", json={"phone": "+447700900401"}, headers=mine)).json()["data"][
        "id"
    ]
    group = (await c.post("/v1/contacts/groups", json={"name": "mine"}, headers=mine)).json()["data"]["id"]
    await c.post(f"/v1/contacts/groups/{group}/members", json={"contact_ids": [contact]}, headers=mine)
    await c.post("/v1/contacts/opt-outs", json={"number": "+447700900402"}, headers=mine)
    calls = [
        ("GET", f"/v1/contacts/{contact}", None), ("PATCH", f"/v1/contacts/{contact}", {"name": "x"}),
        ("DELETE", f"/v1/contacts/{contact}", None), ("GET", f"/v1/contacts/groups/{group}", None),
        ("DELETE", f"/v1/contacts/groups/{group}", None),
        ("POST", f"/v1/contacts/groups/{group}/members", {"contact_ids": [contact]}),
        ("DELETE", f"/v1/contacts/groups/{group}/members/{contact}", None),
        ("DELETE", "/v1/contacts/opt-outs/+447700900402", None), ("GET", "/v1/contacts/abc", None),
    ]  # fmt: skip
    for method, path, body in calls:
        r = await c.request(method, path, json=body, headers=theirs)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", (method, path)
    r = await c.post(f"/v1/contacts/import?group_id={group}", content=b"phone\n+447700900403\n",
                     headers=capi.other(**{"Content-Type": CSV}))  # fmt: skip
    assert r.status_code == 404
    for path in ("/v1/contacts", "/v1/contacts/groups", "/v1/contacts/opt-outs"):
        assert (await c.get(path, headers=theirs)).json()["data"] == [], path
    assert (await c.get(f"/v1/contacts/{contact}", headers=mine)).status_code == 200
    assert (await c.get(f"/v1/contacts/groups/{group}", headers=mine)).json()["data"]["members"] == 1
    assert len((await c.get("/v1/contacts/opt-outs", headers=mine)).json()["data"]) == 1


async def test_contact_permissions(capi: Api) -> None:
    reader = await capi.new_key(permissions=["contacts.read"])
    assert (await capi.client.get("/v1/contacts", headers=reader)).status_code == 200
    r = await capi.client.post("/v1/contacts", json={"phone": "+447700900501"}, headers=reader)
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    sender = await capi.new_key(permissions=["sms.send"])
    assert (await capi.client.get("/v1/contacts/opt-outs", headers=sender)).status_code == 403


async def test_inputs_postgresql_cannot_store_are_400_not_500(capi: Api) -> None:
    c, h = capi.client, capi.headers()
    bad_bodies = [
        ("/v1/contacts", {"phone": "+447700900601", "name": "a\u0000b"}),
        ("/v1/contacts", {"phone": "+447700900601", "fields": {"k": "\u0000"}}),
        ("/v1/contacts/groups", {"name": "\u0000"}),
        ("/v1/contacts/groups/1/members", {"contact_ids": [2**70]}),
        ("/v1/campaigns", {"name": "x", "from": "Acme", "body": "a\u0000"}),
    ]
    for path, body in bad_bodies:
        r = await c.post(path, json=body, headers=h)
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", (path, r.text)
    r = await c.get("/v1/contacts", params={"group_id": str(2**70)}, headers=h)
    assert r.status_code == 400
    r = await c.post("/v1/contacts/import", content=b"phone,name\n+447700900601,a\x00b\n",
                     headers=capi.headers(**{"Content-Type": CSV}))  # fmt: skip
    assert r.status_code == 200 and [x["row"] for x in r.json()["data"]["rejected"]] == [2]
    r = await c.post(
        "/v1/contacts/import", content=b"\xff\xfe", headers=capi.headers(**{"Content-Type": CSV})
    )
    assert r.status_code == 400
    assert (await c.get("/v1/contacts/99999999999999999999", headers=h)).status_code == 404
