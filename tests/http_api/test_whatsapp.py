"""WhatsApp Business: the document's eight endpoint rows, through httpx against the running app, with the
local Meta Cloud API simulator standing in for Meta (its webhooks signed and sent to the app's real port).

One engine, simulator and app for the whole module; each test uses its own recipients and template names.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from engine.admin.ledger import check_engine_ledger
from engine.admin.provision import create_api_key
from engine.core.ids import NODE_BITS, SEQUENCE_BITS
from engine.core.recovery import recover
from engine.infra.services import ServiceUrls
from engine.infra.settings import HttpSettings
from engine.simulation.meta_cloud import MetaCloudSimulator, MetaWorld
from engine.whatsapp.recovery import whatsapp_taker
from engine.whatsapp.service import connect_number
from http_api.app import create_app
from http_api.server import serve_http
from tests.conftest import DatabaseFactory, with_database
from tests.engine.harness import Stack, StackOptions, running_stack
from tests.http_api.test_webhooks_support import WebhookReceiver, verify

pytestmark = pytest.mark.asyncio(loop_scope="module")

VERSION = "v21.0"


@dataclass
class Wa:
    stack: Stack
    sim: MetaCloudSimulator
    client: httpx.AsyncClient
    key: str
    secret: str
    hooks: WebhookReceiver
    hook_secret: str

    @property
    def world(self) -> MetaWorld:
        return self.sim.world

    @property
    def pool(self) -> asyncpg.Pool:
        return self.stack.pool

    def headers(self, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.key, "X-API-Secret": self.secret, **extra}

    async def events(self, count: int, match: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The next `count` whatsapp.message webhooks matching `match` (others are dropped), each verified."""
        out = []
        while len(out) < count:
            got = await self.hooks.next(within=15.0)
            assert verify(self.hook_secret, got), "webhook signature does not verify"
            event = got.json()
            if event["event"] == "whatsapp.message" and match(event["data"]):
                out.append(event)
        return out


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def wa(service_urls: ServiceUrls, database_factory: DatabaseFactory) -> AsyncIterator[Wa]:
    name = database_factory.take()
    database_url = with_database(service_urls.database_url, name)
    prefix = f"smsengine-test:{uuid.uuid4().hex[:12]}:"
    world = MetaWorld(status_delay=0.02, approval_delay=0.02)
    async with MetaCloudSimulator(world) as sim:
        options = StackOptions(settings={"whatsapp": {
            "api_base": sim.base_url, "api_version": VERSION, "access_token": world.access_token,
            "app_secret": world.app_secret, "verify_token": world.verify_token,
        }})  # fmt: skip
        async with running_stack(database_url, service_urls.redis_url, options) as stack:
            await connect_number(
                stack.pool, stack.account_id, waba_id=world.waba_id, phone_number_id=world.phone_number_id,
                display_phone_number=world.display_phone_number, verified_name=world.verified_name,
            )  # fmt: skip
            key, secret = await create_api_key(stack.pool, stack.account_id, name="wa")
            redis = aioredis.Redis.from_url(service_urls.redis_url)
            http = HttpSettings(host="127.0.0.1", port=0, rate_limit=1000.0, rate_burst=1000)
            hooks = await WebhookReceiver().start()
            try:
                app = create_app(stack.engine, redis, prefix=prefix, settings=http)
                async with serve_http(app, "127.0.0.1", 0) as server:
                    base = f"http://127.0.0.1:{server.port}"
                    world.webhook_url = f"{base}/v1/whatsapp/webhook"
                    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
                        r = await client.post(
                            "/v1/settings/webhooks", json={"url": hooks.url, "events": ["whatsapp.message"]},
                            headers={"X-API-Key": key, "X-API-Secret": secret},
                        )  # fmt: skip
                        assert r.status_code == 201, r.text
                        yield Wa(stack, sim, client, key, secret, hooks, r.json()["data"]["secret"])
            finally:
                await hooks.close()
                await redis.aclose()
    database_factory.give_back(name)


