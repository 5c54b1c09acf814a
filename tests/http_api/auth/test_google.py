"""GET /v1/auth/google/url and POST /v1/auth/google, against a local OpenID Connect issuer: the engine
discovers it, sends the browser to it, redeems the code (PKCE) and verifies its ID tokens with its JWKS —
the same code that talks to Google."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from engine.identity.errors import InvalidToken
from engine.simulation.oidc_issuer import OidcIssuer
from tests.http_api.auth.conftest import CLIENT_ID, REDIRECT_URI, bearer, register
from tests.http_api.conftest import Api


async def _browser_flow(api: Api, email: str | None = None) -> tuple[str, str]:
    """What the dashboard and the browser do: (code, state) as the provider hands them back."""
    r = await api.client.get("/v1/auth/google/url")
    assert r.status_code == 200
    data = r.json()["data"]
    url = data["url"] + (f"&login_hint={email}" if email else "")
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url)  # the provider signs the person in and redirects back
    assert answer.status_code == 302
    back = urlsplit(answer.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
    query = parse_qs(back.query)
    assert query["state"] == [data["state"]]
    return query["code"][0], query["state"][0]


async def test_the_url_points_at_the_discovered_authorization_endpoint_with_pkce(
    api: Api, issuer: OidcIssuer
) -> None:
    data = (await api.client.get("/v1/auth/google/url")).json()["data"]
    url = urlsplit(data["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == issuer.base_url + "/authorize"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["client_id"] == CLIENT_ID and query["redirect_uri"] == REDIRECT_URI
    assert query["response_type"] == "code" and "openid" in query["scope"].split()
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["state"] == data["state"] and query["nonce"]


async def test_a_first_google_sign_in_opens_an_account_and_the_next_one_finds_it(
    api: Api, issuer: OidcIssuer
) -> None:
    code, state = await _browser_flow(api, "grace@example.com")
    r = await api.client.post("/v1/auth/google", json={"code": code, "state": state})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["created"] is True and data["user"]["email"] == "grace@example.com"
    assert data["user"]["email_verified"] is True and data["user"]["sign_in_methods"] == ["google"]
    assert data["user"]["role"] == "owner"
    me = await api.client.get("/v1/auth/me", headers=bearer(data["access_token"]))
    assert me.status_code == 200 and me.json()["data"]["id"] == data["user"]["id"]
    # The code went to the token endpoint with our secret and the PKCE verifier.
    sent = issuer.token_requests[-1]
    assert sent["client_secret"] == "test-client-secret" and len(sent["code_verifier"]) == 43
    code, state = await _browser_flow(api, "grace@example.com")
    again = (await api.client.post("/v1/auth/google", json={"code": code, "state": state})).json()["data"]
    assert again["created"] is False and again["user"]["id"] == data["user"]["id"]


async def test_google_links_to_a_user_who_registered_the_same_address(api: Api) -> None:
    registered = await register(api, email="ada@example.com")
    code, state = await _browser_flow(api, "ada@example.com")
    data = (await api.client.post("/v1/auth/google", json={"code": code, "state": state})).json()["data"]
    assert data["created"] is False and data["user"]["id"] == registered["user"]["id"]
    assert data["user"]["sign_in_methods"] == ["google"]  # the unproven password is gone (pre-hijacking)
    old = await api.client.get("/v1/auth/me", headers=bearer(registered["access_token"]))
    assert old.status_code == 401


async def test_codes_states_and_id_tokens_that_do_not_hold_are_refused(api: Api, issuer: OidcIssuer) -> None:
    code, state = await _browser_flow(api)
    forged = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
    r = await api.client.post("/v1/auth/google", json={"code": code, "state": forged})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    _, other_state = await _browser_flow(api)  # a state of another sign-in: PKCE verifier and nonce differ
    r = await api.client.post("/v1/auth/google", json={"code": code, "state": other_state})
    assert r.status_code == 401
    code, state = await _browser_flow(api)
    assert (await api.client.post("/v1/auth/google", json={"code": code, "state": state})).status_code == 200
    r = await api.client.post("/v1/auth/google", json={"code": code, "state": state})  # a code works once
    assert r.status_code == 401
    assert (await api.client.post("/v1/auth/google", json={"code": code})).status_code == 400
    # ID tokens are checked whatever the token endpoint says: audience, nonce, signer.
    identity = api.stack.engine.identity
    assert identity is not None
    for token in [
        issuer.id_token("eve@example.com", nonce="n", audience="someone-else"),
        issuer.id_token("eve@example.com", nonce="other"),
        OidcIssuer(client_id=CLIENT_ID, client_secret="x", base_url=issuer.base_url).id_token(
            "e@x.io", nonce="n"
        ),
    ]:
        with pytest.raises(InvalidToken):
            await identity.oidc.verify_id_token(token, "n")
    issuer.rotate_key()  # a new signing key: our JWKS cache is refreshed once for the unknown kid
    who = await identity.oidc.verify_id_token(issuer.id_token("eve@example.com", nonce="n"), "n")
    assert who.email == "eve@example.com" and who.email_verified


async def test_without_a_configured_client_google_sign_in_answers_503(api: Api) -> None:
    identity = api.stack.engine.identity
    assert identity is not None
    identity.oidc.settings = type(identity.oidc.settings)()  # what a server with no [oidc] client_id has
    r = await api.client.get("/v1/auth/google/url")
    assert r.status_code == 503 and r.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
