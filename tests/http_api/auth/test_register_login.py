"""POST /v1/auth/register, POST /v1/auth/login, GET /v1/auth/me, and the Bearer JWTs they hand out."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import jwt

from engine.simulation.mail_sink import MailSink
from tests.http_api.auth.conftest import PASSWORD, bearer, link_in, login, next_mail, register
from tests.http_api.conftest import Api


def _header(token: str) -> dict[str, str]:
    head = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


async def test_register_opens_an_account_and_answers_rs256_tokens_that_the_jwks_verifies(api: Api) -> None:
    data = await register(api, company="Ada Labs", currency="GBP")
    assert data["token_type"] == "Bearer" and data["created"] is True
    assert data["expires_in"] == 15 * 60 and data["refresh_expires_in"] == 7 * 86400
    user = data["user"]
    assert user["email"] == "ada@example.com" and user["role"] == "owner" and user["email_verified"] is False
    assert user["account"]["name"] == "Ada Labs" and user["account"]["currency"] == "GBP"
    assert user["sign_in_methods"] == ["password"] and not {"password", "password_hash"} & set(user)
    # The document's example: "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9..." — an RS256 JWT.
    access = data["access_token"]
    assert access.startswith("eyJ") and _header(access)["alg"] == "RS256"
    # An independent verifier: PyJWT with the key published at /.well-known/jwks.json.
    jwks = (await api.client.get("/.well-known/jwks.json")).json()
    key = jwt.PyJWKSet.from_dict(jwks)[_header(access)["kid"]]
    claims = jwt.decode(access, key.key, algorithms=["RS256"], audience="smsengine", issuer="smsengine")
    assert claims["exp"] - claims["iat"] == 900 and claims["sub"] == user["id"]
    refresh = jwt.decode(data["refresh_token"], key.key, algorithms=["RS256"], audience="smsengine")
    assert refresh["exp"] - refresh["iat"] == 7 * 86400


async def test_register_mails_a_verification_link_that_works_once(api: Api, mail: MailSink) -> None:
    data = await register(api)
    message = await next_mail(mail)
    assert message["To"] == "ada@example.com" and "no-reply@example.com" in message["From"]
    link = link_in(message)
    parts = urlsplit(link)
    assert parts.path == "/v1/auth/verify-email"
    r = await api.client.get(f"{parts.path}?{parts.query}")  # the link, on the running server
    assert r.status_code == 200 and r.json()["data"]["status"] == "email_verified"
    me = await api.client.get("/v1/auth/me", headers=bearer(data["access_token"]))
    assert me.json()["data"]["email_verified"] is True
    again = await api.client.get(f"{parts.path}?{parts.query}")
    assert again.status_code == 401 and again.json()["error"]["code"] == "UNAUTHORIZED"


async def test_register_refuses_a_taken_address_a_weak_password_and_bad_input(api: Api) -> None:
    await register(api)
    r = await api.client.post("/v1/auth/register", json={"email": "ADA@example.com", "password": PASSWORD})
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT"
    for body, field in [
        ({"email": "bob@example.com", "password": "short"}, "password"),
        ({"email": "not-an-address", "password": PASSWORD}, "email"),
        ({"email": "bob@example.com"}, None),
        ({"email": "bob@example.com", "password": PASSWORD, "role": "admin"}, None),
    ]:
        r = await api.client.post("/v1/auth/register", json=body)
        assert r.status_code == 400, (body, r.text)
        error = r.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert field is None or error["details"]["field"] in (field, f"$.{field}")


async def test_login_answers_tokens_and_refuses_wrong_passwords_and_unknown_addresses(api: Api) -> None:
    await register(api)
    r = await login(api)
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["user"]["email"] == "ada@example.com" and data["created"] is False and data["access_token"]
    for email, password in [("ada@example.com", "wrong password"), ("nobody@example.com", PASSWORD)]:
        r = await login(api, email, password)
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
        assert r.json()["meta"]["request_id"] == r.headers["x-request-id"]


async def test_me_describes_the_signed_in_user_and_refuses_other_credentials(api: Api) -> None:
    data = await register(api, name="Ada Lovelace")
    r = await api.client.get("/v1/auth/me", headers=bearer(data["access_token"]))
    assert r.status_code == 200
    me = r.json()["data"]
    assert (
        me["id"] == data["user"]["id"]
        and me["name"] == "Ada Lovelace"
        and me["permissions"] == ["*", "campaigns.approve"]
    )
    assert (await api.client.get("/v1/auth/me")).status_code == 401
    r = await api.client.get("/v1/auth/me", headers=bearer(data["refresh_token"]))  # not an access token
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
    r = await api.client.get("/v1/auth/me", headers=api.headers())  # an API key has no user
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    forged = data["access_token"][:-4] + ("AAAA" if not data["access_token"].endswith("AAAA") else "BBBB")
    assert (await api.client.get("/v1/auth/me", headers=bearer(forged))).status_code == 401


async def test_a_bearer_jwt_works_on_every_endpoint_and_only_for_its_own_account(api: Api) -> None:
    data = await register(api)
    token, account = data["access_token"], data["user"]["account"]["id"]
    r = await api.client.get("/v1/billing/balance", headers=bearer(token))
    assert r.status_code == 200
    # A user creates the key pair the Quick Start asks for (Dashboard -> Settings -> API Keys).
    r = await api.client.post(
        "/v1/settings/api-keys", json={"name": "Production Server"}, headers=bearer(token)
    )
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["key"].startswith("bsms_live_") and created["secret"].startswith("sk_live_")
    stored = await api.stack.pool.fetchrow(
        "SELECT account_id, secret_hash FROM api_keys WHERE key = $1", created["key"]
    )
    assert stored["account_id"] == account and stored["secret_hash"].startswith("$argon2id$")
    keyed = {"X-API-Key": created["key"], "X-API-Secret": created["secret"]}
    assert (await api.client.get("/v1/billing/balance", headers=keyed)).status_code == 200
    # Another account's key list does not show it, and this user cannot see the other account's keys.
    listed = (await api.client.get("/v1/settings/api-keys", headers=bearer(token))).json()
    assert [k["id"] for k in listed["data"]] == [created["key"]]
