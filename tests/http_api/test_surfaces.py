"""The plumbing every seed-001 endpoint shares: /api/v1 chosen by credential, Idempotency-Key on every
POST, and 405 answers that name every method a path has."""

from __future__ import annotations

import pytest

from http_api.app import ROUTE_MODULES, operations_of
from tests.http_api.conftest import Api, sms


async def test_api_v1_serves_the_seed001_surface_to_its_credentials_only(api: Api) -> None:
    c = api.client
    r = await c.post("/api/v1/sms/send", json=sms(), headers=api.headers())
    assert r.status_code == 202 and r.json()["data"]["message_id"]
    bearer = {"Authorization": f"Bearer {api.key}:{api.secret}"}
    r = await c.get("/api/v1/billing/balance", headers=bearer)
    assert r.status_code == 200 and r.json()["data"]["currency"] == "EUR"
    # a credential of another document (seed 000's bulk_ak_ keys) falls through: not this surface's
    r = await c.get("/api/v1/billing/balance", headers={"Authorization": "Bearer bulk_ak_0123456789"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    assert (await c.get("/api/v1/billing/balance")).status_code == 404
    # a JWT-shaped Bearer is seed 001's (the auth module answers for it)
    r = await c.get(
        "/api/v1/billing/balance", headers={"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"}
    )
    assert r.status_code == 401


# POSTs that change nothing a replay could repeat: a preview, a quote, a test delivery sent on purpose
NOT_REPLAYED = {"/v1/sms/preview", "/xquik/api/v1/extractions/estimate", "/xquik/api/v1/webhooks/{id}/test"}


def test_every_post_honours_idempotency_key_and_says_so() -> None:
    posts = [op for op in operations_of(ROUTE_MODULES) if op.method == "POST" and not op.public]
    assert len(posts) > 25 and all(op.honours_idempotency for op in posts if op.path not in NOT_REPLAYED)


async def test_a_replayed_post_answers_what_the_first_did(api: Api) -> None:
    c = api.client
    h = api.headers(**{"Idempotency-Key": "group-1"})
    first = await c.post("/v1/contacts/groups", json={"name": "vip"}, headers=h)
    again = await c.post("/v1/contacts/groups", json={"name": "vip"}, headers=h)
    assert first.status_code == again.status_code == 201 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert (
        await c.post("/v1/contacts/groups", json={"name": "vip"}, headers=api.headers())
    ).status_code == 409
    doc = (await c.get("/openapi.json")).json()
    for path, methods in doc["paths"].items():
        post = methods.get("post")
        # public POSTs (sign-in, the Stripe webhook) have no account to key a replay by
        public = post is not None and all("ApiKey" not in s for s in post["security"])
        if post and not public and path not in NOT_REPLAYED:
            assert any(p["name"] == "Idempotency-Key" for p in post["parameters"]), path
    # a CSV upload too: the key covers the raw body
    csv = {"Content-Type": "text/csv", "Idempotency-Key": "import-1"}
    body = b"phone,name\n+447700900001,Ann\n"
    one = await c.post("/v1/contacts/import", content=body, headers=api.headers(**csv))
    two = await c.post("/v1/contacts/import", content=body, headers=api.headers(**csv))
    assert one.json() == two.json() and one.json()["data"]["imported"] == 1
    other = await c.post(
        "/v1/contacts/import", content=body + b"+447700900002,Bo\n", headers=api.headers(**csv)
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v1/sms/send", "POST"),
        ("PUT", "/v1/contacts/1", "GET, HEAD, PATCH, DELETE"),
        ("TRACE", "/v1/campaigns", "GET, HEAD, POST"),
        ("POST", "/v1/billing/balance", "GET, HEAD"),
    ],
)
async def test_a_method_the_path_lacks_is_405_with_all_it_has(
    api: Api, method: str, path: str, allow: str
) -> None:
    r = await api.client.request(method, path, headers=api.headers())
    assert r.status_code == 405 and r.headers["allow"] == allow
    assert r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
