"""Idempotency-Key (replay, reuse with another body, concurrency) and the sandbox (no carrier, no charge)."""

from __future__ import annotations

import asyncio

from http_api.messages import parse_public_id
from tests.http_api.conftest import Api, sms


async def _available(api: Api, account_id: int) -> int:
    return int(
        await api.stack.pool.fetchval(
            "SELECT l.balance FROM billing_customers c"
            " JOIN billing_ledger_accounts l ON l.id = c.available_id WHERE c.account_id = $1",
            account_id,
        )
    )


async def test_same_key_same_body_replays_the_first_answer(api: Api) -> None:
    h = api.headers(**{"Idempotency-Key": "order-42"})
    first = await api.client.post("/v1/sms/send", json=sms(), headers=h)
    again = await api.client.post("/v1/sms/send", json=sms(), headers=h)
    assert first.status_code == again.status_code == 202
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert await api.stack.pool.fetchval("SELECT count(*) FROM messages") == 1
    # another body under the same key is refused, and sends nothing
    other = await api.client.post("/v1/sms/send", json=sms(body="Different"), headers=h)
    assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    # the same key on another endpoint is another request too
    one = {"from": "A", "body": "x", "recipients": [{"to": "+447700900123"}]}
    r = await api.client.post("/v1/sms/bulk", json=one, headers=h)
    assert r.status_code == 409
    # keys are per account: B may use the same key for its own message
    theirs = await api.client.post(
        "/v1/sms/send", json=sms(), headers=api.other(**{"Idempotency-Key": "order-42"})
    )
    assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]
    assert await api.stack.pool.fetchval("SELECT count(*) FROM messages") == 2


async def test_errors_are_replayed_but_a_retry_after_a_5xx_runs_again(api: Api) -> None:
    h = api.headers(**{"Idempotency-Key": "bad-number"})
    first = await api.client.post("/v1/sms/send", json=sms(to="12"), headers=h)
    again = await api.client.post("/v1/sms/send", json=sms(to="12"), headers=h)
    assert first.status_code == again.status_code == 400 and first.content == again.content
    h = api.headers(**{"Idempotency-Key": "while-stopping"})
    api.stack.engine.customers.accepting = False  # the engine refuses new messages: 503, nothing stored
    refused = await api.client.post("/v1/sms/send", json=sms(), headers=h)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    api.stack.engine.customers.accepting = True
    retried = await api.client.post("/v1/sms/send", json=sms(), headers=h)
    assert retried.status_code == 202


async def test_concurrent_requests_with_one_key_send_one_message(api: Api) -> None:
    h = api.headers(**{"Idempotency-Key": "race"})
    answers = await asyncio.gather(
        *(api.client.post("/v1/sms/send", json=sms(), headers=h) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    assert await api.stack.pool.fetchval("SELECT count(*) FROM messages") == 1


async def test_topup_with_an_idempotency_key_applies_once(api: Api) -> None:
    before = await _available(api, api.stack.account_id)
    h = await api.new_key(permissions=["billing.write", "billing.read"])
    h["Idempotency-Key"] = "topup-1"
    answers = await asyncio.gather(
        *(api.client.post("/v1/billing/topup", json={"amount": "12.50"}, headers=h) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {200}
    assert await _available(api, api.stack.account_id) == before + 12_500_000
    r = await api.client.post("/v1/billing/topup", json={"amount": "12.50"}, headers=h)
    assert r.json()["data"]["balance"] == (before + 12_500_000) // 10_000


async def test_sandbox_never_reaches_the_carrier_and_never_charges(api: Api) -> None:
    before = await _available(api, api.stack.account_id)
    test_key = await api.new_key(live=False)
    ids = []
    for headers in (test_key, api.headers(**{"X-Sandbox": "true"})):
        r = await api.client.post("/v1/sms/send", json=sms(), headers=headers)
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "delivered" and body["sandbox"] is True and body["cost_micros"] == 0
        assert body["id"].startswith("sandbox-msg-")  # the document's sandbox ids
        ids.append(body["id"])
    bulk = await api.client.post(
        "/v1/sms/bulk", json={"from": "A", "body": "x", "recipients": [{"to": "+447700900123"}] * 3},
        headers=test_key,
    )  # fmt: skip
    assert bulk.status_code == 202 and bulk.json()["data"]["sandbox"] is True
    assert bulk.json()["data"]["cost_estimate"] == 0
    detail = (await api.client.get(f"/v1/sms/{ids[0]}", headers=api.headers())).json()["data"]
    assert detail["status"] == "delivered" and detail["final_at"] is not None
    assert [e["status"] for e in detail["events"]] == ["accepted", "delivered"]
    # A live message sent afterwards is dispatched; by the time it is, any sandbox one would have been too.
    live = await api.client.post("/v1/sms/send", json=sms(to="+447700900999"), headers=api.headers())
    assert live.status_code == 202
    assert await api.stack.engine.wait_idle(within=30.0)
    assert [m.destination_addr for m in api.stack.sim.received.values()] == ["447700900999"]
    assert api.stack.sim.submits == 1
    sandbox_ids = [parse_public_id(i) for i in ids]
    sandbox_ids += [parse_public_id(a["message_id"]) for a in bulk.json()["data"]["messages"]]
    refs = await api.stack.pool.fetchval(
        "SELECT count(*) FROM billing_reservations WHERE message_ref = ANY($1::text[])",
        [f"{i:016x}" for i in sandbox_ids if i is not None],
    )
    assert refs == 0
    assert await _available(api, api.stack.account_id) == before - 5_000  # only the live message


async def test_sandbox_key_cannot_mint_a_live_key(api: Api) -> None:
    test_key = await api.new_key(live=False)
    r = await api.client.post("/v1/settings/api-keys", json={"live": True}, headers=test_key)
    assert r.status_code == 403
    r = await api.client.post("/v1/settings/api-keys", json={"name": "t"}, headers=test_key)
    created = r.json()["data"]
    assert r.status_code == 201 and created["live"] is False and created["key"].startswith("bsms_test_")
