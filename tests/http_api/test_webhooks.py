"""Webhooks over a real socket: CRUD and isolation, signed deliveries of real engine events, retries,
deactivation after the last failure, MO and opt-out events, balance.low, the delivery log."""

from __future__ import annotations

import time

from tests.http_api.conftest import Api, sms
from tests.http_api.test_webhooks_support import receiver, verify

FAST = (0.05, 0.1, 0.15)  # the retry table, shortened: the default (5, 30, 300 s) is covered below


async def create(api: Api, url: str, events: list[str], **headers: str) -> dict[str, object]:
    r = await api.client.post(
        "/v1/settings/webhooks", json={"url": url, "events": events, "description": "ops"},
        headers=headers or api.headers(),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()["data"]
    return body


async def test_crud_is_scoped_to_the_account_and_shows_the_secret_once(api: Api) -> None:
    created = await create(api, "https://example.com/hook", ["message.delivered", "opt_out"])
    wid = created["id"]
    assert str(created["secret"]).startswith("whsec_") and created["active"] is True
    assert created["events"] == ["message.delivered", "opt_out"]
    got = (await api.client.get(f"/v1/settings/webhooks/{wid}", headers=api.headers())).json()["data"]
    assert "secret" not in got and got["url"] == "https://example.com/hook" and got["description"] == "ops"
    listed = (await api.client.get("/v1/settings/webhooks", headers=api.headers())).json()["data"]
    assert [w["id"] for w in listed] == [wid]
    r = await api.client.patch(
        f"/v1/settings/webhooks/{wid}", json={"events": ["balance.low"]}, headers=api.headers()
    )
    assert r.status_code == 200 and r.json()["data"]["events"] == ["balance.low"]
    assert r.json()["data"]["url"] == got["url"]
    # another account: its own empty list, and 404 on every path with my id, as for an unknown id
    assert (await api.client.get("/v1/settings/webhooks", headers=api.other())).json()["data"] == []
    for method, path, body in [
        ("GET", f"/v1/settings/webhooks/{wid}", None),
        ("PATCH", f"/v1/settings/webhooks/{wid}", {"description": "mine now"}),
        ("DELETE", f"/v1/settings/webhooks/{wid}", None),
        ("POST", f"/v1/settings/webhooks/{wid}/test", None),
        ("GET", f"/v1/settings/webhooks/{wid}/deliveries", None),
        ("GET", "/v1/settings/webhooks/999999", None),
        ("GET", "/v1/settings/webhooks/abc", None),
    ]:
        r = await api.client.request(method, path, json=body, headers=api.other())
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", (method, path)
    assert (await api.client.get(f"/v1/settings/webhooks/{wid}", headers=api.headers())).json()["data"][
        "description"
    ] == "ops"
    # validation and permissions
    for bad in [{"url": "ftp://example.com/x", "events": ["opt_out"]}, {"url": "https://x.io", "events": []},
                {"url": "https://example.com", "events": ["message.sent"]}]:  # fmt: skip
        r = await api.client.post("/v1/settings/webhooks", json=bad, headers=api.headers())
        assert r.status_code == 400, bad
    reader = await api.new_key(permissions=["sms.read"])
    r = await api.client.get("/v1/settings/webhooks", headers=reader)
    assert r.status_code == 403
    manager = await api.new_key(permissions=["webhooks.manage"])
    assert (await api.client.get("/v1/settings/webhooks", headers=manager)).status_code == 200
    r = await api.client.delete(f"/v1/settings/webhooks/{wid}", headers=api.headers())
    assert r.status_code == 200 and r.json()["data"] == {"id": wid, "deleted": True}
    assert (await api.client.get(f"/v1/settings/webhooks/{wid}", headers=api.headers())).status_code == 404


async def test_message_delivered_is_signed_and_logged(api: Api) -> None:
    async with receiver() as hook:
        created = await create(api, hook.url, ["message.delivered", "message.failed"])
        other = await create(api, hook.url, ["message.delivered"], **api.other())
        sent = await api.client.post("/v1/sms/send", json=sms(client_ref="order-7"), headers=api.headers())
        assert sent.status_code == 202
        got = await hook.next()
        assert got.method == "POST" and got.path == "/hooks"
        assert verify(str(created["secret"]), got)  # the formula, computed by the test itself
        assert not verify(str(other["secret"]), got)
        assert abs(int(got.headers["x-webhook-timestamp"]) - time.time()) < 60
        body = got.json()
        assert set(body) == {"id", "event", "created_at", "data"}
        assert body["event"] == "message.delivered" and got.headers["x-webhook-id"] == body["id"]
        data = body["data"]
        assert data["message_id"] == sent.json()["id"] and data["status"] == "delivered"
        # the document's DLR payload fields
        assert data["destination"] == "+447700900123" and data["carrier_status"] == "DELIVRD"
        assert data["delivered_at"] == data["done_at"]
        assert data["client_ref"] == "order-7"
        assert data["source"] == "Acme" and data["err"] and data["done_at"] and data["submitted_at"]
        await api.stack.engine.webhooks.wait_attempts(1)  # type: ignore[union-attr]
        log = await api.client.get(f"/v1/settings/webhooks/{created['id']}/deliveries", headers=api.headers())
        [entry] = log.json()["data"]
        assert entry["id"] == body["id"] and entry["status"] == "delivered" and entry["attempts"] == 1
        assert entry["log"][0]["status_code"] == 200 and entry["log"][0]["duration_ms"] >= 0
        assert hook.requests.empty()  # the other account's webhook heard nothing of this message
        assert await api.stack.pool.fetchval(
            "SELECT count(*) FROM webhook_deliveries WHERE account_id = $1", api.other_account
        ) == 0  # fmt: skip


async def test_failed_deliveries_are_retried_with_the_same_id_until_they_succeed(api: Api) -> None:
    engine = api.stack.engine
    assert engine.webhooks is not None and engine.webhooks.schedule == (5.0, 30.0, 300.0)
    engine.webhooks.schedule = FAST
    async with receiver([500, 503]) as hook:
        created = await create(api, hook.url, ["message.delivered"])
        assert (await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())).status_code == 202
        tries = [await hook.next() for _ in range(3)]
        assert [t.answered for t in tries] == [500, 503, 200]
        assert len({t.headers["x-webhook-id"] for t in tries}) == 1  # receivers dedupe on it
        assert all(verify(str(created["secret"]), t) for t in tries)
        assert len({t.body for t in tries}) == 1
        await engine.webhooks.wait_attempts(3)
    log = (
        await api.client.get(f"/v1/settings/webhooks/{created['id']}/deliveries", headers=api.headers())
    ).json()
    [entry] = log["data"]
    assert entry["status"] == "delivered" and [a["status_code"] for a in entry["log"]] == [500, 503, 200]
    assert entry["log"][0]["error"] == "answered HTTP 500"
    got = (await api.client.get(f"/v1/settings/webhooks/{created['id']}", headers=api.headers())).json()
    assert got["data"]["active"] is True


