"""schemathesis over the social-api surface (seed 004) with a real `sapi_key_` token, a connected X
account (the X simulator) and a connected WhatsApp number (Meta's Cloud API simulator), Stripe's stand-in
for billing: every operation of /openapi.json whose dialect is seed 004's, with data drawn from its
schemas, answered as documented (statuses, content types, bodies matching their schemas). The main run
(tests/http_api/test_schemathesis.py) carries seed 001's credentials and no social layer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from engine.simulation.meta_cloud import MetaCloudSimulator
from engine.simulation.stripe_standin import StripeStandIn
from engine.social.simulation.connect import connect_x_account
from engine.social.simulation.x_api import XSimulator
from engine.whatsapp.service import connect_number
from http_api.auth import single_token
from http_api.social_api.common import DIALECT
from tests.engine.harness import StackOptions
from tests.engine.social.jobs_harness import social_settings, x_world
from tests.http_api.conftest import Api
from tests.http_api.test_document_rows import standin
from tests.http_api.test_schemathesis import HERE, paths_of, run_schemathesis

__all__ = ["standin"]

pytestmark = pytest.mark.slow


@pytest.fixture
async def sim() -> AsyncIterator[XSimulator]:
    async with XSimulator() as simulator:
        x_world(simulator)
        yield simulator


@pytest.fixture
async def meta() -> AsyncIterator[MetaCloudSimulator]:
    async with MetaCloudSimulator() as simulator:
        yield simulator


@pytest.fixture
def stack_options(sim: XSimulator, meta: MetaCloudSimulator, standin: StripeStandIn) -> StackOptions:
    w = meta.world
    return StackOptions(settings={
        "social": social_settings(sim, poll_interval_seconds=0),
        "whatsapp": {"api_base": meta.base_url, "access_token": w.access_token, "app_secret": w.app_secret,
                     "verify_token": w.verify_token},
        "payments": {"stripe_api_key": standin.api_key, "stripe_api_base": standin.base_url,
                     "stripe_webhook_secret": standin.webhook_secret},
    })  # fmt: skip


@pytest.mark.timeout(600)
async def test_schemathesis_finds_no_failure_on_the_social_api_surface(
    api: Api, sim: XSimulator, meta: MetaCloudSimulator, tmp_path: Path
) -> None:
    social = api.stack.engine.social
    assert social is not None
    record = await connect_x_account(social, api.stack.account_id, sim, username="demo")
    w = meta.world
    await connect_number(
        api.stack.pool, api.stack.account_id, waba_id=w.waba_id, phone_number_id=w.phone_number_id,
        display_phone_number=w.display_phone_number, verified_name=w.verified_name,
    )  # fmt: skip
    w.webhook_url = f"{api.base_url}/v1/whatsapp/webhook"
    webhooks = api.stack.engine.webhooks
    assert webhooks is not None  # fuzzed webhook URLs are never contacted: every delivery answered here
    webhooks._http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    headers = {"Authorization": "Bearer " + single_token(api.key, api.secret)}
    # the workspace's own Twitter app (BYOK), the one X knows: credentials/test answers instead of 412
    sim.world.register_app("workspace-app", "workspace-secret")
    app = {"client_id": "workspace-app", "client_secret": "workspace-secret"}
    r = await api.client.put("/v1/platforms/twitter/credentials", json=app, headers=headers)
    assert r.status_code == 200, r.text
    # the connected account's reads and its export, with its id (not its pages: 501 for X by design), so
    # they answer as for a real account rather than 404 to every drawn id; its disconnect is not fuzzed
    # (the stateful phase reaches its id through GET /v1/accounts and would leave every account-bound
    # operation 404 for the rest of the run; tests/http_api/test_social_api.py walks it)
    own = f"""
[[operations]]
include-path = ["/v1/accounts/{{id}}/limits", "/v1/accounts/{{id}}/mentions",
                "/v1/accounts/{{id}}/creator-info", "/v1/accounts/{{id}}/export"]
parameters = {{ id = "{record.account.id}" }}

[[operations]]
include-path = "/v1/accounts/{{id}}"
include-method = "DELETE"
enabled = false
"""
    config = tmp_path / "schemathesis.toml"
    config.write_text((HERE / "schemathesis.toml").read_text() + "\n" + own)
    await run_schemathesis(api.base_url, headers, tmp_path, paths_of(DIALECT), config=config)
