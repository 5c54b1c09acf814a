"""Credentials, permissions, rate limits, request ids and malformed input: the plumbing of every request."""

from __future__ import annotations

import pytest

from engine.infra.settings import HttpSettings
from tests.http_api.conftest import Api, sms


async def test_both_header_forms_authenticate(api: Api) -> None:
    r = await api.client.get("/v1/billing/balance", headers=api.headers())
    assert r.status_code == 200
    bearer = {"Authorization": f"Bearer {api.key}:{api.secret}"}
    r = await api.client.get("/v1/billing/balance", headers=bearer)
    assert r.status_code == 200 and r.json()["data"]["currency"] == "EUR"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "sk_live_nope"},
        {"X-API-Key": "sk_live_nope", "X-API-Secret": "x"},
        {"Authorization": "Bearer onlyakey"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_missing_or_malformed_credentials_are_401(api: Api, headers: dict[str, str]) -> None:
    r = await api.client.post("/v1/sms/send", json=sms(), headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["error"]["code"] == "UNAUTHORIZED" and body["meta"]["request_id"] == r.headers["x-request-id"]
    assert "x-ratelimit-limit" not in r.headers  # only authenticated answers carry the limits


async def test_wrong_secret_and_revoked_key_are_401(api: Api) -> None:
    r = await api.client.get("/v1/billing/balance", headers=api.headers(secret="wrong-secret"))
    assert r.status_code == 401
    r = await api.client.get("/v1/billing/balance", headers={"Authorization": f"Bearer {api.key}:wrong"})
    assert r.status_code == 401
    victim = await api.new_key()
    assert (await api.client.get("/v1/billing/balance", headers=victim)).status_code == 200
    r = await api.client.delete(f"/v1/settings/api-keys/{victim['X-API-Key']}", headers=api.headers())
    assert r.status_code == 200 and r.json()["data"]["revoked_at"] is not None
    r = await api.client.get("/v1/billing/balance", headers=victim)
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


async def test_permissions_are_enforced_per_endpoint(api: Api) -> None:
    reader = await api.new_key(permissions=["sms.read"])
    r = await api.client.post("/v1/sms/send", json=sms(), headers=reader)
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    assert (await api.client.get("/v1/sms", headers=reader)).status_code == 200
    for method, path in [("GET", "/v1/billing/balance"), ("GET", "/v1/billing/transactions"),
                         ("GET", "/v1/billing/usage"), ("GET", "/v1/settings/api-keys")]:  # fmt: skip
        assert (await api.client.request(method, path, headers=reader)).status_code == 403, path
    sender = await api.new_key(permissions=["sms.send", "billing.read"])
    assert (await api.client.post("/v1/sms/send", json=sms(), headers=sender)).status_code == 202
    assert (await api.client.get("/v1/sms", headers=sender)).status_code == 403
    r = await api.client.post("/v1/billing/topup", json={"amount": "1.00"}, headers=sender)
    assert r.status_code == 403  # topping up is the operator's billing.write


async def test_unknown_paths_methods_and_malformed_bodies_get_the_envelope(api: Api) -> None:
    h = api.headers()
    r = await api.client.get("/v1/nope", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND" and r.headers["x-request-id"]
    r = await api.client.put("/v1/sms/send", headers=h)
    assert r.status_code == 405 and "error" in r.json()
    for content in [b"{not json", b"", b"[]", b'{"to": 5, "from": "A", "body": "x"}', b"\xff\xfe"]:
        r = await api.client.post("/v1/sms/send", content=content, headers=h)
        assert r.status_code == 400, (content, r.text)
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await api.client.post("/v1/sms/send", json={**sms(), "colour": "red"}, headers=h)
    assert r.status_code == 400 and "colour" in r.json()["error"]["message"]
    r = await api.client.get("/v1/sms", params={"page_size": "0"}, headers=h)
    assert r.status_code == 400
    r = await api.client.get("/v1/sms", params={"bogus": "1"}, headers=h)
    assert r.status_code == 400
    r = await api.client.get("/v1/sms", headers={**h, "X-Request-Id": "trace-123"})
    assert r.headers["x-request-id"] == "trace-123"


async def test_oversize_body_is_413_with_the_envelope(api: Api) -> None:
    huge = b'{"to": "+447700900123", "from": "A", "body": "' + b"x" * 9_000_000 + b'"}'
    r = await api.client.post("/v1/sms/send", content=huge, headers=api.headers())
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks():  # no Content-Length: counted while streaming
        for _ in range(10):
            yield b"x" * 1_000_000

    r = await api.client.post("/v1/sms/bulk", content=chunks(), headers=api.headers())
    assert r.status_code == 413


@pytest.fixture
def http_settings() -> HttpSettings:
    return HttpSettings(host="127.0.0.1", port=0, rate_limit=1000.0, rate_burst=1000)


async def test_rate_limit_headers_and_429_with_retry_after(api: Api) -> None:
    limited = await api.new_key()
    await api.stack.pool.execute(
        "UPDATE api_keys SET rate_limit = 0.5, rate_burst = 3 WHERE key = $1", limited["X-API-Key"]
    )
    statuses = []
    for _ in range(4):
        r = await api.client.get("/v1/billing/balance", headers=limited)
        statuses.append(r.status_code)
        assert r.headers["x-ratelimit-limit"] == "0.5"
        assert int(r.headers["x-ratelimit-reset"]) > 0
    assert statuses == [200, 200, 200, 429]
    assert r.json()["error"]["code"] == "RATE_LIMITED" and int(r.headers["retry-after"]) >= 1
    assert r.headers["x-ratelimit-remaining"] == "0"
    # the bucket is per key: the main key is untouched
    r = await api.client.get("/v1/billing/balance", headers=api.headers())
    assert r.status_code == 200 and int(r.headers["x-ratelimit-remaining"]) > 900


def test_every_permission_an_operation_needs_can_be_granted_to_a_key() -> None:
    import typing

    from http_api.app import ROUTE_MODULES, operations_of
    from http_api.auth import PERMISSIONS
    from http_api.routes_keys import Permission

    assert set(typing.get_args(Permission)) == set(PERMISSIONS)
    needed = {op.permission for op in operations_of(ROUTE_MODULES) if op.permission}
    assert needed <= set(PERMISSIONS), needed - set(PERMISSIONS)
