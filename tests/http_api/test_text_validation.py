"""Every text of a request that no table could store answers 400 with the error envelope, never a 500,
and never fails anyone else's messages in the same commit."""

from __future__ import annotations

import asyncio

from tests.http_api.conftest import Api, sms


async def test_a_nul_in_a_query_filter_is_a_400(api: Api) -> None:
    for params in ({"to": "\x00"}, {"client_ref": "a\x00b"}, {"cursor": "\x00"}):
        r = await api.client.get("/v1/sms", params=params, headers=api.headers())
        assert r.status_code == 400, (params, r.text)
        error = r.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["details"]["field"].removeprefix("$.") in params
        assert r.json()["meta"]["request_id"]


async def test_a_nul_in_a_send_is_a_400_and_the_good_sends_beside_it_are_accepted(api: Api) -> None:
    bad = [sms(**{"from": "Ac\x00me"}), sms(client_ref="ref\x00"), sms(body="hi", variables={"x\x00": 1})]
    good = [sms(client_ref=f"good-{i}") for i in range(20)]
    answers = await asyncio.gather(
        *(api.client.post("/v1/sms/send", json=body, headers=api.headers()) for body in bad + good)
    )
    assert [r.status_code for r in answers[: len(bad)]] == [400] * len(bad)
    # the document's codes: a sender that is not one is INVALID_SENDER_ID, any other field VALIDATION_ERROR
    codes = [r.json()["error"]["code"] for r in answers[: len(bad)]]
    assert codes == ["INVALID_SENDER_ID", "VALIDATION_ERROR", "VALIDATION_ERROR"], codes
    assert [r.status_code for r in answers[len(bad) :]] == [202] * len(good)
    stored = await api.stack.pool.fetchval("SELECT count(*) FROM messages")
    assert stored == len(good)


async def test_an_over_long_field_is_a_400(api: Api) -> None:
    r = await api.client.post("/v1/sms/send", json=sms(client_ref="x" * 65), headers=api.headers())
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "$.client_ref"
    r = await api.client.get("/v1/sms", params={"to": "1" * 33}, headers=api.headers())
    assert r.status_code == 400


async def test_a_lone_surrogate_in_a_body_is_a_400(api: Api) -> None:
    raw = b'{"to": "+447700900123", "from": "Acme", "body": "a\\ud800b"}'
    r = await api.client.post(
        "/v1/sms/send", content=raw, headers=api.headers(**{"Content-Type": "application/json"})
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_a_nul_in_a_path_parameter_is_a_400(api: Api) -> None:
    for path in ("/v1/sms/00ab%00", "/v1/settings/api-keys/sk_live_x%00", "/v1/templates/1%00"):
        r = await api.client.get(path, headers=api.headers())
        assert r.status_code in (400, 405), (path, r.text)
        assert r.json()["error"]["code"] in ("VALIDATION_ERROR", "METHOD_NOT_ALLOWED")
