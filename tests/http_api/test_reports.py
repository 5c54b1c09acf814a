"""Reports over a real socket: the message log's filters and pagination, and DLR statistics that match
the messages sent through the engine to the simulated carrier (mixed outcomes)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from engine.simulation.config import SimulatorConfig
from tests.engine.harness import StackOptions
from tests.http_api.conftest import Api, sms

GB = [f"+4477009001{n:02d}" for n in range(6)]
FR = [f"+336123456{n:02d}" for n in range(4)]


@pytest.fixture
def stack_options() -> StackOptions:
    return StackOptions(sim=SimulatorConfig(outcomes={"DELIVRD": 60.0, "UNDELIV": 40.0}, seed=7))


async def send_all(api: Api) -> dict[str, str]:
    """Send to every GB and FR number (client_ref = the number); wait until every message is final."""
    ids = {}
    for to in GB + FR:
        r = await api.client.post("/v1/sms/send", json=sms(to=to, client_ref=to), headers=api.headers())
        assert r.status_code == 202, r.text
        ids[r.json()["id"]] = to
    r = await api.client.post("/v1/sms/send", json=sms(to=GB[0]), headers=api.other())
    assert r.status_code == 202
    await api.stack.sim.wait_receipts_acked(len(ids) + 1)
    assert await api.stack.engine.wait_idle(within=30.0)
    return ids


async def test_message_log_filters_and_pages_only_the_callers_messages(api: Api) -> None:
    ids = await send_all(api)
    h = api.headers()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"page_size": "3", **({"cursor": cursor} if cursor else {})}
        page = (await api.client.get("/v1/reports/messages", params=params, headers=h)).json()
        seen += [m["message_id"] for m in page["data"]]  # the document's field
        cursor = page["pagination"]["cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen)) == 10  # nothing of the other account

    async def report(**params: str) -> list[dict[str, object]]:
        r = await api.client.get("/v1/reports/messages", params=params, headers=h)
        assert r.status_code == 200, r.text
        data: list[dict[str, object]] = r.json()["data"]
        return data

    assert [m["to"] for m in await report(destination=FR[0])] == [FR[0]]  # exact match, as documented
    assert await report(destination="+33699999999") == []
    assert [m["to"] for m in await report(client_ref=FR[2])] == [FR[2]]
    statuses = Counter(str(m["status_detail"]) for m in await report(page_size="500"))
    assert sum(statuses.values()) == 10 and set(statuses) <= {"delivered", "undeliverable"}
    documented = Counter(str(m["status"]) for m in await report(page_size="500"))
    assert documented == {"delivered": statuses["delivered"], "failed": statuses["undeliverable"]}
    db = Counter(
        r["status"] for r in await api.stack.pool.fetch(
            "SELECT status FROM messages WHERE account_id = $1", api.stack.account_id)
    )  # fmt: skip
    assert statuses == db
    assert len(await report(status="delivered")) == db["delivered"]
    assert len(await report(status="undeliverable")) == db["undeliverable"]
    assert len(await report(status="failed")) == db["undeliverable"]  # the document's name for them
    assert await report(status="sent") == []  # every one is final
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert await report(from_date=later) == []
    assert len(await report(from_date=earlier, to_date=later)) == 10
    assert await report(to_date=earlier) == []
    assert await report(campaign_id="1") == []
    one = (await report(client_ref=GB[1]))[0]
    assert (one["cost_micros"], one["cost"], one["currency"]) == (5_000, 0.005, "EUR")
    theirs = (await api.client.get("/v1/reports/messages", headers=api.other())).json()["data"]
    assert len(theirs) == 1 and theirs[0]["id"] not in ids
    for bad in [{"destination": "+44%"}, {"status": "lost"}, {"cursor": "zzz"}, {"page_size": "0"},
                {"page_size": "501"}]:  # fmt: skip
        assert (await api.client.get("/v1/reports/messages", params=bad, headers=h)).status_code == 400, bad
    no_reports = await api.new_key(permissions=["sms.read"])
    assert (await api.client.get("/v1/reports/messages", headers=no_reports)).status_code == 403


async def test_dlr_stats_match_the_messages_sent(api: Api) -> None:
    await send_all(api)
    h = api.headers()
    rows = await api.stack.pool.fetch(
        "SELECT country, status FROM messages WHERE account_id = $1", api.stack.account_id
    )
    expected = Counter((r["country"], r["status"]) for r in rows)
    r = await api.client.get("/v1/reports/dlr-stats", params={"by": "country"}, headers=h)
    assert r.status_code == 200, r.text
    stats = r.json()["data"]
    assert stats["period"] == "day" and r.headers["cache-control"] == "private, max-age=60"
    assert stats["sent"] == 10 and stats["delivered"] + stats["failed"] == 10
    by_country = {row["country"]: row for row in stats["data"]}
    assert set(by_country) == {"GB", "FR"}
    for country, total in (("GB", 6), ("FR", 4)):
        row = by_country[country]
        assert row["total"] == row["final"] == total and row["counts"]["pending"] == 0
        assert row["counts"]["delivered"] == expected[(country, "delivered")]
        assert row["counts"]["undeliverable"] == expected[(country, "undeliverable")]
        assert row["delivery_rate"] == round(expected[(country, "delivered")] / total, 4)
        # every message here was made final by a carrier receipt
        assert row["median_seconds_to_receipt"] is not None
        assert 0 <= row["median_seconds_to_receipt"] <= row["p90_seconds_to_receipt"] < 60
    overall = (await api.client.get("/v1/reports/dlr-stats", params={"period": "hour"}, headers=h)).json()[
        "data"
    ]
    [row] = overall["data"]
    assert row["country"] is None and row["total"] == 10
    assert row["counts"]["delivered"] == sum(n for (_, s), n in expected.items() if s == "delivered")
    theirs = (await api.client.get("/v1/reports/dlr-stats", headers=api.other())).json()["data"]["data"]
    assert [t["total"] for t in theirs] == [1]
    past = {"from_date": "2020-01-01T00:00:00Z", "to_date": "2020-01-02T00:00:00Z"}
    assert (await api.client.get("/v1/reports/dlr-stats", params=past, headers=h)).json()["data"][
        "data"
    ] == []
    backwards = {"from_date": "2020-01-02T00:00:00Z", "to_date": "2020-01-01T00:00:00Z"}
    backwards_answer = await api.client.get("/v1/reports/dlr-stats", params=backwards, headers=h)
    assert backwards_answer.status_code == 200 and backwards_answer.json()["data"]["data"] == []
