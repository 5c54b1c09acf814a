"""Every benchmark the README names runs (on a tiny load) and prints its figures.

Figures are not asserted here (performance lives in benchmarks/ and RESULTS.md); what is asserted is that
each script still works end to end, and what a benchmark run must never show: a receipt lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.infra.services import ServiceUrls

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _services(service_urls: ServiceUrls, monkeypatch: pytest.MonkeyPatch) -> None:
    # the benchmarks use the suite's servers (the embedded ones too, on a machine without its own)
    monkeypatch.setenv("SMSENGINE_DATABASE_URL", service_urls.database_url)
    monkeypatch.setenv("SMSENGINE_REDIS_URL", service_urls.redis_url)


def run(module: str, *args: str, timeout: float = 240) -> str:
    env = dict(os.environ, SMSENGINE_LOG_LEVEL="warning")
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def test_bench_e2e_measures_the_ceiling_the_engine_and_the_demo() -> None:
    out = run("bench_e2e", "--messages", "400", "--binds", "2", "--window", "20", "--demo")
    for phase in ("[ceiling]", "[engine]", "[demo]"):
        assert f"{phase} accepted 400 (0 refused)" in out and f"{phase} " in out
    assert out.count("receipts lost 0") == 3
    assert "ratio engine/ceiling" in out and "ratio demo/engine" in out
    assert "row writes per message" in out and "engine CPU" in out


def test_bench_stages_reports_each_stage() -> None:
    out = run("bench_stages", "--messages", "400", "--batch", "100")
    for stage in ("intake.prepare", "accept", "lifecycle", "receipt deliver_sm", "SMPP codec"):
        assert stage in out
    assert out.count("us/message") >= 6


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("bench_codec", ("--scale", "0.01")),
        ("bench_text", ("--scale", "0.01")),
        ("bench_routing", ("--seconds", "0.2", "--rows", "2000")),
        ("bench_ledger", ("--messages", "2000", "--batch", "500", "--accounts", "5", "--connections", "1")),
        ("bench_session", ("--seconds", "0.3")),
        ("bench_simulator", ("--messages", "500")),
        ("bench_http", ("--singles", "200", "--connections", "4", "--bulk", "1")),
        ("bench_social", ("--seconds", "1.5", "--social-concurrency", "4", "--sms-window", "10")),
    ],
)
def test_the_other_benchmarks_run(module: str, args: tuple[str, ...]) -> None:
    assert run(module, *args).strip()
