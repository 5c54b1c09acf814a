"""`smsengine run --demo` serves the HTTP API and writes its real address into demo.json."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx


async def whatsapp_in_the_demo(client: httpx.AsyncClient, whatsapp: dict[str, str]) -> None:
    """The demo's WhatsApp number: connected, a customer writes in, a free-form answer goes out."""
    [account] = (await client.get("/v1/whatsapp/accounts")).json()["data"]
    assert account["phone_number_id"] == whatsapp["phone_number_id"]
    wrote = await client.post(whatsapp["customer_message_url"], json={"from": "447700900123", "text": "hi"})
    assert wrote.json()["webhook_status"] == 200  # the engine took the simulator's signed webhook
    text = {"to": "+447700900123", "type": "text", "text": {"body": "Hello from the demo"}}
    r = await client.post("/v1/whatsapp/send", json=text)
    assert r.status_code == 202, r.text


async def test_run_demo_serves_http_on_the_port_it_writes_to_demo_json(
    database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = dict(
        os.environ,
        SMSENGINE_DATABASE_URL=database_url,
        SMSENGINE_REDIS_URL=redis_url,
        SMSENGINE_REDIS_PREFIX=redis_prefix,
        SMSENGINE_HTTP_PORT="0",
        SMSENGINE_SMPP_PORT="0",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smsengine.cli", "--config", str(tmp_path / "none.toml"), "run",
        "--data-dir", str(tmp_path), "--demo",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            while b"smsengine running" not in (line := await proc.stdout.readline()):
                assert line, "the engine exited before it was running"
        demo = json.loads((tmp_path / "demo.json").read_text())
        assert set(demo) == {"smpp", "http", "stripe", "mail", "google", "whatsapp", "social", "xquik"}
        social = demo["social"]
        assert social["platform"] == "x" and isinstance(social["account_id"], int)
        assert social["platform_user_id"].isdigit() and len(social["peer_user_ids"]) == 2
        assert set(demo["smpp"]) == {"host", "port", "system_id", "password"}
        assert set(demo["http"]) == {"base_url", "api_key", "api_secret"}
        assert not demo["http"]["base_url"].endswith(":0") and demo["smpp"]["port"] != 0
        http = demo["http"]
        async with httpx.AsyncClient(base_url=http["base_url"]) as client:
            r = await client.post(
                "/v1/sms/send",
                json={"to": "+447700900123", "from": "Demo", "body": "hello"},
                headers={"Authorization": f"Bearer {http['api_key']}:{http['api_secret']}"},
            )
            assert r.status_code == 202, r.text
            # the Xquik surface (seed 002): its own key and base URL, credits granted
            xquik = demo["xquik"]
            r = await client.get(xquik["base_url"] + "/account", headers={"x-api-key": xquik["api_key"]})
            assert r.status_code == 200 and r.json()["creditInfo"]["balance"] == "100000", r.text
            # the demo's payments go to its Stripe stand-in: a checkout paid tops the wallet up
            auth = {"Authorization": f"Bearer {http['api_key']}:{http['api_secret']}"}
            before = (await client.get("/v1/billing/balance", headers=auth)).json()["data"]["balance"]
            checkout = await client.post("/v1/billing/checkout", json={"amount": 1500}, headers=auth)
            assert checkout.status_code == 201, checkout.text
            url = checkout.json()["data"]["url"]
            assert url.startswith(demo["stripe"]["base_url"])
            assert (await client.post(url)).json()["webhook_status"] == 200
            after = (await client.get("/v1/billing/balance", headers=auth)).json()["data"]["balance"]
            assert after == before + 1500
            # Sign-up works in the demo too: its verification mail lands in DATA_DIR/mail.
            r = await client.post(
                "/v1/auth/register", json={"email": "demo@example.com", "password": "demo password 1"}
            )
            assert r.status_code == 201, r.text
            r = await client.get("/v1/auth/google/url")
            assert r.status_code == 200 and r.json()["data"]["url"].startswith(demo["google"]["issuer"])
        async with asyncio.timeout(30):  # the engine logs each mail it has handed to the SMTP server
            while b"mail sent" not in (line := await proc.stdout.readline()):
                assert line, "the engine exited before it sent the verification mail"
        async with httpx.AsyncClient(base_url=http["base_url"], headers=auth) as client:
            await whatsapp_in_the_demo(client, demo["whatsapp"])
        mailed = Path(demo["mail"]["directory"]) / "0001.eml"
        assert b"To: demo@example.com" in mailed.read_bytes()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await proc.communicate()
    assert proc.returncode == 0
