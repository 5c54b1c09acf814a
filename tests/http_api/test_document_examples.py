"""The BulkSMSRates document's own examples, run as written against the engine with only the base URL and
the key and secret changed: its Python example (requests), its Node.js example (fetch, Node 20), and its
`paginate()` loop walking 1,200 messages in pages of 500. Also its sandbox curl example, sent as curl
sends it, under /api/v1."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.http_api.conftest import Api

EXAMPLES = Path(__file__).parent / "examples"
DOCUMENT_BASE = "https://app.bulksmsrates.com/v1"
NODE = shutil.which("node")


def as_customer(name: str, api: Api, tmp_path: Path) -> Path:
    """The example with the customer's own base URL and credentials in it, nothing else changed."""
    text = (EXAMPLES / name).read_text()
    assert DOCUMENT_BASE in text
    text = text.replace(DOCUMENT_BASE, f"{api.base_url}/v1")
    text = text.replace('"bsms_live_..."', json.dumps(api.key)).replace(
        '"sk_live_..."', json.dumps(api.secret)
    )
    path = tmp_path / name
    path.write_text(text)
    return path


async def run(command: list[str], api: Api) -> str:
    env = dict(os.environ, BULKSMS_API_KEY=api.key, BULKSMS_API_SECRET=api.secret)
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_the_python_example_runs_as_written(api: Api, tmp_path: Path) -> None:
    out = (
        await run([sys.executable, str(as_customer("python_example.py", api, tmp_path))], api)
    ).splitlines()
    sent = ast.literal_eval(out[0])  # it print()s a dict: read it back as Python prints it
    assert sent["status"] == "queued" and sent["id"] == sent["messageId"] == sent["data"]["message_id"]
    assert sent["cost_micros"] == 5_000 and sent["segments"] == 1
    assert out[1] == "9999"  # get_balance()["data"]["balance"]: 100.00 EUR less the message, in cents
    stored = await api.stack.pool.fetchval("SELECT source FROM messages")
    assert stored == "MyApp"


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
async def test_the_node_example_runs_as_written(api: Api, tmp_path: Path) -> None:
    assert NODE is not None
    out = (await run([NODE, str(as_customer("node_example.mjs", api, tmp_path))], api)).splitlines()
    message_id = out[0]
    got = await api.client.get(f"/v1/sms/{message_id}", headers=api.headers())
    assert got.status_code == 200 and got.json()["data"]["to"] == "+447700900123"
    assert out[1] == "Balance: £99.99"


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
async def test_the_paginate_loop_walks_1200_messages_in_pages_of_500(api: Api, tmp_path: Path) -> None:
    assert NODE is not None
    sandbox = api.headers(**{"X-Sandbox": "true"})  # nothing reaches the carrier: 1,200 stored messages
    recipients = [{"to": f"+4477009{i:05d}"} for i in range(1_200)]
    r = await api.client.post("/v1/sms/bulk", json={"recipients": recipients, "from": "MyApp", "body": "x"},
                              headers=sandbox)  # fmt: skip
    assert r.status_code == 202 and r.json()["data"]["accepted"] == 1_200
    script = as_customer("paginate.mjs", api, tmp_path)
    lines = (await run([NODE, str(script)], api)).splitlines()
    assert len(lines) == 1_200
    ids = [line.split()[0] for line in lines]
    assert len(set(ids)) == 1_200 and {line.split()[1] for line in lines} == {"delivered"}
    expected = {m["message_id"] for m in r.json()["data"]["messages"]}
    assert set(ids) == expected


async def test_the_sandbox_curl_example_as_curl_sends_it(api: Api) -> None:
    curl = shutil.which("curl")
    body = '{"destination": "+447700900123", "message": "Test — not sent!", "sender_id": "Test"}'
    url = f"{api.base_url}/api/v1/sms/send"
    auth = ["-H", f"X-API-Key: {api.key}", "-H", f"X-API-Secret: {api.secret}", "-H", "X-Sandbox: true"]
    headers = dict(h.split(": ", 1) for h in auth[1::2])
    if curl is not None:
        command = [curl, "-sS", "-X", "POST", url, *auth, "-H", "Content-Type: application/json", "-d", body]
        answer = json.loads(await run(command, api))
    else:  # the same request, from httpx
        answer = (await api.client.post(url, content=body.encode(), headers=headers)).json()
    assert (
        answer["id"].startswith("sandbox-msg-")
        and answer["status"] == "delivered"
        and answer["sandbox"] is True
    )
    assert api.stack.sim.submits == 0  # not sent
    stored = await api.client.get(f"/v1/sms/{answer['id']}", headers=api.headers())
    assert stored.json()["data"]["status"] == "delivered"
    # Reset sandbox state (GET, as documented), then the message is gone
    reset_url = f"{api.base_url}/api/v1/sandbox/reset"
    if curl is not None:
        reset = json.loads(await run([curl, "-sS", reset_url, *auth], api))
    else:
        reset = (
            await api.client.get(reset_url, headers=dict(zip(auth[1::2], auth[1::2], strict=True)))
        ).json()
    assert reset["data"]["reset"] is True and reset["data"]["messages_deleted"] == 1
    assert (await api.client.get(f"/v1/sms/{answer['id']}", headers=api.headers())).status_code == 404
