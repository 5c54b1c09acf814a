"""POST /v1/sms/bulk: the document's request and answer, per-recipient validation, 202 / 207 / 422."""

from __future__ import annotations

from engine.core.ids import parse_id
from tests.http_api.conftest import Api


def bulk(
    recipients: list[dict[str, object]], body: str = "Hi {{name}}", **extra: object
) -> dict[str, object]:
    return {"from": "Acme", "body": body, "recipients": recipients, **extra}


async def test_all_accepted_is_202_and_every_message_is_stored(api: Api) -> None:
    recipients = [
        {"to": f"+4477009{i:05d}", "variables": {"name": f"n{i}"}, "client_ref": f"r{i}"} for i in range(300)
    ]
    r = await api.client.post(
        "/v1/sms/bulk", json=bulk(recipients, client_ref="batch-001"), headers=api.headers()
    )
    assert r.status_code == 202, r.text
    result = r.json()["data"]
    # the document's answer: counts, the cost estimate in minor units (300 x 0.5 cent = 150 cents)
    assert result["accepted"] == 300 and result["rejected"] == 0
    assert (
        result["cost_estimate"] == 150 and result["currency"] == "EUR" and result["client_ref"] == "batch-001"
    )
    assert [a["index"] for a in result["messages"]] == list(range(300)) and result["errors"] == []
    ids = [parse_id(a["message_id"]) for a in result["messages"]]
    rows = await api.stack.pool.fetch(
        "SELECT id, client_ref, batch_id FROM messages WHERE id = ANY($1::bigint[])", ids
    )
    assert len(rows) == 300 and {row["batch_id"] for row in rows} == {result["batch_id"]}
    page = (await api.client.get("/v1/sms", params={"client_ref": "r7"}, headers=api.headers())).json()
    assert page["data"][0]["message_id"] == result["messages"][7]["message_id"]
    # the batch is tracked as a campaign
    batch = (await api.client.get(f"/v1/campaigns/{result['batch_id']}", headers=api.headers())).json()[
        "data"
    ]
    assert batch["kind"] == "batch" and batch["name"] == "batch-001"
    assert batch["progress"]["total"] == 300 and batch["state"] in ("sending", "completed")
    theirs = await api.client.get(f"/v1/campaigns/{result['batch_id']}", headers=api.other())
    assert theirs.status_code == 404


async def test_a_recipient_without_its_own_client_ref_gets_the_batchs(api: Api) -> None:
    r = await api.client.post(
        "/v1/sms/bulk", json=bulk([{"to": "+447700900001", "variables": {"name": "A"}}], client_ref="b-7"),
        headers=api.headers(),
    )  # fmt: skip
    message_id = r.json()["data"]["messages"][0]["message_id"]
    got = (await api.client.get(f"/v1/sms/{message_id}", headers=api.headers())).json()["data"]
    assert got["client_ref"] == "b-7" and got["batch_id"] == r.json()["data"]["batch_id"]


async def test_some_rejected_is_207_with_each_refusal_by_index(api: Api) -> None:
    await api.client.post("/v1/contacts/opt-outs", json={"number": "+447700900002"}, headers=api.headers())
    recipients = [
        {"to": "+447700900001", "variables": {"name": "Ann"}},
        {"to": "+447700900002", "variables": {"name": "Out"}},  # replied STOP
        {"to": "+447700900003"},  # no value for {{name}}
        {"to": "+447700900004", "variables": {"name": "Dan"}},
    ]
    r = await api.client.post("/v1/sms/bulk", json=bulk(recipients), headers=api.headers())
    assert r.status_code == 207, r.text
    result = r.json()["data"]
    assert result["accepted"] == 2 and result["rejected"] == 2
    assert [a["index"] for a in result["messages"]] == [0, 3]
    assert [(x["index"], x["code"]) for x in result["errors"]] == [
        (1, "OPT_OUT"),
        (2, "VALIDATION_ERROR"),
    ]
    assert await api.stack.pool.fetchval("SELECT count(*) FROM messages") == 2


async def test_none_accepted_is_422_and_balance_refusals_are_per_recipient(api: Api) -> None:
    for number in ("+447700900011", "+447700900012"):
        await api.client.post("/v1/contacts/opt-outs", json={"number": number}, headers=api.headers())
    r = await api.client.post(
        "/v1/sms/bulk", json=bulk([{"to": "+447700900011"}, {"to": "+447700900012"}], body="x"),
        headers=api.headers(),
    )  # fmt: skip
    data = r.json()["data"]
    assert r.status_code == 422 and data["rejected"] == 2 and data["currency"] == "EUR" and data["batch_id"]
    # B can afford 3 messages at 7,000: the rest are refused by the ledger, one by one
    await api.stack.pool.execute(
        "UPDATE billing_ledger_accounts SET balance = 21000 WHERE id = "
        "(SELECT available_id FROM billing_customers WHERE account_id = $1)",
        api.other_account,
    )
    recipients = [{"to": f"+44770090{i:04d}"} for i in range(10)]
    r = await api.client.post("/v1/sms/bulk", json=bulk(recipients, body="x"), headers=api.other())
    assert r.status_code == 207
    result = r.json()["data"]
    assert result["accepted"] == 3 and result["cost_estimate"] == 3  # 21,000 micro-units: 2.1 cents, up
    assert {x["code"] for x in result["errors"]} == {"INSUFFICIENT_BALANCE"}


async def test_bulk_limits_are_validation_errors(api: Api) -> None:
    r = await api.client.post("/v1/sms/bulk", json=bulk([]), headers=api.headers())
    assert r.status_code == 400
    too_many = [{"to": "+447700900001"}] * 10_001
    r = await api.client.post("/v1/sms/bulk", json=bulk(too_many, body="x"), headers=api.headers())
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await api.client.post(
        "/v1/sms/bulk", json={**bulk([{"to": "+447700900001"}]), "extra": 1}, headers=api.headers()
    )
    assert r.status_code == 400
    for number in ("12", "+9991234567"):  # not E.164; E.164-shaped but no such country: the schema says both
        r = await api.client.post("/v1/sms/bulk", json=bulk([{"to": number}]), headers=api.headers())
        assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PHONE_NUMBER"
