"""The BulkAPIs document's surface (seed 000) through a real HTTP client: its bulk_ak_ keys, envelope,
codes, plan limits, usage, and webhooks signed X-BulkAPIs-Signature = hex HMAC-SHA256(secret, raw body),
retried up to 5 attempts and then dead-lettered."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from engine.admin.provision import create_token_key
from engine.outbox.webhooks import WebhookEvent
from http_api.bulkapis.plans import set_membership
from tests.http_api.conftest import Api
from tests.http_api.test_webhooks_support import Received, receiver


async def bulk_key(api: Api, account: int | None = None) -> dict[str, str]:
    _, token = await create_token_key(api.stack.pool, account or api.stack.account_id)  # 60 / min
    assert token.startswith("bulk_ak_")
    return {"Authorization": f"Bearer {token}"}


def document_signature(secret: str, raw_body: bytes) -> str:
    """The document's check, written out: createHmac('sha256', secret).update(rawBody).digest('hex')."""
    return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def failed(r: object, status: int, code: str) -> None:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == code and body["error"]["message"], body


async def test_keys_are_bulk_ak_tokens_shown_once_and_revocable(api: Api) -> None:
    auth = await bulk_key(api)
    failed(await api.client.get("/api/v1/api-keys"), 401, "UNAUTHORIZED")
    failed(await api.client.get("/api/v1/api-keys", headers={"Authorization": "Bearer bulk_ak_nope"}), 401,
           "UNAUTHORIZED")  # fmt: skip
    r = await api.client.post("/api/v1/api-keys", json={"name": "ci"}, headers=auth)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["success"] is True and created["data"]["key"].startswith("bulk_ak_")
    assert created["data"]["name"] == "ci" and created["data"]["createdAt"].endswith("Z")
    new = {"Authorization": f"Bearer {created['data']['key']}"}
    listed = await api.client.get("/api/v1/api-keys", headers=new)
    assert listed.status_code == 200 and listed.json()["success"] is True
    keys = listed.json()["data"]
    assert {k["id"] for k in keys} >= {created["data"]["id"]} and all("key" not in k for k in keys)
    # stored only as its SHA-256, as the document says
    stored = await api.stack.pool.fetchval(
        "SELECT secret_hash FROM api_keys WHERE key = $1", created["data"]["id"]
    )
    assert stored == "sha256:" + hashlib.sha256(created["data"]["key"].encode()).hexdigest()
    r = await api.client.delete("/api/v1/api-keys", params={"id": created["data"]["id"]}, headers=auth)
    assert r.status_code == 200 and r.json() == {
        "success": True,
        "data": {"id": created["data"]["id"], "revoked": True},
    }
    failed(await api.client.get("/api/v1/api-keys", headers=new), 401, "UNAUTHORIZED")
    # another account cannot revoke mine: as for an unknown id
    other = await bulk_key(api, api.other_account)
    mine = (await api.client.get("/api/v1/api-keys", headers=auth)).json()["data"]
    failed(
        await api.client.delete("/api/v1/api-keys", params={"id": mine[-1]["id"]}, headers=other),
        404,
        "NOT_FOUND",
    )
    # a seed-001 credential under /api/v1 still reaches the seed-001 surface
    r = await api.client.get("/api/v1/settings/api-keys", headers=api.headers())
    assert r.status_code == 200 and "success" not in r.json()


