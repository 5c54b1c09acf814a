"""The PostEverywhere bulk operations (seed 003) through httpx against the running app and the X simulator:
201 / 207 / 422 with summary and results in order, 400 bulk_limit_exceeded, retry-failed's filters,
400 no_filter, and a retried destination published once (attempts from 0)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.http_api.social_running import SocialApi, social_api


@pytest.fixture
async def api(database_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[SocialApi]:
    async with social_api(database_url, redis_url, redis_prefix) as running:
        yield running


def error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body


def later(hours: int) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


async def final(api: SocialApi, destination_id: str) -> Any:
    return await api.social.jobs.wait(api.social.account_id, int(destination_id, 16))


async def test_bulk_create_201_207_422_and_the_limit(api: SocialApi) -> None:
    c, n = api.client, api.social.social_account_id
    posts = [
        {"content": "Morning post", "account_ids": [n], "scheduled_for": later(1)},
        {"content": "Afternoon post", "account_ids": [n]},
        {"content": "Evening post", "account_ids": [n], "scheduled_for": "2020-08-01T19:00:00Z"},
    ]
    r = await c.post("/api/v1/posts/bulk", json={"posts": posts}, headers=api.auth)  # the document's curl
    assert r.status_code == 207, r.text
    body = r.json()
    assert body["summary"] == {"total": 3, "succeeded": 2, "failed": 1}
    assert [x["index"] for x in body["results"]] == [0, 1, 2]
    assert [x["ok"] for x in body["results"]] == [True, True, False]
    assert body["results"][2]["error"] == {
        "code": "validation_error", "message": "scheduled_for must be in the future"
    }  # fmt: skip
    morning, afternoon = body["results"][0]["post"], body["results"][1]["post"]
    assert morning["post_id"] and morning["status"] == "scheduled" and morning["content"] == "Morning post"
    assert afternoon["destinations"][0]["account_id"] == n and afternoon["destinations"][0]["platform"] == "x"
    assert (await final(api, afternoon["destinations"][0]["destination_id"])).status == "succeeded"
    morning_job = int(morning["destinations"][0]["destination_id"], 16)
    scheduled = await api.social.jobs.get(api.social.account_id, morning_job)
    assert scheduled is not None and scheduled.status == "scheduled"
    # each entry validated on its own: a bad shape, an unknown account, an empty list -> 422 when all fail
    bad = [{"content": "x", "account_ids": [999999]}, {"content": "", "account_ids": [n]}, "not an object",
           {"content": "y" * 281, "account_ids": [n]}, {"account_ids": [n]}]  # fmt: skip
    r = await c.post("/v1/posts/bulk", json={"posts": bad}, headers=api.auth)
    assert r.status_code == 422, r.text
    assert r.json()["summary"] == {"total": 5, "succeeded": 0, "failed": 5}
    assert all(x["error"]["code"] == "validation_error" for x in r.json()["results"])
    # all succeeded: 201
    r = await c.post(
        "/v1/posts/bulk", json={"posts": [{"content": "one", "account_ids": [n]}]}, headers=api.auth
    )
    assert r.status_code == 201 and r.json()["summary"] == {"total": 1, "succeeded": 1, "failed": 0}
    many = [{"content": f"post {i}", "account_ids": [n]} for i in range(51)]
    error(await c.post("/v1/posts/bulk", json={"posts": many}, headers=api.auth), 400, "bulk_limit_exceeded")
    error(await c.post("/v1/posts/bulk", json={"posts": many}), 401, "unauthorized")


async def test_retry_failed_filters_and_attempts_reset(api: SocialApi) -> None:
    c, n = api.client, api.social.social_account_id
    error(await c.post("/v1/posts/retry-failed", json={}, headers=api.auth), 400, "no_filter")
    api.sim.faults.fail_next(1, status=403, path_prefix="/2/tweets")  # refused for good: the job fails
    r = await c.post(
        "/v1/posts/bulk", json={"posts": [{"content": "outage", "account_ids": [n]}]}, headers=api.auth
    )
    post = r.json()["results"][0]["post"]
    failed = await final(api, post["destinations"][0]["destination_id"])
    assert failed.status == "failed" and failed.attempts >= 1
    outage_start = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    # filters that match nothing
    nothing = [
        {"platform": "tiktok"}, {"account_id": n + 1000}, {"failed_before": "2020-01-01T00:00:00Z"},
        {"max_attempts": failed.attempts}, {"post_ids": ["00000000-0000-0000-0000-000000000000"]},
    ]  # fmt: skip
    for none in nothing:
        r = await c.post("/api/v1/posts/retry-failed", json=none, headers=api.auth)
        assert r.status_code == 200 and r.json()["retried_count"] == 0, (none, r.text)
    filters = {"failed_after": outage_start, "platform": "x", "post_ids": [post["post_id"]]}
    r = await c.post("/api/v1/posts/retry-failed", json=filters, headers=api.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["retried_count"] == 1 and body["message"] == "1 destination queued for retry."
    [d] = body["destinations"]
    assert d["post_id"] == post["post_id"] and d["platform"] == "x" and d["new_status"] == "queued"
    assert d["destination_id"] == post["destinations"][0]["destination_id"]
    retried = await final(api, d["retry_destination_id"])
    assert retried.status == "succeeded" and retried.attempts == 1 and retried.error == ""
    assert [p.text for p in api.sim.world.posts.values()].count("outage") == 1
    # retried once: the same filters find nothing more to retry
    r = await c.post("/v1/posts/retry-failed", json={"platform": "x"}, headers=api.auth)
    assert r.json()["retried_count"] == 0
