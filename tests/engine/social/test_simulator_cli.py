"""`smsengine simulate-x` and `smsengine simulate-bluesky` as a user runs them (the README's commands,
on a free port): they print where they listen, answer as the platforms do, and stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SMSENGINE = str(Path(sys.executable).with_name("smsengine"))


@pytest.fixture
def run() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def start(run: list[subprocess.Popen[str]], *args: str) -> dict[str, object]:
    process = subprocess.Popen([SMSENGINE, *args], stdout=subprocess.PIPE, text=True, env={**os.environ})
    run.append(process)
    assert process.stdout is not None
    return dict(json.loads(process.stdout.readline()))


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=10)


def test_simulate_x_serves_the_x_api_and_its_oauth(run: list[subprocess.Popen[str]]) -> None:
    ready = start(run, "simulate-x", "--port", "0", "--user", "demo", "--user", "alice",
                  "--authorize-as", "demo", "--client-id", "my-app", "--client-secret", "my-secret",
                  "--inbound-per-minute", "6", "--latency-ms", "20-80", "--error-rate", "0.01")  # fmt: skip
    base = str(ready["base_url"])
    assert set(ready["users"]) == {"demo", "alice"}  # type: ignore[arg-type]
    with httpx.Client(base_url=base) as client:
        unauthorized = client.get("/2/users/me")
        assert unauthorized.status_code == 401 and unauthorized.json()["title"] == "Unauthorized"
        approve = client.get("/i/oauth2/authorize", params={
            "response_type": "code", "client_id": "my-app", "redirect_uri": "https://cb.example/",
            "scope": "tweet.read users.read", "state": "s1", "code_challenge": "x" * 43,
            "code_challenge_method": "S256"})  # fmt: skip
        assert approve.status_code == 302 and "state=s1" in approve.headers["location"]
    assert stop(run[0]) == 0


def test_simulate_bluesky_serves_xrpc_sessions(run: list[subprocess.Popen[str]]) -> None:
    ready = start(run, "simulate-bluesky", "--port", "0", "--account", "demo.bsky.social:app-password",
                  "--account", "alice.bsky.social", "--inbound-per-minute", "6")  # fmt: skip
    with httpx.Client(base_url=str(ready["base_url"])) as client:
        login = {"identifier": "demo.bsky.social", "password": "app-password"}
        session = client.post("/xrpc/com.atproto.server.createSession", json=login)
        users: dict[str, str] = ready["users"]  # type: ignore[assignment]
        assert session.status_code == 200 and session.json()["did"] == users["demo.bsky.social"]
        refused = client.post("/xrpc/com.atproto.server.createSession",
                              json={"identifier": "demo.bsky.social", "password": "wrong"})  # fmt: skip
        assert refused.status_code == 401 and refused.json()["error"] == "AuthenticationRequired"
    assert stop(run[0]) == 0