async def test_after_the_last_retry_fails_the_webhook_is_inactive_and_says_why(api: Api) -> None:
    engine = api.stack.engine
    assert engine.webhooks is not None
    engine.webhooks.schedule = FAST
    async with receiver([500] * 10) as hook:
        created = await create(api, hook.url, ["message.delivered"])
        wid = created["id"]
        assert (await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())).status_code == 202
        for _ in range(4):  # the first attempt and three retries
            await hook.next()
        await engine.webhooks.wait_attempts(4)
        got = (await api.client.get(f"/v1/settings/webhooks/{wid}", headers=api.headers())).json()["data"]
        assert got["active"] is False and "after 4 failed attempts" in got["inactive_reason"]
        assert "HTTP 500" in got["inactive_reason"]
        [entry] = (
            await api.client.get(f"/v1/settings/webhooks/{wid}/deliveries", headers=api.headers())
        ).json()["data"]
        assert entry["status"] == "failed" and entry["attempts"] == 4 and len(entry["log"]) == 4
        failed = await api.client.get(
            f"/v1/settings/webhooks/{wid}/deliveries", params={"status": "failed"}, headers=api.headers()
        )
        assert len(failed.json()["data"]) == 1
        # an inactive webhook is not given new events
        assert (await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())).status_code == 202
        assert await engine.wait_idle(within=30.0)
        await api.stack.sim.wait_receipts_acked(2)
        assert await api.stack.pool.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
        # re-activated by the customer, it gets the next one
        r = await api.client.patch(
            f"/v1/settings/webhooks/{wid}", json={"active": True}, headers=api.headers()
        )
        assert r.json()["data"]["active"] is True and r.json()["data"]["inactive_reason"] == ""
        hook.script.clear()
        assert (await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())).status_code == 202
        assert (await hook.next()).answered == 200


