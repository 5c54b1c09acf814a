"""`smsengine run --demo`: a simulated carrier in-process, wired as an upstream with routes and rates,
and a demo account with a balance, SMPP credentials and an API key, written to DATA_DIR/demo.json as

    {"smpp": {"host", "port", "system_id", "password"}, "http": {"base_url", "api_key", "api_secret"},
     "stripe": {"base_url"}}      (the local Stripe stand-in payments go to, unless [payments] names one)

Provisioning is idempotent: a restart with the same data directory keeps the account, its balance and
its credentials (read back from demo.json).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import asyncpg

from engine.admin.provision import (
    add_carrier,
    add_funds,
    add_mo_number,
    create_account,
    create_api_key,
    flat_tariff,
    set_prices,
    set_rates,
    set_smpp_credentials,
)
from engine.carriers.link import CarrierConnection
from engine.infra.settings import Settings

DEMO_CARRIER = "demo-carrier"
DEMO_ACCOUNT = "demo"
ALL_PREFIXES = [str(d) for d in range(1, 10)]


async def provision_demo(
    pool: asyncpg.Pool, settings: Settings, simulator_port: int, http_port: int
) -> dict[str, Any]:
    path = settings.data_path / "demo.json"
    previous: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    await add_carrier(
        pool,
        CarrierConnection(
            carrier=DEMO_CARRIER, host="127.0.0.1", port=simulator_port, system_id="smsengine",
            password="demo", binds=2, window_size=100, throughput=20_000,
        ),
    )  # fmt: skip
    await set_rates(pool, DEMO_CARRIER, flat_tariff(ALL_PREFIXES, 2_500))  # 0.0025 EUR per segment
    account_id = await pool.fetchval("SELECT id FROM accounts WHERE name = $1", DEMO_ACCOUNT)
    if account_id is None:
        account_id = await create_account(pool, DEMO_ACCOUNT)
        await add_funds(pool, account_id, 100_000_000, key="demo-initial-balance")  # 100 EUR
    await set_prices(pool, account_id, flat_tariff(ALL_PREFIXES, 4_000))  # 0.004 EUR per segment
    await add_mo_number(pool, account_id, "447700100100")
    password = previous.get("smpp", {}).get("password") or secrets.token_hex(4)
    await set_smpp_credentials(pool, account_id, "demo", password, throughput=50_000)
    http = previous.get("http", {})
    key, secret = http.get("api_key"), http.get("api_secret")
    if not key or await pool.fetchval("SELECT count(*) FROM api_keys WHERE key = $1", key) == 0:
        key, secret = await create_api_key(pool, account_id, name="demo")
    demo = {
        "smpp": {"host": settings.smpp.host, "port": 0, "system_id": "demo", "password": password},
        "http": {
            "base_url": f"http://{settings.http.host}:{http_port}",
            "api_key": key,
            "api_secret": secret,
        },
    }
    return demo


def write_demo_file(settings: Settings, demo: dict[str, Any]) -> Path:
    path = settings.data_path / "demo.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(demo, indent=2) + "\n")
    path.chmod(0o600)
    return path
