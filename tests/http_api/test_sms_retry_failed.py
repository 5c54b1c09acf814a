"""POST /v1/sms/retry-failed (PostEverywhere's retry-failed for SMS, beyond the documents), through httpx
against the running app and the carrier simulator: 400 NO_FILTER, the filters, each failed message
resubmitted once as a new message with the same destination, sender and text, another account untouched."""

from __future__ import annotations

import pytest

from engine.simulation.config import SimulatorConfig
from http_api.routes_sms_retry import text_of
from tests.engine.harness import StackOptions
from tests.http_api.conftest import Api, sms


@pytest.fixture
def stack_options() -> StackOptions:
    return StackOptions(sim=SimulatorConfig(outcomes={"UNDELIV": 100.0}, seed=3))  # every receipt: UNDELIV


async def test_retry_failed_sms(api: Api) -> None:
    c, h = api.client, api.headers()
    r = await c.post("/v1/sms/retry-failed", json={}, headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "NO_FILTER"
    recipients = [
        {"to": "+447700900101", "variables": {"name": "Ann"}},
        {"to": "+447700900102", "variables": {"name": "Bo"}},
    ]
    bulk = {"from": "Acme", "body": "Héllo {{name}} €", "recipients": recipients}
    r = await c.post("/v1/sms/bulk", json=bulk, headers=h)
    assert r.status_code == 202, r.text
    batch_id = r.json()["data"]["batch_id"]
    first = r.json()["data"]["messages"][0]["message_id"]
    assert (await c.post("/v1/sms/send", json=sms(), headers=api.other())).status_code == 202
    await api.stack.sim.wait_receipts_acked(3)
    assert await api.stack.engine.wait_idle(within=30.0)

    for nothing in [{"batch_id": "0f0f"}, {"carrier": "nobody"}, {"failed_before": "2020-01-01T00:00:00Z"},
                    {"max_attempts": 0}]:  # fmt: skip
        r = await c.post("/v1/sms/retry-failed", json=nothing, headers=h)
        assert r.status_code == 200 and r.json()["data"]["retried_count"] == 0, (nothing, r.text)
    r = await c.post("/v1/sms/retry-failed", json={"message_ids": [first]}, headers=h)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert (
        data["retried_count"] == 1
        and data["message"] == "1 message queued for retry."
        and data["errors"] == []
    )
    [one] = data["messages"]
    assert (
        one["message_id"] == first and one["destination"] == "+447700900101" and one["new_status"] == "queued"
    )
    r = await c.post("/v1/sms/retry-failed", json={"batch_id": batch_id, "carrier": "sim"}, headers=h)
    data = r.json()["data"]
    assert data["retried_count"] == 1 and data["messages"][0]["destination"] == "+447700900102"
    # the new messages: same text, sender, batch; attempts from 0; the failed ones stay as they were
    pool = api.stack.pool
    for retried in (one, data["messages"][0]):
        row = await pool.fetchrow(
            "SELECT source, batch_id, parts, account_id FROM messages WHERE id = $1",
            int(retried["retry_message_id"], 16),
        )
        assert row is not None and row["source"] == "Acme" and row["batch_id"] == batch_id
        assert text_of(row["parts"])[0] in ("Héllo Ann €", "Héllo Bo €")
    assert await pool.fetchval("SELECT status FROM messages WHERE id = $1", int(first, 16)) == "undeliverable"
    await api.stack.sim.wait_receipts_acked(5)
    assert await api.stack.engine.wait_idle(within=30.0)
    # each failure retried once: the originals are done; only the retries' own failures remain to retry
    r = await c.post("/v1/sms/retry-failed", json={"batch_id": batch_id}, headers=h)
    retried_ids = {m["message_id"] for m in r.json()["data"]["messages"]}
    assert retried_ids == {one["retry_message_id"], data["messages"][0]["retry_message_id"]}
    # the other account's failure is its own
    r = await c.post("/v1/sms/retry-failed", json={"carrier": "sim"}, headers=api.other())
    assert r.json()["data"]["retried_count"] == 1
    assert (
        await pool.fetchval("SELECT count(*) FROM sms_retries WHERE account_id = $1", api.other_account) == 1
    )
