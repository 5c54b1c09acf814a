"""SSRF through webhooks and callbacks: a customer cannot make the engine POST into its own network,
neither by the URL it registers nor by what that URL's name resolves to when the engine sends."""

from __future__ import annotations

import asyncio

import pytest

from engine.admin.provision import create_account
from engine.outbox.url_guard import TargetPolicy, guarded_client
from tests.http_api.conftest import Api, sms
from tests.http_api.test_webhooks_support import receiver

INSIDE = [
    "http://127.0.0.1:5432/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:6379/",
    "http://localhost:8080/hook",
    "http://10.0.0.7/hook",
]


@pytest.fixture
def strict(api: Api) -> TargetPolicy:
    """The engine as deployed: no private target allowed (the suite's default allows 127.0.0.1)."""
    policy = TargetPolicy()
    api.stack.engine.url_policy = policy
    return policy


async def test_registering_an_inside_url_is_refused_with_unsafe_url(api: Api, strict: TargetPolicy) -> None:
    for url in INSIDE:
        r = await api.client.post(
            "/v1/settings/webhooks", json={"url": url, "events": ["message.delivered"]}, headers=api.headers()
        )
        assert r.status_code == 422, (url, r.text)
        error = r.json()["error"]
        assert error["code"] == "UNSAFE_URL" and error["details"]["field"] == "url", url
    r = await api.client.post(
        "/v1/settings/webhooks", json={"url": "https://hooks.example.com/x", "events": ["opt_out"]},
        headers=api.headers(),
    )  # fmt: skip
    assert r.status_code == 201
    r = await api.client.patch(
        f"/v1/settings/webhooks/{r.json()['data']['id']}", json={"url": INSIDE[1]}, headers=api.headers()
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "UNSAFE_URL"


async def test_an_inside_webhook_is_neither_tested_nor_delivered_to(api: Api) -> None:
    engine = api.stack.engine
    assert engine.webhooks is not None
    async with receiver() as hook:
        # registered while the operator allowed loopback; then the operator takes that back
        r = await api.client.post(
            "/v1/settings/webhooks", json={"url": hook.url, "events": ["message.delivered"]},
            headers=api.headers(),
        )  # fmt: skip
        assert r.status_code == 201
        webhook_id = r.json()["data"]["id"]
        engine.url_policy = TargetPolicy()
        await engine.webhooks._http.aclose()
        engine.webhooks._http = guarded_client(engine.url_policy, timeout=5)
        r = await api.client.post(f"/v1/settings/webhooks/{webhook_id}/test", headers=api.headers())
        assert r.status_code == 422 and r.json()["error"]["code"] == "UNSAFE_URL"
        sent = await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())
        assert sent.status_code == 202
        await engine.webhooks.wait_attempts(1)
        log = await api.client.get(f"/v1/settings/webhooks/{webhook_id}/deliveries", headers=api.headers())
        attempt = log.json()["data"][0]["log"][0]
        assert attempt["status_code"] is None and "loopback" in attempt["error"]
        assert hook.requests.empty()


async def test_an_account_callback_url_inside_is_refused_at_creation(api: Api) -> None:
    for url in INSIDE:
        with pytest.raises(ValueError, match="not allowed"):
            await create_account(api.stack.pool, f"acct-{len(url)}", callback_url=url)
    allowed = TargetPolicy.parse("10.0.0.0/8")
    assert await create_account(api.stack.pool, "onprem", callback_url="http://10.0.0.7/cb", targets=allowed)


async def test_callbacks_go_through_the_guard_at_delivery(api: Api) -> None:
    """A receipt owed to an account whose callback URL resolves inside is not POSTed there."""
    forwarder = api.stack.engine.forwarder
    async with receiver() as hook:
        account = await create_account(
            api.stack.pool, "cb", callback_url=hook.url, targets=TargetPolicy.parse("127.0.0.1")
        )
        await forwarder._http.aclose()
        forwarder._http = guarded_client(TargetPolicy(), timeout=5)  # the operator took loopback back
        await api.stack.pool.execute(
            "INSERT INTO deliveries (account_id, kind, body) VALUES ($1, 'mo', '{\"text\": \"hi\"}')", account
        )
        await forwarder.refresh_callbacks()
        await forwarder.sweep()  # the row was written here, not pushed: take it at once
        async with asyncio.timeout(10):
            while forwarder.failed_attempts < 1:
                forwarder._progress.clear()
                await forwarder._progress.wait()
        error = await api.stack.pool.fetchval(
            "SELECT last_error FROM deliveries WHERE account_id = $1", account
        )
        assert "loopback" in error and hook.requests.empty()