async def test_mo_and_stop_raise_message_received_and_opt_out(api: Api) -> None:
    async with receiver() as hook:
        created = await create(api, hook.url, ["message.received", "opt_out"])
        theirs = await create(api, hook.url, ["message.received", "opt_out"], **api.other())
        api.stack.sim.inject_mo("447700900777", api.stack.mo_number, "Hello there")
        first = await hook.next()
        assert verify(str(created["secret"]), first) and not verify(str(theirs["secret"]), first)
        assert first.json()["event"] == "message.received"
        assert (
            first.json()["data"]["text"] == "Hello there" and first.json()["data"]["from"] == "447700900777"
        )
        api.stack.sim.inject_mo("447700900777", api.stack.mo_number, "STOP")
        got = {r.json()["event"]: r.json() for r in [await hook.next(), await hook.next()]}
        assert got["message.received"]["data"]["text"] == "STOP"
        assert got["opt_out"]["data"]["opted_out"] is True and got["opt_out"]["data"]["keyword"] == "STOP"
        assert got["opt_out"]["data"]["number"] == "447700900777"
        await api.stack.engine.webhooks.wait_attempts(3)  # type: ignore[union-attr]
        assert hook.requests.empty()  # the other account owns no MO number: it heard nothing


async def test_test_delivery_and_balance_low(api: Api) -> None:
    async with receiver([500]) as hook:
        created = await create(api, hook.url, ["balance.low"])
        wid = created["id"]
        r = await api.client.post(f"/v1/settings/webhooks/{wid}/test", headers=api.headers())
        assert r.status_code == 202
        got = await hook.next()
        assert (
            got.json()["event"] == "webhook.test"
            and got.headers["x-webhook-id"] == r.json()["data"]["delivery_id"]
        )
        assert verify(str(created["secret"]), got)
        await api.stack.engine.webhooks.wait_attempts(1)  # type: ignore[union-attr]
        # a failed test is logged, not retried, and never disables the webhook
        webhook = (await api.client.get(f"/v1/settings/webhooks/{wid}", headers=api.headers())).json()["data"]
        assert webhook["active"] is True
        # balance.low: the next reservation takes the balance below the account's threshold
        available = await api.stack.pool.fetchval(
            "SELECT l.balance FROM billing_ledger_accounts l"
            " JOIN billing_customers c ON c.available_id = l.id WHERE c.account_id = $1",
            api.stack.account_id,
        )  # fmt: skip
        await api.stack.pool.execute(
            "UPDATE billing_customers SET low_threshold = $2 WHERE account_id = $1",
            api.stack.account_id, available - 1_000,
        )  # fmt: skip
        assert (await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())).status_code == 202
        low = await hook.next()
        assert low.json()["event"] == "balance.low" and verify(str(created["secret"]), low)
        assert low.json()["data"]["threshold"] == available - 1_000
        assert low.json()["data"]["available"] == available - 5_000


async def test_the_documents_dlr_event_name_subscribes_to_every_delivery_report(api: Api) -> None:
    async with receiver() as hook:
        created = await create(api, hook.url, ["dlr"])
        assert created["events"] == ["dlr"]
        sent = await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())
        got = await hook.next()
        assert verify(str(created["secret"]), got)
        body = got.json()
        # the document's DLR payload example, field for field
        assert body["event"] == "message.delivered" and set(body) == {"id", "event", "created_at", "data"}
        data = body["data"]
        assert data["message_id"] == sent.json()["id"] and data["destination"] == "+447700900123"
        assert data["carrier_status"] == "DELIVRD" and data["delivered_at"]