async def eventually(probe: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    """Poll `probe` until it returns something truthy (the engine's state as a client would watch it)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.02)


async def approved_template(wa: Wa, name: str, language: str = "en") -> dict[str, Any]:
    r = await wa.client.post("/v1/whatsapp/templates", headers=wa.headers(), json={
        "name": name, "language": language, "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} has shipped",
                        "example": {"body_text": [["Alice", "ORD-1"]]}}],
    })  # fmt: skip
    assert r.status_code == 201, r.text

    async def listed() -> dict[str, Any] | None:
        got = await wa.client.get("/v1/whatsapp/templates", params={"name": name}, headers=wa.headers())
        rows = got.json()["data"]
        return rows[0] if rows and rows[0]["status"] != "PENDING" else None

    row: dict[str, Any] = await eventually(listed)
    return row


async def message_row(wa: Wa, message_id: str) -> asyncpg.Record:
    row = await wa.pool.fetchrow("SELECT * FROM whatsapp_messages WHERE id = $1", int(message_id, 16))
    assert row is not None
    return row


async def final_row(wa: Wa, message_id: str, *, read: bool = False) -> asyncpg.Record:
    async def probe() -> asyncpg.Record | None:
        row = await message_row(wa, message_id)
        done = row["final_at"] is not None and (row["read_at"] is not None or not read)
        return row if done else None

    row: asyncpg.Record = await eventually(probe)
    return row


# ------------------------------------------------------------------------------------------ the rows


async def test_get_accounts_lists_the_connected_business_number(wa: Wa) -> None:
    r = await wa.client.get("/v1/whatsapp/accounts", headers=wa.headers())
    assert r.status_code == 200
    body = r.json()
    assert body["pagination"] == {"total": 1, "page_size": 50, "has_more": False, "cursor": None}
    [account] = body["data"]
    assert account["waba_id"] == wa.world.waba_id and account["phone_number_id"] == wa.world.phone_number_id
    assert account["display_phone_number"] == "+" + wa.world.display_phone_number
    assert account["status"] == "CONNECTED" and body["meta"]["request_id"]


async def test_templates_are_pending_until_meta_reviews_them_and_only_approved_ones_send(wa: Wa) -> None:
    r = await wa.client.post("/v1/whatsapp/templates", headers=wa.headers(), json={
        "name": "reject_promo", "language": "en", "category": "MARKETING",
        "components": [{"type": "BODY", "text": "50% off!"}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert (
        created["status"] == "PENDING" and created["meta_template_id"] and created["category"] == "MARKETING"
    )
    assert ("reject_promo", "en") in wa.world.templates  # submitted to Meta for review
    # the simulator's review rejects it; the engine learns so from the signed template webhook
    approved = await approved_template(wa, "order_ready")
    assert approved["status"] == "APPROVED" and approved["rejected_reason"] is None

    async def rejected() -> dict[str, Any] | None:
        got = await wa.client.get(
            "/v1/whatsapp/templates", params={"name": "reject_promo"}, headers=wa.headers()
        )
        row: dict[str, Any] = got.json()["data"][0]
        return row if row["status"] == "REJECTED" else None

    assert (await eventually(rejected))["rejected_reason"] == "INVALID_FORMAT"
    r = await wa.client.get("/v1/whatsapp/templates", params={"status": "APPROVED"}, headers=wa.headers())
    assert "reject_promo" not in [t["name"] for t in r.json()["data"]]
    send = {"to": "+447700900301", "type": "template", "template": {"name": "reject_promo", "language": "en"}}
    r = await wa.client.post("/v1/whatsapp/send", json=send, headers=wa.headers())
    assert r.status_code == 422 and r.json()["error"]["code"] == "TEMPLATE_NOT_APPROVED"
    assert r.json()["error"]["details"]["status"] == "REJECTED"
    again = {"name": "order_ready", "language": "en", "category": "UTILITY", "components": [{"type": "BODY"}]}
    r = await wa.client.post("/v1/whatsapp/templates", json=again, headers=wa.headers())
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"


async def test_delete_template_removes_it_at_meta_and_here(wa: Wa) -> None:
    await approved_template(wa, "to_delete")
    r = await wa.client.delete("/v1/whatsapp/templates/to_delete", headers=wa.headers())
    assert r.status_code == 200 and r.json()["data"] == {"name": "to_delete", "deleted": True, "languages": 1}
    assert ("to_delete", "en") not in wa.world.templates
    r = await wa.client.delete("/v1/whatsapp/templates/to_delete", headers=wa.headers())
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


async def test_send_the_documents_template_example_and_follow_its_statuses(wa: Wa) -> None:
    await approved_template(wa, "order_shipped")
    example = {  # the document's "Send Template Message", as written
        "to": "+447700900123",
        "type": "template",
        "template": {
            "name": "order_shipped",
            "language": "en",
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        { "type": "text", "text": "Alice" },
                        { "type": "text", "text": "ORD-12345" }
                    ]
                }
            ],
        },
    }  # fmt: skip
    r = await wa.client.post("/v1/whatsapp/send", json=example, headers=wa.headers())
    assert r.status_code == 202, r.text
    data = r.json()["data"]
    assert (
        data["status"] == "queued" and data["to"] == "+447700900123" and data["template"] == "order_shipped"
    )
    assert data["category"] == "UTILITY" and data["cost_micros"] == 10_000 and data["cost"] == 0.01
    row = await final_row(wa, data["message_id"], read=True)
    assert row["status"] == "delivered" and row["wamid"].startswith("wamid.") and row["money"] == "captured"
    assert row["delivered_at"] is not None and row["read_at"] is not None
    [graph] = [s for s in wa.world.sent if s["wamid"] == row["wamid"]]  # what Meta got: its own shape
    assert graph["to"] == "447700900123" and graph["template"]["language"] == {"code": "en"}
    assert graph["template"]["components"] == example["template"]["components"]  # type: ignore[index]
    got = await wa.client.get(f"/v1/whatsapp/messages/{data['message_id']}", headers=wa.headers())
    assert got.status_code == 200
    life = got.json()["data"]
    assert life["status"] == "read" and life["status_detail"] == "delivered" and life["wamid"] == row["wamid"]
    assert life["delivered_at"] and life["read_at"] and life["cost_micros"] == 10_000
    r = await wa.client.get("/v1/whatsapp/messages/0123456789abcdef", headers=wa.headers())
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    events = await wa.events(3, lambda d: d.get("message_id") == data["message_id"])
    assert [e["data"]["status"] for e in events] == ["sent", "delivered", "read"]
    assert events[-1]["data"]["to"] == "+447700900123" and events[-1]["data"]["wamid"] == row["wamid"]


async def test_free_form_only_within_24_hours_of_the_customers_last_message(wa: Wa) -> None:
    customer = "447700900555"
    text = {"to": "+" + customer, "type": "text", "text": {"body": "Your parcel is at the door"}}
    r = await wa.client.post("/v1/whatsapp/send", json=text, headers=wa.headers())
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "CONVERSATION_WINDOW_CLOSED" and "template" in error["message"]
    assert error["details"]["use"] == "template"
    inbound = await wa.sim.customer_message(customer, "Where is my parcel?", name="Bob")
    [event] = await wa.events(1, lambda d: d.get("wamid") == inbound)
    assert event["data"]["direction"] == "inbound" and event["data"]["from"] == "+" + customer
    assert event["data"]["text"] == "Where is my parcel?" and event["data"]["profile_name"] == "Bob"
    r = await wa.client.get("/v1/whatsapp/conversations", headers=wa.headers())
    assert r.status_code == 200
    [conversation] = [c for c in r.json()["data"] if c["wa_id"] == "+" + customer]
    assert conversation["last_message"] == "Where is my parcel?" and conversation["profile_name"] == "Bob"
    opened = conversation["last_inbound_at"]
    assert conversation["expires_at"] > opened
    r = await wa.client.post("/v1/whatsapp/send", json=text, headers=wa.headers())
    assert r.status_code == 202, r.text
    assert r.json()["data"]["category"] == "SERVICE" and r.json()["data"]["cost_micros"] == 5_000
    assert (await final_row(wa, r.json()["data"]["message_id"]))["status"] == "delivered"
    # 25 hours later the window has closed again: a template is needed
    await wa.pool.execute(
        "UPDATE whatsapp_conversations SET last_inbound_at = now() - interval '25 hours' WHERE wa_id = $1",
        customer,
    )
    r = await wa.client.post("/v1/whatsapp/send", json=text, headers=wa.headers())
    assert r.status_code == 422 and r.json()["error"]["code"] == "CONVERSATION_WINDOW_CLOSED"
    r = await wa.client.get("/v1/whatsapp/conversations", headers=wa.headers())
    assert "+" + customer not in [c["wa_id"] for c in r.json()["data"]]


async def test_hub_verification_echoes_the_challenge_only_for_the_verify_token(wa: Wa) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": wa.world.verify_token,
        "hub.challenge": "1158201444",
    }
    r = await wa.client.get("/v1/whatsapp/webhook", params=params)
    assert (
        r.status_code == 200 and r.text == "1158201444" and r.headers["content-type"].startswith("text/plain")
    )
    r = await wa.client.get("/v1/whatsapp/webhook", params={**params, "hub.verify_token": "guess"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    assert await wa.sim.subscribe()


async def test_inbound_events_are_accepted_only_with_metas_signature(wa: Wa) -> None:
    customer = "447700900777"
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": wa.world.waba_id, "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": wa.world.display_phone_number,
                         "phone_number_id": wa.world.phone_number_id},
            "contacts": [{"profile": {"name": "Carol"}, "wa_id": customer}],
            "messages": [{"from": customer, "id": "wamid.TEST777", "timestamp": str(int(time.time())),
                          "type": "text", "text": {"body": "hello"}}],
        },
    }]}]}).encode()  # fmt: skip
    # Meta's formula, written out: "sha256=" + hex HMAC-SHA256 of the raw body keyed by the app secret
    good = "sha256=" + hmac.new(wa.world.app_secret.encode(), body, hashlib.sha256).hexdigest()
    bad = "sha256=" + hmac.new(b"not the app secret", body, hashlib.sha256).hexdigest()
    url, json_type = "/v1/whatsapp/webhook", {"Content-Type": "application/json"}
    for signature in (bad, None, good.replace("sha256=", "sha1=")):
        headers = {**json_type, **({"X-Hub-Signature-256": signature} if signature else {})}
        r = await wa.client.post(url, content=body, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED", signature
    tampered = body.replace(b"hello", b"HELLO")
    r = await wa.client.post(url, content=tampered, headers={**json_type, "X-Hub-Signature-256": good})
    assert r.status_code == 401
    count = "SELECT count(*) FROM whatsapp_conversations WHERE wa_id = $1"
    assert await wa.pool.fetchval(count, customer) == 0  # nothing refused left a trace
    r = await wa.client.post(url, content=body, headers={**json_type, "X-Hub-Signature-256": good})
    assert r.status_code == 200
    assert r.json()["data"] == {"received": True, "messages": 1, "statuses": 0, "templates": 0}
    assert await wa.pool.fetchval(count, customer) == 1


async def test_rate_limits_and_server_errors_are_retried_and_sent_once(wa: Wa) -> None:
    await approved_template(wa, "retry_me")
    path = f"/{VERSION}/{wa.world.phone_number_id}/messages"
    wa.sim.faults.fail_next(2, status=429, path_prefix=path)
    wa.sim.faults.fail_next(2, status=503, path_prefix=path)
    injected = wa.sim.faults.injected
    send = {"to": "+447700900402", "type": "template", "template": {"name": "retry_me", "language": "en"}}
    r = await wa.client.post("/v1/whatsapp/send", json=send, headers=wa.headers())
    assert r.status_code == 202
    row = await final_row(wa, r.json()["data"]["message_id"])
    assert row["status"] == "delivered" and wa.sim.faults.injected == injected + 4
    assert len([s for s in wa.world.sent if s["to"] == "447700900402"]) == 1


async def test_a_failed_status_refunds_and_the_ledger_reconciles(wa: Wa) -> None:
    await approved_template(wa, "will_fail")
    wa.world.failing_recipients.add("447700900666")
    send = {"to": "+447700900666", "type": "template", "template": {"name": "will_fail", "language": "en"}}
    r = await wa.client.post("/v1/whatsapp/send", json=send, headers=wa.headers())
    assert r.status_code == 202
    row = await final_row(wa, r.json()["data"]["message_id"])
    assert row["status"] == "undeliverable" and row["money"] == "refunded" and row["error_code"] == 131026
    sandbox = await wa.client.post(
        "/v1/whatsapp/send", json=send, headers=wa.headers(**{"X-Sandbox": "true"})
    )
    assert sandbox.status_code == 202 and sandbox.json()["data"]["status"] == "delivered"
    assert sandbox.json()["data"]["sandbox"] is True and sandbox.json()["data"]["cost_micros"] == 0
    assert await wa.stack.engine.wait_idle(within=10.0)
    async with wa.pool.acquire() as conn:
        report = await check_engine_ledger(conn)
    assert report.ok, report
    assert report.items_checked and report.items_checked >= await wa.pool.fetchval(
        "SELECT count(*) FROM whatsapp_messages WHERE reserve_batch IS NOT NULL"
    )


async def test_a_queued_message_of_a_previous_run_is_sent_at_recovery_flagged_possible_duplicate(
    wa: Wa,
) -> None:
    engine = wa.stack.engine
    # a row this node accepted before a crash (an id of this node from long ago: under its watermark)
    message_id = (1 << (NODE_BITS + SEQUENCE_BITS)) | (engine.node << SEQUENCE_BITS) | 7
    template = {"name": "order_shipped", "language": {"code": "en"}}
    payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "447700900888",
               "type": "template", "template": template}  # fmt: skip
    if ("order_shipped", "en") not in wa.world.templates:
        await approved_template(wa, "order_shipped")
    await wa.pool.execute(
        "INSERT INTO whatsapp_messages (id, account_id, phone_number_id, destination, type, template_name,"
        " template_language, category, payload, status, created_at, updated_at, currency)"
        " VALUES ($1, $2, $3, '447700900888', 'template', 'order_shipped', 'en', 'UTILITY', $4, 'queued',"
        " now(), now(), 'EUR')",
        message_id, wa.stack.account_id, wa.world.phone_number_id, json.dumps(payload),
    )  # fmt: skip
    assert await recover(wa.pool, engine.node, [whatsapp_taker(engine.dispatcher.enqueue)]) == 1
    row = await final_row(wa, f"{message_id:016x}")
    assert row["status"] == "delivered" and row["possible_duplicate"] and row["owner"] == engine.node
    assert len([s for s in wa.world.sent if s["to"] == "447700900888"]) == 1


async def test_a_send_meta_refuses_is_final_rejected_with_its_code_and_its_hold_released(wa: Wa) -> None:
    await approved_template(wa, "gone_at_meta")
    del wa.world.templates[("gone_at_meta", "en")]  # removed in Meta's business manager, not through us
    send = {"to": "+447700900909", "type": "template", "template": {"name": "gone_at_meta", "language": "en"}}
    r = await wa.client.post("/v1/whatsapp/send", json=send, headers=wa.headers())
    assert r.status_code == 202
    message_id = r.json()["data"]["message_id"]
    row = await final_row(wa, message_id)
    assert row["status"] == "rejected" and row["error_code"] == 132001 and row["money"] == "released"
    [event] = await wa.events(1, lambda d: d.get("message_id") == message_id)
    assert event["data"]["status"] == "failed" and event["data"]["error_code"] == 132001
    got = (await wa.client.get(f"/v1/whatsapp/messages/{message_id}", headers=wa.headers())).json()["data"]
    assert (
        got["status"] == "failed" and got["status_detail"] == "rejected" and "does not exist" in got["reason"]
    )
