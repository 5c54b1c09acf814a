"""`smsengine run --demo`: a simulated carrier in-process, wired as an upstream with routes and rates,
and a demo account with a balance, SMPP credentials and an API key, written to DATA_DIR/demo.json as

    {"smpp": {"host", "port", "system_id", "password"}, "http": {"base_url", "api_key", "api_secret"},
     "stripe": {"base_url"}, "mail": {"host", "port", "directory"}, "google": {"issuer", "client_id"},
     "whatsapp": {"api_base", "waba_id", "phone_number_id", "display_phone_number", "customer_message_url"},
     "social": {"platform", "account_id", "platform_user_id", "peer_user_ids", "simulator"},
     "xquik": {"base_url", "api_key"}}

The Xquik surface (seed 002) gets an `xq_` key of the demo account (`x-api-key`, base URL
`.../xquik/api/v1`) and DEMO_CREDITS credits, granted once.

Social platforms stand in too (`x_stand_in`): an X API simulator on loopback with the users demo, alice
and bob, the engine's X settings pointed at it, and the demo account's X account ("demo") connected
through the simulator's OAuth at every start (`connect_demo_x`); `social.account_id` is the connected
account to post and DM from, `peer_user_ids` users to DM. Now and then alice or bob writes to it.

The demo also stands in for the outside world of sign-in (`stand_ins`): mail goes to a local SMTP server
that writes each message to DATA_DIR/mail/NNNN.eml, and "Sign in with Google" to a local OpenID Connect
issuer that signs in its `login_hint` (default grace@example.com) at once. Payments go to a local Stripe
stand-in (engine/simulation/stripe_standin.py, started by `smsengine run --demo`) unless [payments]
names a Stripe key. WhatsApp goes to a local Meta Cloud API simulator (engine/simulation/meta_cloud.py)
unless [whatsapp] names an access token; its business number is connected to the demo account, and
`customer_message_url` has a customer write in (opening the 24-hour window for free-form messages).

Provisioning is idempotent: a restart with the same data directory keeps the account, its balance and
its credentials (read back from demo.json).
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

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
    token_key_id,
)
from engine.app import Engine
from engine.carriers.link import CarrierConnection
from engine.infra.settings import MailSettings, Settings
from engine.simulation.mail_sink import MailSink
from engine.simulation.oidc_issuer import OidcIssuer
from engine.social.simulation.connect import connect_x_account
from engine.social.simulation.x_api import XSimulator
from engine.social.simulation.x_api_monitoring import app_bearer
from engine.whatsapp.service import connect_number
from engine.xquik import credits as xquik_credits
from engine.xquik.keys import create_key as create_xquik_key
from http_api.server import serve_http

DEMO_CARRIER = "demo-carrier"
DEMO_ACCOUNT = "demo"
ALL_PREFIXES = [str(d) for d in range(1, 10)]
DEMO_CREDITS = 100_000


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
    xquik = previous.get("xquik", {}).get("api_key")
    if not xquik or not await pool.fetchval(
        "SELECT count(*) FROM api_keys WHERE key = $1 AND revoked_at IS NULL", token_key_id(xquik)
    ):
        xquik = (await create_xquik_key(pool, account_id, "demo")).full_key
    await xquik_credits.grant(pool, account_id, DEMO_CREDITS, "demo-initial-credits")
    base_url = f"http://{settings.http.host}:{http_port}"
    demo = {
        "smpp": {"host": settings.smpp.host, "port": 0, "system_id": "demo", "password": password},
        "http": {"base_url": base_url, "api_key": key, "api_secret": secret},
        "xquik": {"base_url": base_url + "/xquik/api/v1", "api_key": xquik},
    }
    return demo


async def connect_demo_whatsapp(database_url: str, world: Any) -> None:
    """The simulator's business number, connected to the demo account (after provision_demo made it)."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        account_id = await pool.fetchval("SELECT id FROM accounts WHERE name = $1", DEMO_ACCOUNT)
        if account_id is not None:
            await connect_number(
                pool, account_id, waba_id=world.waba_id, phone_number_id=world.phone_number_id,
                display_phone_number=world.display_phone_number, verified_name=world.verified_name,
            )  # fmt: skip
    finally:
        await pool.close()


