"""/healthz, /readyz and /metrics on a running engine, read by an independent parser (prometheus_client's)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from http_api.app import create_app
from tests.conftest import with_database
from tests.http_api.conftest import Api, sms

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in found.get(name, []) if all(got.get(k) == w for k, w in labels.items()))


async def test_metrics_count_what_happened(api: Api) -> None:
    stack = api.stack
    sent = await api.client.post("/v1/sms/send", json=sms(), headers=api.headers())
    assert sent.status_code == 202
    async with asyncio.timeout(30):
        await stack.sim.wait_receipts_acked(1)  # acknowledged after the commit that made it final
    r = await api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    found = samples(r.text)
    account = str(stack.account_id)
    assert value(found, "smsengine_messages_accepted_total", account=account, carrier="sim") >= 1
    assert value(found, "smsengine_messages_final_total", account=account, status="delivered") >= 1
    assert value(found, "smsengine_carrier_submits_total", carrier="sim", outcome="ok") >= 1
    assert value(found, "smsengine_submit_sm_resp_seconds_count", carrier="sim") >= 1
    assert value(found, "smsengine_receipt_latency_seconds_count") >= 1
    assert value(found, "smsengine_group_commit_batch_size_count", committer="accept") >= 1
    lifecycle = [v for labels, v in found["smsengine_group_commit_seconds_count"]
                 if labels["committer"].startswith("lifecycle") and labels["result"] == "ok"]  # fmt: skip
    assert sum(lifecycle) >= 1
    assert value(found, "smsengine_http_requests_total", route="/v1/sms/send", status="202") >= 1
    assert value(found, "smsengine_carrier_binds", carrier="sim", state="bound") == 1
    assert value(found, "smsengine_db_pool_connections", state="max") == 8
    assert "smsengine_queue_depth" in found and "smsengine_webhook_deliveries_total" in found
    assert value(found, "smsengine_receipts_received_total") >= 1


async def test_healthz_lives_and_readyz_follows_database_redis_and_carrier_binds(
    api: Api, database_url: str, redis_prefix: str
) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["carriers"]["bound"] == {"sim": 1}
    # the database refuses every new connection and drops the pool's: not ready, then ready again
    name = urlsplit(database_url).path.lstrip("/")  # TCP and unix-socket URLs alike
    admin = with_database(database_url, "postgres")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        down = await api.client.get("/readyz")
        assert down.status_code == 503 and down.json()["checks"]["database"]["ok"] is False
        assert down.json()["status"] == "not ready"
    finally:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await conn.close()
    async with asyncio.timeout(30):
        # the pool reconnects on its next use and the link sees its bind go: only a probe tells
        while (await api.client.get("/readyz")).status_code != 200:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    # no carrier bind: not ready
    await api.stack.sim.stop()
    async with asyncio.timeout(30):
        while (r := await api.client.get("/readyz")).status_code != 503:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert r.json()["checks"]["carriers"]["ok"] is False and r.json()["checks"]["database"]["ok"] is True
    # a Redis that does not answer: not ready
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    app = create_app(api.stack.engine, dead, prefix=redis_prefix)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://engine") as client:
        r = await client.get("/readyz")
    await dead.aclose()
    assert r.status_code == 503 and r.json()["checks"]["redis"]["ok"] is False


async def test_the_dockerfile_healthcheck_command_passes_against_a_live_engine(api: Api) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    line = next((line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK ")), None)
    assert line is not None, "the Dockerfile has a HEALTHCHECK"
    argv = json.loads(line.split(" CMD ", 1)[1])
    assert argv[:2] == ["python", "-c"]
    port = api.base_url.rsplit(":", 1)[1]
    script = argv[2]
    ok = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script], env={"SMSENGINE_HTTP_PORT": port}, timeout=30
    )
    assert ok.returncode == 0
    bad = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script], env={"SMSENGINE_HTTP_PORT": "1"}, timeout=30,
        capture_output=True,
    )  # fmt: skip
    assert bad.returncode != 0
