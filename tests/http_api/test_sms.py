"""POST /v1/sms/send, GET /v1/sms/{id}, GET /v1/sms, POST /v1/sms/preview over a real socket."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from engine.core.ids import parse_id
from tests.engine.harness import WAIT
from tests.http_api.conftest import Api, sms


async def test_send_answers_202_after_commit_and_the_message_reaches_the_carrier(api: Api) -> None:
    r = await api.client.post("/v1/sms/send", json=sms(client_ref="order-1"), headers=api.headers())
    assert r.status_code == 202, r.text
    body = r.json()
    # the curl example's shape at the top level, the SDKs' data.message_id inside
    assert body["id"] == body["messageId"] == body["data"]["message_id"]
    assert body["status"] == "queued" and body["segments"] == 1
    assert body["cost_micros"] == 5_000 and body["cost"] == 0.005
    data = body["data"]
    assert data["to"] == "+447700900123" and data["from"] == "Acme" and data["currency"] == "EUR"
    assert data["encoding"] == "gsm7" and data["client_ref"] == "order-1"
    assert r.headers["x-request-id"] == body["meta"]["request_id"]
    message_id = parse_id(body["id"])
    assert message_id is not None
    # 202 means stored: the row is there the moment the answer is
    assert await api.stack.pool.fetchval("SELECT count(*) FROM messages WHERE id = $1", message_id) == 1
    async with asyncio.timeout(WAIT):
        while True:
            got = await api.client.get(f"/v1/sms/{body['id']}", headers=api.headers())
            if got.json()["data"]["status"] == "delivered":
                break
            await asyncio.sleep(0.02)  # the receipt's arrival is the carrier's: poll the API for it
    detail = got.json()["data"]
    assert detail["message_id"] == body["id"] and detail["status_detail"] == "delivered"
    assert detail["events"][0]["status"] == "accepted"
    assert detail["receipts"] and detail["receipts"][0]["carrier_status"] == "DELIVRD"
    assert detail["receipts"][0]["carrier_message_id"]
    assert len(api.stack.sim.received) == 1


async def test_templates_unicode_and_validation_errors(api: Api) -> None:
    h = api.headers()
    r = await api.client.post(
        "/v1/sms/send", json=sms(body="Hi {{ name }}, code {{code}}", variables={"name": "Zoé", "code": 42}),
        headers=h,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    assert r.json()["data"]["encoding"] == "gsm7"  # é is in the GSM-7 default alphabet
    r = await api.client.post("/v1/sms/preview", json=sms(body="Hi {{n}}", variables={"n": "Zoë"}), headers=h)
    assert r.json()["data"]["text"] == "Hi Zoë" and r.json()["data"]["encoding"] == "ucs2"  # ë is not
    r = await api.client.post("/v1/sms/send", json=sms(body="plain", unicode=True), headers=h)
    assert r.status_code == 202 and r.json()["data"]["encoding"] == "ucs2"
    r = await api.client.post("/v1/sms/send", json=sms(body="Hi {{name}}"), headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await api.client.post("/v1/sms/send", json=sms(to="12"), headers=h)  # not E.164: the schema says so
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PHONE_NUMBER"
    assert r.json()["error"]["details"]["field"] == "$.to"
    r = await api.client.post("/v1/sms/send", json=sms(to="+9991234567"), headers=h)  # no such country
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PHONE_NUMBER"
    r = await api.client.post("/v1/sms/send", json={**sms(), "from": "WayTooLongSender"}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_SENDER_ID"
    r = await api.client.post("/v1/sms/send", json=sms(body="x" * 8_001), headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "MESSAGE_TOO_LONG"
    far = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    r = await api.client.post("/v1/sms/send", json=sms(scheduled_at=far), headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "scheduled_at"
    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    r = await api.client.post("/v1/sms/send", json=sms(scheduled_at=soon, validity_minutes=60), headers=h)
    assert r.status_code == 202 and r.json()["data"]["scheduled_at"] is not None
    r = await api.client.post("/v1/sms/send", json=sms(validity_minutes=0), headers=h)
    assert r.status_code == 400


async def test_insufficient_balance_and_no_route(api: Api) -> None:
    await api.stack.pool.execute(
        "UPDATE billing_ledger_accounts SET balance = 0 WHERE id = "
        "(SELECT available_id FROM billing_customers WHERE account_id = $1)",
        api.other_account,
    )
    r = await api.client.post("/v1/sms/send", json=sms(), headers=api.other())
    assert r.status_code == 422 and r.json()["error"]["code"] == "INSUFFICIENT_BALANCE"
    # the document's details, in minor units: 7,000 micro-units is 0.7 cent, rounded up to 1
    assert r.json()["error"]["details"] == {"required": 1, "available": 0, "currency": "EUR"}
    r = await api.client.post("/v1/sms/send", json=sms(to="+0123456789"), headers=api.headers())
    assert r.status_code in (400, 422)


async def test_get_and_list_are_scoped_to_the_account_and_paginate(api: Api) -> None:
    ids = []
    for i in range(5):
        r = await api.client.post(
            "/v1/sms/send", json=sms(to=f"+4477009001{i:02d}", client_ref=f"ref-{i}"), headers=api.headers()
        )
        ids.append(r.json()["id"])
    r = await api.client.post("/v1/sms/send", json=sms(), headers=api.other())
    theirs = r.json()["id"]

    seen: list[str] = []
    cursor = None
    while True:
        params = {"page_size": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/v1/sms", params=params, headers=api.headers())).json()
        seen += [m["id"] for m in page["data"]]
        cursor = page["pagination"]["cursor"]
        assert page["pagination"]["total"] == 5 and page["meta"]["request_id"]
        if not page["pagination"]["has_more"]:
            break
    assert seen == sorted(ids, reverse=True)  # newest first, nothing repeated or skipped, nothing of B's
    one = (await api.client.get("/v1/sms", params={"client_ref": "ref-3"}, headers=api.headers())).json()
    assert [m["id"] for m in one["data"]] == [ids[3]]
    to = (await api.client.get("/v1/sms", params={"to": "+447700900101"}, headers=api.headers())).json()
    assert [m["id"] for m in to["data"]] == [ids[1]]
    after = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    none = await api.client.get("/v1/sms", params={"created_after": after}, headers=api.headers())
    assert none.json()["data"] == []

    # B's id through A's key: 404 like an id that never existed, never 403
    for headers, mid in ((api.headers(), theirs), (api.other(), ids[0])):
        r = await api.client.get(f"/v1/sms/{mid}", headers=headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    assert (await api.client.get("/v1/sms/not-an-id", headers=api.headers())).status_code == 404
    bad = await api.client.get("/v1/sms", params={"cursor": "garbage!"}, headers=api.headers())
    assert bad.status_code == 400
    sent = await api.client.get(
        "/v1/sms", params={"status": "sent"}, headers=api.headers()
    )  # either vocabulary
    assert sent.status_code == 200
    theirs_list = (await api.client.get("/v1/sms", headers=api.other())).json()
    assert [m["id"] for m in theirs_list["data"]] == [theirs]


async def test_preview_explains_without_sending_or_storing(api: Api) -> None:
    before = await api.stack.pool.fetchval("SELECT count(*) FROM messages")
    r = await api.client.post("/v1/sms/preview", json=sms(body="Hello 😀 " + "a" * 70), headers=api.headers())
    assert r.status_code == 200, r.text
    p = r.json()["data"]
    assert p["encoding"] == "ucs2" and p["segments"] == 2 and len(p["parts"]) == 2
    assert p["characters_forcing_ucs2"] == [{"position": 6, "character": "😀", "code_point": "U+1F600"}]
    assert "".join(part["text"] for part in p["parts"]) == "Hello 😀 " + "a" * 70
    assert p["price_per_segment_micros"] == 5_000 and p["cost_micros"] == 10_000
    gsm = (await api.client.post("/v1/sms/preview", json=sms(body="a" * 161), headers=api.headers())).json()[
        "data"
    ]
    assert gsm["encoding"] == "gsm7" and gsm["septets"] == 161 and gsm["segments"] == 2
    # The preview's cost is what a send with the same body is charged.
    sent = await api.client.post("/v1/sms/send", json=sms(body="a" * 161), headers=api.headers())
    assert sent.json()["cost_micros"] == gsm["cost_micros"] and sent.json()["segments"] == gsm["segments"]
    assert await api.stack.pool.fetchval("SELECT count(*) FROM messages") == before + 1
    other = (await api.client.post("/v1/sms/preview", json=sms(), headers=api.other())).json()["data"]
    assert other["price_per_segment_micros"] == 7_000  # each account sees its own price