async def test_quota_usage_and_rate_limit(api: Api) -> None:
    auth = await bulk_key(api)
    await set_membership(api.stack.pool, api.stack.account_id, "base", api_calls_quota=3)
    for _ in range(2):
        assert (await api.client.get("/api/v1/webhooks", headers=auth)).status_code == 200
    usage = await api.client.get("/api/v1/usage", headers=auth)  # the third call of the year
    assert usage.status_code == 200, usage.text
    data = usage.json()["data"]
    assert data["plan"] == "base" and data["apiCalls"] == {"used": 3, "limit": 3, "remaining": 0}
    today = datetime.now(UTC).date().isoformat()
    assert data["daily"] == [{"date": today, "calls": 3}] and data["to"] == today
    assert data["socialAccounts"] == {"packs": 0, "limit": 0}
    failed(await api.client.get("/api/v1/webhooks", headers=auth), 403, "API_CALLS_EXCEEDED")
    r = await api.client.get("/api/v1/usage", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=auth)
    failed(r, 403, "API_CALLS_EXCEEDED")  # refused before anything else: the quota is spent
    # upgraded: 60 requests a minute per key, then 429 with Retry-After and retryAfter
    await set_membership(api.stack.pool, api.stack.account_id, "growth")
    r = await api.client.get("/api/v1/usage", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=auth)
    failed(r, 400, "VALIDATION_ERROR")
    statuses = [(await api.client.get("/api/v1/webhooks", headers=auth)) for _ in range(60)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    failed(limited[0], 429, "RATE_LIMITED")
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert datetime.fromisoformat(limited[0].json()["error"]["retryAfter"]) > datetime.now(UTC)


async def emit(api: Api, event: str, data: dict[str, object]) -> None:
    engine = api.stack.engine
    assert engine.webhooks is not None
    async with engine.pool.acquire() as conn, conn.transaction():
        stored = await engine.webhooks.emit(conn, [WebhookEvent(api.stack.account_id, event, data)])
    assert stored >= 1
    engine.webhooks.wake()


async def test_webhooks_crud_signature_retry_and_dead_letter(api: Api) -> None:
    auth = await bulk_key(api)
    engine = api.stack.engine
    assert engine.webhooks is not None
    engine.webhooks.schedules["bulkapis"] = (0.05, 0.1, 0.2, 0.4)  # the table's shape, shortened
    async with receiver([500, 503, 500, 500, 500]) as hook:
        body = {"name": "Production Webhook", "url": hook.url, "secret": "whsec_my_secret",
                "events": ["dm.received", "dm.sent", "dm.failed"]}  # fmt: skip
        r = await api.client.post("/api/v1/webhooks", json=body, headers=auth)
        assert r.status_code == 201, r.text
        created = r.json()["data"]
        assert created["id"].startswith("wh_") and created["name"] == "Production Webhook"
        assert created["events"] == ["dm.failed", "dm.received", "dm.sent"] and created["isActive"] is True
        assert "secret" not in created and created["createdAt"].endswith("Z")
        wid = created["id"]
        got = (await api.client.get(f"/api/v1/webhooks/{wid}", headers=auth)).json()
        assert got["success"] is True and got["data"]["url"] == hook.url
        assert [w["id"] for w in (await api.client.get("/api/v1/webhooks", headers=auth)).json()["data"]] == [
            wid
        ]
        # not on the seed-001 surface's list, and not another account's
        assert (await api.client.get("/v1/settings/webhooks", headers=api.headers())).json()["data"] == []
        other = await bulk_key(api, api.other_account)
        failed(await api.client.get(f"/api/v1/webhooks/{wid}", headers=other), 404, "NOT_FOUND")
        failed(await api.client.post("/api/v1/webhooks", json={**body, "events": ["sms.sent"]}, headers=auth),
               400, "VALIDATION_ERROR")  # fmt: skip

        payload = {"accountId": "acc_1", "conversationId": "1234-5678", "messageId": "msg_1",
                   "senderId": "9876543210", "senderUsername": "johndoe", "text": "Hey",
                   "createdAt": "2026-02-22T01:00:00Z"}  # fmt: skip
        await emit(api, "dm.received", payload)
        attempts: list[Received] = [await hook.next() for _ in range(5)]
        ids = {a.headers["x-bulkapis-delivery-id"] for a in attempts}
        assert len(ids) == 1  # the same delivery, five attempts
        for a in attempts:
            assert a.headers["content-type"] == "application/json"
            assert a.headers["x-bulkapis-event"] == "dm.received"
            assert a.headers["x-bulkapis-signature"] == document_signature("whsec_my_secret", a.body)
            assert datetime.fromisoformat(a.headers["x-bulkapis-timestamp"]).tzinfo is not None
            sent = a.json()
            assert set(sent) == {"event", "timestamp", "data"} and sent["event"] == "dm.received"
            assert sent["data"] == payload
        await engine.webhooks.wait_attempts(5)
        dead = await api.client.get(f"/api/v1/webhooks/{wid}/dead-letters", headers=auth)
        [letter] = dead.json()["data"]
        assert letter["deliveryId"] in ids and letter["attempts"] == 5 and letter["data"] == payload
        assert "500" in letter["lastError"]
        # dead-lettered, not disabled: the next event is delivered at the first attempt
        assert (await api.client.get(f"/api/v1/webhooks/{wid}", headers=auth)).json()["data"][
            "isActive"
        ] is True
        await emit(api, "dm.sent", {"accountId": "acc_1", "jobId": "j1"})
        delivered = await hook.next()
        assert delivered.answered == 200 and delivered.json()["event"] == "dm.sent"

        r = await api.client.put(
            f"/api/v1/webhooks/{wid}", json={"isActive": False, "name": "off"}, headers=auth
        )
        assert (
            r.status_code == 200
            and r.json()["data"]["isActive"] is False
            and r.json()["data"]["name"] == "off"
        )
        r = await api.client.delete(f"/api/v1/webhooks/{wid}", headers=auth)
        assert r.json() == {"success": True, "data": {"id": wid, "deleted": True}}
        failed(await api.client.get(f"/api/v1/webhooks/{wid}", headers=auth), 404, "NOT_FOUND")
