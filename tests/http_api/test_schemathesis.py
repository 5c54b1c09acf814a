"""schemathesis, an independent implementation of OpenAPI, runs `--checks all` against /openapi.json
with a demo key: every operation the document lists, with data drawn from its schemas (valid and invalid),
answered as the document says (status codes, content types, bodies matching their schemas, 405s with
Allow, nothing a valid request is refused for, nothing an invalid one is accepted for)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from engine.simulation.mail_sink import MailSink
from engine.simulation.meta_cloud import MetaCloudSimulator
from engine.simulation.oidc_issuer import OidcIssuer
from engine.simulation.stripe_standin import StripeStandIn
from engine.whatsapp.service import connect_number
from http_api.app import ROUTE_MODULES, operations_of
from http_api.operations import Dialect
from http_api.social_api import common as social_api
from tests.engine.harness import StackOptions
from tests.http_api.auth.conftest import auth_settings, issuer, mail
from tests.http_api.conftest import Api
from tests.http_api.test_document_rows import standin

# The stand-ins of a configured deployment (Stripe, SMTP, Google's OpenID issuer, Meta's Cloud API), as
# fixtures: checkout, mail, Google sign-in and WhatsApp answer as they do in production, not 503.
__all__ = ["issuer", "mail", "standin"]

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow  # the longest test of the suite: scheduled first (tests/conftest.py)


@pytest.fixture
async def meta() -> AsyncIterator[MetaCloudSimulator]:
    async with MetaCloudSimulator() as sim:
        yield sim


@pytest.fixture
def stack_options(
    standin: StripeStandIn, tmp_path: Path, mail: MailSink, issuer: OidcIssuer, meta: MetaCloudSimulator
) -> StackOptions:
    payments = {"stripe_api_key": standin.api_key, "stripe_api_base": standin.base_url,
                "stripe_webhook_secret": standin.webhook_secret}  # fmt: skip
    w = meta.world
    whatsapp = {"api_base": meta.base_url, "access_token": w.access_token, "app_secret": w.app_secret,
                "verify_token": w.verify_token}  # fmt: skip
    settings = {**auth_settings(tmp_path, mail, issuer), "payments": payments, "whatsapp": whatsapp}
    return StackOptions(settings=settings)


@pytest.mark.timeout(1500)  # a few thousand requests: two minutes on the development machine
async def test_schemathesis_finds_no_failure(api: Api, tmp_path: Path, meta: MetaCloudSimulator) -> None:
    w = meta.world
    await connect_number(
        api.stack.pool, api.stack.account_id, waba_id=w.waba_id, phone_number_id=w.phone_number_id,
        display_phone_number=w.display_phone_number,
    )  # fmt: skip
    meta.world.webhook_url = f"{api.base_url}/v1/whatsapp/webhook"
    webhooks = api.stack.engine.webhooks
    assert webhooks is not None  # fuzzed webhook URLs are never contacted: every delivery answered here
    webhooks._http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    headers = {"X-API-Key": api.key, "X-API-Secret": api.secret}
    # the Xquik surface takes its own keys: tests/http_api/xquik/test_schemathesis_xquik.py runs it;
    # social-api's operations declare its sapi_key_ token: tests/http_api/test_schemathesis_social_api.py
    only = os.environ.get("SMSTEST_SCHEMATHESIS_PATHS")
    exclude = "^/xquik/|" + paths_of(social_api.DIALECT)
    await run_schemathesis(api.base_url, headers, tmp_path, only, exclude=None if only else exclude)


def paths_of(dialect: Dialect) -> str:
    """The paths of the operations whose dialect is this one, as one regex."""
    paths = sorted({op.path for op in operations_of(ROUTE_MODULES) if op.dialect is dialect})
    assert paths
    return "^(" + "|".join(re.escape(p) for p in paths) + ")$"


async def run_schemathesis(
    base_url: str,
    headers: dict[str, str],
    report_dir: Path,
    paths: str | None = None,
    exclude: str | None = None,
    config: Path = HERE / "schemathesis.toml",
) -> None:
    """schemathesis over the app's /openapi.json with these credentials; `paths` / `exclude`: regexes of
    the paths to run over / to leave out; `config`: its configuration (a run's own: the shared one and
    that run's test data). Fails with its report when it finds anything."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
        "run", f"{base_url}/openapi.json", "--url", base_url, "--checks", "all",
        *[arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")],
        "--max-examples", os.environ.get("SMSTEST_SCHEMATHESIS_EXAMPLES", "10"), "--workers", "1",
        "--generation-database", "none", "--seed", os.environ.get("SMSTEST_SCHEMATHESIS_SEED", "1"),
        "--no-color", "--request-timeout", "30",
        "--report", "junit", "--report-dir", str(report_dir),
    ]  # fmt: skip
    if paths:
        command += ["--include-path-regex", paths]
    if exclude:
        command += ["--exclude-path-regex", exclude]
    done = await asyncio.to_thread(
        subprocess.run, command, env=dict(os.environ), capture_output=True, text=True, timeout=1500,
        cwd=HERE.parents[1],
    )  # fmt: skip
    if artifacts := os.environ.get("SMSTEST_ARTIFACTS"):  # the whole report, to read at leisure
        name = "schemathesis.txt" if paths is None else f"schemathesis-{abs(hash(paths))}.txt"
        await asyncio.to_thread(Path(artifacts, name).write_text, done.stdout + done.stderr)
    tail = done.stdout[-20_000:]
    assert done.returncode == 0, tail + done.stderr[-5_000:]
    assert "No issues found" in done.stdout or " passed" in done.stdout, tail
