"""schemathesis over the BulkAPIs surface (seed 000) with a real `bulk_ak_` key whose membership has API
calls and a Social Accounts pack, and a connected X account (the X simulator): every operation of that
document in /openapi.json, with data drawn from its schemas, answered as documented (statuses, content
types, bodies matching their schemas). The main run (tests/http_api/test_schemathesis.py) carries seed
001's credentials, which this surface refuses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from http_api.app import ROUTE_MODULES, operations_of
from http_api.bulkapis.dialect import DIALECT
from tests.http_api.social_running import SocialApi, social_api
from tests.http_api.test_schemathesis import HERE, run_schemathesis

pytestmark = pytest.mark.slow


@pytest.fixture
async def api(database_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[SocialApi]:
    async with social_api(database_url, redis_url, redis_prefix) as running:
        yield running


def bulkapis_paths() -> str:
    """The paths of this document's operations, exactly (others share /api/v1: PostEverywhere's)."""
    paths = dict.fromkeys(op.path for op in operations_of(ROUTE_MODULES) if op.dialect is DIALECT)
    return "^(" + "|".join(re.escape(path) for path in paths) + ")$"


@pytest.mark.timeout(600)
async def test_schemathesis_finds_no_failure_on_the_bulkapis_surface(api: SocialApi, tmp_path: Path) -> None:
    webhooks = api.social.stack.engine.webhooks
    assert webhooks is not None  # fuzzed webhook URLs are never contacted: every delivery answered here
    webhooks._http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    base_url = str(api.client.base_url).rstrip("/")
    await run_schemathesis(base_url, api.auth, tmp_path, bulkapis_paths(), config=fuzz_config(api, tmp_path))


def fuzz_config(api: SocialApi, tmp_path: Path) -> Path:
    """The shared configuration, and this run's ids drawn most of the time (the rest generated): the
    connected account, its X peer, a post of its and their conversation, so that requests get past
    404 NOT_FOUND to what the handlers do with them."""
    world, me, peer = api.sim.world, api.social.me, api.social.peer_id
    ids = {
        "accounts": ("accountId", api.account_ref),
        "posts": ("postId", world.create_post(me, "fuzzed from here").id),
        "conversations": ("conversationId", world.one_to_one(me, peer)),
        "users": ("recipientUserId", peer),
    }
    lines = [(HERE / "schemathesis.toml").read_text(), ""]
    for name, (_, value) in ids.items():
        lines += [f"[dictionaries.bulkapis_{name}]", f"values = [{value!r}]".replace("'", '"'), ""]
    lines.append("[parameters]")
    for name, (field, _) in ids.items():
        for where in ("path", "query", "body"):
            lines.append(f'"{where}.{field}" = {{ dictionary = "bulkapis_{name}", probability = 0.8 }}')
    # DELETE /api/v1/accounts/{accountId} would disconnect the account for every later request (that row
    # is walked in tests/http_api/test_bulkapis_social.py): it gets ids of its own
    lines += [
        "", "[[operations]]", 'include-path = "/api/v1/accounts/{accountId}"', 'include-method = "DELETE"',
        'parameters = { "path.accountId" = "acc_999999" }',
    ]  # fmt: skip
    config = tmp_path / "schemathesis.toml"
    config.write_text("\n".join(lines) + "\n")
    return config
