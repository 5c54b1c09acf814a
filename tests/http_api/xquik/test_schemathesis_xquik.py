"""schemathesis over the Xquik surface (seed 002) with a real `xq_` key, credits and a connected X
account (the X simulator): every /xquik operation of /openapi.json, with data drawn from its schemas,
answered as documented (statuses, content types, bodies matching their schemas). The main run
(tests/http_api/test_schemathesis.py) carries seed 001's credentials, which this surface refuses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from engine.social.simulation.x_api_monitoring import app_bearer
from tests.http_api.test_schemathesis import run_schemathesis
from tests.http_api.xquik.conftest import Xq

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest.mark.timeout(1500)
async def test_schemathesis_finds_no_failure_on_the_xquik_surface(xq: Xq, tmp_path: Path) -> None:
    await xq.grant(10_000_000)  # metered operations run instead of answering 402
    await xq.pool.execute(  # a subscriber: trends answer instead of 402 subscription_inactive
        "UPDATE xquik_accounts SET plan = 'active' WHERE account_id = $1", xq.account_id
    )
    monitors = xq.engine.xquik_monitors
    assert monitors is not None  # a configured deployment: monitors and trends read X with the app's token
    monitors.source.bearer = app_bearer(xq.sim.world)
    webhooks = xq.engine.webhooks
    assert webhooks is not None  # fuzzed webhook URLs are never contacted: every delivery answered here
    webhooks._http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    await run_schemathesis(xq.base_url, {"x-api-key": xq.key}, tmp_path, "^/xquik/")