def write_demo_file(settings: Settings, demo: dict[str, Any]) -> Path:
    path = settings.data_path / "demo.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(demo, indent=2) + "\n")
    path.chmod(0o600)
    return path


X_DEMO_USERS = (("demo", "Demo Account"), ("alice", "Alice"), ("bob", "Bob"))


@contextlib.asynccontextmanager
async def x_stand_in(settings: Settings) -> AsyncIterator[tuple[Settings, XSimulator]]:
    """The X simulator on loopback, its world holding the demo's users and app, and the settings that
    point the engine's X connector and OAuth client at it (unless [social] names a real X app)."""
    if settings.social.x_client_id:
        raise ValueError("social.x_client_id is set: the demo connects no simulated X account")
    async with XSimulator() as sim:
        for username, name in X_DEMO_USERS:
            sim.world.add_user(username, name=name)
        client_secret = secrets.token_urlsafe(16)
        sim.world.register_app("smsengine-demo", client_secret)
        sim.generate_inbound(2.0, "demo", seed=1)  # now and then a DM, a mention or a comment arrives
        social = msgspec.structs.replace(
            settings.social, x_api_base_url=sim.base_url,
            x_authorize_url=sim.base_url + "/i/oauth2/authorize", x_token_url="",
            x_client_id="smsengine-demo", x_client_secret=client_secret,
        )  # fmt: skip
        # Xquik's monitors and trends read the simulator with an app-only token (engine/xquik/monitors/)
        monitors = settings.monitors
        if not monitors.x_bearer_token:
            monitors = msgspec.structs.replace(monitors, x_bearer_token=app_bearer(sim.world))
        yield msgspec.structs.replace(settings, social=social, monitors=monitors), sim


async def connect_demo_x(engine: Engine, sim: XSimulator) -> dict[str, Any]:
    """Connect the demo account's X account (user "demo" of the simulator) as a user would, through the
    simulator's OAuth; what demo.json says about it."""
    assert engine.social is not None
    account_id = await engine.pool.fetchval("SELECT id FROM accounts WHERE name = $1", DEMO_ACCOUNT)
    record = await connect_x_account(engine.social, account_id, sim, username="demo")
    peers = [sim.world.user_by_name(name) for name, _ in X_DEMO_USERS[1:]]
    return {
        "platform": "x",
        "account_id": record.account.id,
        "platform_user_id": record.account.platform_user_id,
        "peer_user_ids": [peer.id for peer in peers if peer is not None],
        "simulator": sim.base_url,
    }


@contextlib.asynccontextmanager
async def stand_ins(settings: Settings) -> AsyncIterator[tuple[Settings, dict[str, Any]]]:
    """A local SMTP server and OpenID Connect issuer; the settings pointing at them, and what to tell."""
    directory = settings.data_path / "mail"
    issuer = OidcIssuer(client_id="smsengine-demo", client_secret=secrets.token_urlsafe(16))
    async with MailSink(directory=directory) as sink, serve_http(issuer.app, "127.0.0.1", 0) as server:
        issuer.base_url = f"http://127.0.0.1:{server.port}"
        wired = msgspec.structs.replace(
            settings,
            mail=MailSettings(
                host="127.0.0.1", port=sink.port, from_address="smsengine demo <demo@localhost>"
            ),
            oidc=msgspec.structs.replace(
                settings.oidc,
                issuer=issuer.base_url,
                client_id=issuer.client_id,
                client_secret=issuer.client_secret,
            ),
        )
        info = {
            "mail": {"host": "127.0.0.1", "port": sink.port, "directory": str(directory)},
            "google": {"issuer": issuer.base_url, "client_id": issuer.client_id},
        }
        yield wired, info
