"""POST /v1/sms/bulk: per-recipient validation through the shared intake, 202 / 207 / 422."""

from __future__ import annotations

from engine.core.ids import parse_id
from tests.http_api.conftest import Api


def bulk(messages: list[dict[str, object]], body: str = "Hi {{name}}") -> dict[str, object]:
    return {"from": "Acme", "body": body, "messages": messages}


async def test_all_accepted_is_202_and_every_message_is_stored(api: Api) -> None:
    messages = [
        {"to": f"+4477009{i:05d}", "variables": {"name": f"n{i}"}, "client_ref": f"r{i}"} for i in range(300)
    ]
    r = await api.client.post("/v1/sms/bulk", json=bulk(messages), headers=api.headers())
    assert r.status_code == 202, r.text
    result = r.json()
    assert [a["index"] for a in result["accepted"]] == list(range(300)) and result["rejected"] == []
    assert result["cost"] == {"micro": 300 * 5_000, "amount": "1.50", "currency": "EUR"}
    ids = [parse_id(a["id"]) for a in result["accepted"]]
    rows = await api.stack.pool.fetch(
        "SELECT id, client_ref, batch_id FROM messages WHERE id = ANY($1::bigint[])", ids
    )
    assert len(rows) == 300 and {row["batch_id"] for row in rows} == {result["batch_id"]}
    page = (await api.client.get("/v1/sms", params={"client_ref": "r7"}, headers=api.headers())).json()
    assert page["data"][0]["id"] == result["accepted"][7]["id"]


async def test_some_rejected_is_207_with_each_refusal_by_index(api: Api) -> None:
    messages = [
        {"to": "+447700900001", "variables": {"name": "Ann"}},
        {"to": "12", "variables": {"name": "Bad"}},
        {"to": "+447700900003"},  # no value for {{name}}
        {"to": "+447700900004", "variables": {"name": "Dan"}},
    ]
    r = await api.client.post("/v1/sms/bulk", json=bulk(messages), headers=api.headers())
    assert r.status_code == 207, r.text
    result = r.json()
    assert [a["index"] for a in result["accepted"]] == [0, 3]
    assert [(x["index"], x["code"]) for x in result["rejected"]] == [
        (1, "INVALID_PHONE_NUMBER"),
        (2, "VALIDATION_ERROR"),
    ]
    assert await api.stack.pool.fetchval("SELECT count(*) FROM messages") == 2


async def test_none_accepted_is_422_and_balance_refusals_are_per_recipient(api: Api) -> None:
    r = await api.client.post(
        "/v1/sms/bulk", json=bulk([{"to": "1"}, {"to": "2"}], body="x"), headers=api.headers()
    )
    assert r.status_code == 422 and len(r.json()["rejected"]) == 2 and r.json()["cost"]["currency"] == "EUR"
    # B can afford 3 messages at 7,000: the rest are refused by the ledger, one by one
    await api.stack.pool.execute(
        "UPDATE billing_ledger_accounts SET balance = 21000 WHERE id = "
        "(SELECT available_id FROM billing_customers WHERE account_id = $1)",
        api.other_account,
    )
    messages = [{"to": f"+44770090{i:04d}"} for i in range(10)]
    r = await api.client.post("/v1/sms/bulk", json=bulk(messages, body="x"), headers=api.other())
    assert r.status_code == 207
    result = r.json()
    assert len(result["accepted"]) == 3 and result["cost"]["micro"] == 21_000
    assert {x["code"] for x in result["rejected"]} == {"INSUFFICIENT_BALANCE"}


async def test_bulk_limits_are_validation_errors(api: Api) -> None:
    r = await api.client.post("/v1/sms/bulk", json=bulk([]), headers=api.headers())
    assert r.status_code == 400
    too_many = [{"to": "+447700900001"}] * 10_001
    r = await api.client.post("/v1/sms/bulk", json=bulk(too_many, body="x"), headers=api.headers())
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await api.client.post(
        "/v1/sms/bulk", json={**bulk([{"to": "+4477"}]), "extra": 1}, headers=api.headers()
    )
    assert r.status_code == 400
