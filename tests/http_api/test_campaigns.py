"""Campaigns over real HTTP against a running engine: recipients, the state machine, pause/resume, the
send-rate cap, cancel, scheduling, opt-outs and account isolation. Waits are on counts, never on time."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.core.parts import decode_parts
from engine.infra.settings import HttpSettings
from tests.http_api.conftest import Api
from tests.http_api.test_contacts import eventually, extended

CSV = {"Content-Type": "text/csv"}


@pytest.fixture
async def capi(
    api: Api, redis_url: str, redis_prefix: str, http_settings: HttpSettings
) -> AsyncIterator[Api]:
    # Trusted to skip approval: these tests are about sending (test_campaign_approval.py is about approval).
    await api.stack.pool.execute(
        "UPDATE accounts SET campaigns_trusted = true WHERE id = $1", api.stack.account_id
    )
    async with extended(api, redis_url, redis_prefix, http_settings) as served:
        yield served


async def create(api: Api, body: str = "Hi {{name}}", rate: float = 100.0, **extra: Any) -> int:
    payload = {"name": "spring", "from": "Acme", "body": body, "send_rate": rate, **extra}
    r = await api.client.post("/v1/campaigns", json=payload, headers=api.headers())
    assert r.status_code == 201, r.text
    assert r.json()["data"]["state"] == "draft"
    return int(r.json()["data"]["id"])


async def add(api: Api, campaign: int, recipients: Any) -> dict[str, Any]:
    r = await api.client.post(f"/v1/campaigns/{campaign}/recipients", json=recipients, headers=api.headers())
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()["data"]
    return result


async def act(api: Api, campaign: int, action: str, expect: int = 200, **body: Any) -> dict[str, Any]:
    r = await api.client.post(f"/v1/campaigns/{campaign}/{action}", json=body or None, headers=api.headers())
    assert r.status_code == expect, r.text
    result: dict[str, Any] = r.json()["data"] if r.status_code < 300 else r.json()
    return result


async def get(api: Api, campaign: int) -> dict[str, Any]:
    r = await api.client.get(f"/v1/campaigns/{campaign}", headers=api.headers())
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()["data"]
    return result


async def wait_state(api: Api, campaign: int, state: str) -> dict[str, Any]:
    async def reached() -> bool:
        return (await get(api, campaign))["state"] == state

    await eventually(reached)
    return await get(api, campaign)


def numbers(n: int, base: int = 900_000) -> list[dict[str, Any]]:
    return [{"to": f"+447700{base + i:06d}", "variables": {"name": f"n{i}"}} for i in range(n)]


async def messages_of(api: Api, campaign: int) -> int:
    return int(
        await api.stack.pool.fetchval("SELECT count(*) FROM messages WHERE campaign_id = $1", campaign)
    )


def adds_up(p: dict[str, int]) -> bool:
    parts = ("pending", "queued", "sent", "delivered", "failed", "cancelled")
    return sum(p[k] for k in parts) == p["total"]


async def test_json_and_group_recipients_are_validated_deduplicated_and_all_sent(capi: Api) -> None:
    h = capi.headers()
    campaign = await create(capi, body="Hi {{name}}, code {{code}}")
    result = await add(capi, campaign, [
        {"to": "+447700900601", "variables": {"name": "Ann", "code": 1}},
        {"to": "12", "variables": {"name": "Bad", "code": 2}},
        {"to": "+447700900603", "variables": {"name": "NoCode"}},
        {"to": "447700900601", "variables": {"name": "Ann twice", "code": 1}},
    ])  # fmt: skip
    assert (result["added"], result["duplicates"], result["total"]) == (1, 1, 1)
    assert [(x["index"], x["code"]) for x in result["rejected"]] == [
        (1, "INVALID_PHONE_NUMBER"),
        (2, "VALIDATION_ERROR"),
    ]
    group = (await capi.client.post("/v1/contacts/groups", json={"name": "vip"}, headers=h)).json()["data"][
        "id"
    ]
    csv = "phone,name,email,code\n+447700900611,Bob,,7\n+447700900612,Cy,,\n+447700900601,Ann,,9\n"
    await capi.client.post(
        f"/v1/contacts/import?group_id={group}", content=csv.encode(), headers=capi.headers(**CSV)
    )
    result = await add(capi, campaign, {"group_ids": [group]})
    assert (result["added"], result["duplicates"], result["total"]) == (1, 1, 2)
    assert [x["to"] for x in result["rejected"]] == ["+447700900612"]  # Cy has no code
    csv_body = b"to,name,code\n+447700900621,Di,5\n1,x,y\n"
    r = await capi.client.post(
        f"/v1/campaigns/{campaign}/recipients", content=csv_body, headers=capi.headers(**CSV)
    )
    added = r.json()["data"]
    assert r.status_code == 200 and added["added"] == 1 and [x["index"] for x in added["rejected"]] == [3]
    assert (await act(capi, campaign, "submit"))["state"] in ("approved", "sending", "completed")
    done = await wait_state(capi, campaign, "completed")
    assert done["progress"] == {"total": 3, "pending": 0, "queued": 0, "sent": 0, "delivered": 3, "failed": 0,
                                "cancelled": 0}  # fmt: skip
    texts = await capi.stack.pool.fetch(
        "SELECT destination, parts FROM messages WHERE campaign_id = $1 ORDER BY destination", campaign
    )
    assert [(r["destination"], decode_parts(r["parts"])[0].short_message) for r in texts] == [
        ("447700900601", b"Hi Ann, code 1"),
        ("447700900611", b"Hi Bob, code 7"),
        ("447700900621", b"Hi Di, code 5"),
    ]
    listed = (await capi.client.get("/v1/campaigns", headers=h)).json()["data"]
    assert [c["id"] for c in listed] == [str(campaign)]


async def test_invalid_transitions_are_409_with_the_current_state(capi: Api) -> None:
    campaign = await create(capi)
    for action in ("pause", "resume"):
        assert (await act(capi, campaign, action, 409))["error"]["details"]["state"] == "draft"
    assert (await act(capi, campaign, "submit", 409))["error"]["message"] == "the campaign has no recipients"
    far = (datetime.now(UTC) + timedelta(days=90)).isoformat()  # campaigns may be planned far ahead
    assert (await act(capi, campaign, "schedule", schedule_at=far))["schedule_at"] is not None
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert (await act(capi, campaign, "schedule", schedule_at=past))[
        "state"
    ] == "draft"  # starts once approved
    await add(capi, campaign, numbers(1))
    await act(capi, campaign, "submit")
    done = await wait_state(capi, campaign, "completed")
    assert done["finished_at"] is not None and done["started_at"] is not None
    for action in ("submit", "pause", "resume", "cancel"):
        assert (await act(capi, campaign, action, 409))["error"]["details"]["state"] == "completed", action
    r = await capi.client.post(
        f"/v1/campaigns/{campaign}/recipients", json=numbers(1, 1), headers=capi.headers()
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"


async def test_pause_stops_releases_and_resume_finishes_with_exact_counts(capi: Api) -> None:
    campaign = await create(capi, rate=10.0)
    await add(capi, campaign, numbers(30))
    await act(capi, campaign, "submit")

    async def some_released() -> bool:
        return await messages_of(capi, campaign) >= 5

    await eventually(some_released)
    paused = await act(capi, campaign, "pause")
    assert paused["state"] == "paused"
    released = await messages_of(capi, campaign)
    assert 5 <= released < 30 and adds_up(paused["progress"])

    async def in_flight_finished() -> bool:
        p = (await get(capi, campaign))["progress"]
        return p["queued"] == 0 and p["sent"] == 0

    await eventually(in_flight_finished)
    runner = capi.stack.engine.campaigns
    assert runner is not None
    for _ in range(3):  # the runner's own passes, run here: a paused campaign releases nothing
        await runner.step()
    p = (await get(capi, campaign))["progress"]
    assert await messages_of(capi, campaign) == released
    assert (p["delivered"], p["pending"], p["total"]) == (released, 30 - released, 30) and adds_up(p)
    await act(capi, campaign, "resume")
    done = await wait_state(capi, campaign, "completed")
    assert done["progress"]["delivered"] == 30 and done["progress"]["pending"] == 0
    distinct = await capi.stack.pool.fetchval(
        "SELECT count(DISTINCT destination) FROM messages WHERE campaign_id = $1", campaign
    )
    assert await messages_of(capi, campaign) == 30 == distinct


async def test_send_rate_caps_the_stored_accept_times(capi: Api) -> None:
    rate, count = 20.0, 40
    campaign = await create(capi, rate=rate)
    await add(capi, campaign, numbers(count))
    await act(capi, campaign, "submit")
    await wait_state(capi, campaign, "completed")
    stamps = [
        r["created_at"].timestamp()
        for r in await capi.stack.pool.fetch(
            "SELECT created_at FROM messages WHERE campaign_id = $1 ORDER BY created_at", campaign
        )
    ]
    assert len(stamps) == count
    # (count - 1) gaps of 1/rate each, less a little for the commit latency that shifts single stamps
    assert stamps[-1] - stamps[0] >= (count - 1) / rate * 0.85
    for i, start in enumerate(stamps):  # no second holds more than rate messages (+1 burst, +1 jitter)
        assert sum(1 for t in stamps[i:] if t < start + 1.0) <= rate + 2


async def test_cancel_keeps_what_was_released_and_never_sends_the_rest(capi: Api) -> None:
    campaign = await create(capi, rate=5.0)
    await add(capi, campaign, numbers(20))
    await act(capi, campaign, "submit")

    async def two_released() -> bool:
        return await messages_of(capi, campaign) >= 2

    await eventually(two_released)
    cancelled = await act(capi, campaign, "cancel")
    released = await messages_of(capi, campaign)
    assert cancelled["state"] == "cancelled" and cancelled["progress"]["cancelled"] == 20 - released
    runner = capi.stack.engine.campaigns
    assert runner is not None
    await runner.step()

    async def settled() -> bool:
        return (await get(capi, campaign))["progress"]["delivered"] == released

    await eventually(settled)
    p = (await get(capi, campaign))["progress"]
    assert await messages_of(capi, campaign) == released and adds_up(p) and p["pending"] == 0
    assert (await act(capi, campaign, "resume", 409))["error"]["details"]["state"] == "cancelled"


async def test_a_scheduled_campaign_starts_at_its_time(capi: Api) -> None:
    campaign = await create(capi)
    await add(capi, campaign, numbers(3))
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    scheduled = await act(capi, campaign, "schedule", schedule_at=at.isoformat())
    assert scheduled["state"] == "draft" and scheduled["schedule_at"] is not None
    approved = await act(capi, campaign, "submit")  # trusted: approved, waiting for its time
    assert approved["state"] == "approved"
    assert (await act(capi, campaign, "pause", 409))["error"]["details"]["state"] == "approved"
    assert await messages_of(capi, campaign) == 0
    await wait_state(capi, campaign, "completed")
    first = await capi.stack.pool.fetchval(
        "SELECT min(created_at) FROM messages WHERE campaign_id = $1", campaign
    )
    assert first >= at


async def test_opted_out_recipients_fail_and_a_campaign_with_none_sendable_fails(capi: Api) -> None:
    h = capi.headers()
    # A webhook subscribed to the campaign events: each final state is stored in the outbox.
    await capi.stack.pool.execute(
        "INSERT INTO webhooks (account_id, url, events, secret) VALUES ($1, 'http://127.0.0.1:9/hook', "
        "'{campaign.completed,campaign.failed}', 'whsec_test')",
        capi.stack.account_id,
    )
    assert capi.stack.engine.webhooks is not None
    capi.stack.engine.webhooks.directory.add(capi.stack.account_id)
    await capi.client.post("/v1/contacts/opt-outs", json={"number": "+447700900701"}, headers=h)
    capi.stack.sim.inject_mo("447700900702", capi.stack.mo_number, "STOP")

    async def stop_stored() -> bool:
        return len((await capi.client.get("/v1/contacts/opt-outs", headers=h)).json()["data"]) == 2

    await eventually(stop_stored)
    campaign = await create(capi, body="Sale")
    await add(capi, campaign, [{"to": f"+44770090070{i}"} for i in (1, 2, 3)])
    await act(capi, campaign, "submit")
    done = await wait_state(capi, campaign, "completed")
    assert (done["progress"]["delivered"], done["progress"]["failed"]) == (1, 2)
    codes = await capi.stack.pool.fetch(
        "SELECT destination, code FROM campaign_recipients WHERE campaign_id = $1 ORDER BY seq", campaign
    )
    assert [r["code"] for r in codes] == ["OPT_OUT", "OPT_OUT", ""]
    hopeless = await create(capi, body="Sale")
    await add(capi, hopeless, [{"to": "+447700900701"}])
    await act(capi, hopeless, "submit")
    failed = await wait_state(capi, hopeless, "failed")
    assert failed["reason"] and failed["progress"]["failed"] == 1
    events = await capi.stack.pool.fetch("SELECT event, data FROM webhook_deliveries ORDER BY id")
    assert [(e["event"], json.loads(e["data"])["campaign_id"]) for e in events] == [
        ("campaign.completed", campaign),
        ("campaign.failed", hopeless),
    ]
    assert json.loads(events[0]["data"])["delivered"] == 1


async def test_another_accounts_campaign_is_404_everywhere(capi: Api) -> None:
    campaign = await create(capi)
    theirs = capi.other()
    r = await capi.client.get(f"/v1/campaigns/{campaign}", headers=theirs)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = await capi.client.post(f"/v1/campaigns/{campaign}/recipients", json=numbers(1), headers=theirs)
    assert r.status_code == 404
    for action in ("submit", "pause", "resume", "cancel"):
        assert (
            await capi.client.post(f"/v1/campaigns/{campaign}/{action}", headers=theirs)
        ).status_code == 404
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await capi.client.post(f"/v1/campaigns/{campaign}/schedule", json={"schedule_at": at}, headers=theirs)
    assert r.status_code == 404
    assert (await capi.client.get("/v1/campaigns", headers=theirs)).json()["data"] == []
    # Their groups cannot feed my campaign either.
    group = (await capi.client.post("/v1/contacts/groups", json={"name": "g"}, headers=theirs)).json()[
        "data"
    ]["id"]
    r = await capi.client.post(f"/v1/campaigns/{campaign}/recipients", json={"group_ids": [group]},
                               headers=capi.headers())  # fmt: skip
    assert r.status_code == 404
    assert (await get(capi, campaign))["state"] == "draft"
    reader = await capi.new_key(permissions=["campaigns.read"])
    assert (await capi.client.get(f"/v1/campaigns/{campaign}", headers=reader)).status_code == 200
    assert (await capi.client.post(f"/v1/campaigns/{campaign}/cancel", headers=reader)).status_code == 403
