"""Connecting X accounts: authorization code + PKCE as X runs it (the simulator checks the S256
challenge, the client and the redirect URI), customers' own apps (seed 004 Twitter BYOK), and the
answers a user sees when something is off."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from engine.social.accounts.sessions import SocialAccounts
from engine.social.accounts.store import AppCredentials, PgAccountStore
from engine.social.actions import CreatePost, NoParams
from engine.social.errors import NeedsReauth, Permanent
from engine.social.platforms.x.connector import XConnector
from engine.social.platforms.x.oauth import XOAuth
from engine.social.simulation.x_api import XSimulator

DEFAULT_APP = AppCredentials(id=None, platform="x", client_id="default-app", client_secret="default-secret")


@pytest.fixture
async def sim() -> AsyncIterator[XSimulator]:
    async with XSimulator() as simulator:
        simulator.world.add_user("demo")
        simulator.world.authorizing_user = "demo"
        simulator.world.register_app("default-app", "default-secret")
        yield simulator


@pytest.fixture
async def oauth(sim: XSimulator) -> AsyncIterator[XOAuth]:
    client = XOAuth(
        api_base_url=sim.base_url, authorize_url=sim.base_url + "/i/oauth2/authorize", default_app=DEFAULT_APP
    )
    yield client
    await client.aclose()


@pytest.fixture
async def connector(sim: XSimulator) -> AsyncIterator[XConnector]:
    client = XConnector(base_url=sim.base_url)
    yield client
    await client.aclose()


async def approve(url: str) -> dict[str, str]:
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url, follow_redirects=False)
    assert answer.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


async def test_the_authorize_url_carries_state_and_an_s256_challenge(
    oauth: XOAuth, store: PgAccountStore, customer: int
) -> None:
    start = await oauth.begin(store, account_id=customer, redirect_uri="https://app.example/cb")
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.url).query).items()}
    assert query["response_type"] == "code" and query["client_id"] == "default-app"
    assert query["state"] == start.state and query["code_challenge_method"] == "S256"
    assert "offline.access" in query["scope"].split() and "dm.write" in query["scope"].split()
    pending = await store.take_authorization(start.state)
    assert pending is not None
    digest = hashlib.sha256(pending.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def test_a_connected_account_has_the_users_identity_and_scopes(
    oauth: XOAuth, connector: XConnector, store: PgAccountStore, customer: int, sim: XSimulator
) -> None:
    start = await oauth.begin(store, account_id=customer, redirect_uri="https://app.example/cb")
    code = (await approve(start.url))["code"]
    record = await oauth.complete(store, connector, state=start.state, code=code)
    demo = sim.world.user_by_name("demo")
    assert demo is not None
    assert (record.account.platform_user_id, record.account.username) == (demo.id, "demo")
    assert "tweet.write" in record.account.scopes and record.state == "active"
    with pytest.raises(Permanent, match="unknown or expired"):  # the state is spent
        await oauth.complete(store, connector, state=start.state, code=code)


async def test_a_code_without_the_right_verifier_is_refused(
    oauth: XOAuth, connector: XConnector, store: PgAccountStore, customer: int
) -> None:
    start = await oauth.begin(store, account_id=customer, redirect_uri="https://app.example/cb")
    code = (await approve(start.url))["code"]
    other = await oauth.begin(store, account_id=customer, redirect_uri="https://app.example/cb")
    # Completing the other authorization with this code sends the other verifier: PKCE refuses it.
    with pytest.raises(Permanent, match="invalid_request"):
        await oauth.complete(store, connector, state=other.state, code=code)
    assert await store.list(customer) == []


async def test_a_customers_own_app_is_used_to_connect_and_to_refresh(
    oauth: XOAuth, connector: XConnector, store: PgAccountStore, customer: int, sim: XSimulator
) -> None:
    sim.world.register_app("their-app", "their-secret")
    app = await store.put_app_credentials(customer, "x", "their-app", "their-secret")
    start = await oauth.begin(store, account_id=customer, redirect_uri="https://app.example/cb", app=app)
    assert "client_id=their-app" in start.url
    code = (await approve(start.url))["code"]
    record = await oauth.complete(store, connector, state=start.state, code=code)
    assert record.app_credentials_id == app.id
    sim.world.expire_access_tokens("demo")
    accounts = SocialAccounts(store, {"x": oauth}, {"x": DEFAULT_APP})
    session = await accounts.session(record.account.id)
    assert (await connector.create_post(session, CreatePost(text="posted through BYOK"))).id
    grants = {grant.client_id for grant in sim.world.access_tokens.values() if grant.expires_at > 0}
    assert grants == {"their-app"}  # the refresh authenticated as the customer's app, not the default


async def test_a_wrong_app_secret_refreshes_into_needs_reauth(
    oauth: XOAuth, connector: XConnector, store: PgAccountStore, customer: int, sim: XSimulator
) -> None:
    start = await oauth.begin(store, account_id=customer, redirect_uri="https://app.example/cb")
    record = await oauth.complete(
        store, connector, state=start.state, code=(await approve(start.url))["code"]
    )
    sim.world.register_app("default-app", "rotated-secret")  # the app's secret changed at X
    sim.world.expire_access_tokens("demo")
    session = await SocialAccounts(store, {"x": oauth}, {"x": DEFAULT_APP}).session(record.account.id)
    with pytest.raises(NeedsReauth, match="unauthorized_client"):
        await connector.me(session, NoParams())


async def test_an_action_outside_the_granted_scopes_says_so(
    oauth: XOAuth, connector: XConnector, store: PgAccountStore, customer: int
) -> None:
    start = await oauth.begin(store, account_id=customer, redirect_uri="https://app.example/cb",
                              scopes=("tweet.read", "users.read", "offline.access"))  # fmt: skip
    record = await oauth.complete(
        store, connector, state=start.state, code=(await approve(start.url))["code"]
    )
    session = await SocialAccounts(store, {"x": oauth}, {"x": DEFAULT_APP}).session(record.account.id)
    with pytest.raises(Permanent) as refused:
        await connector.create_post(session, CreatePost(text="no write scope"))
    assert refused.value.code == "scope_missing" and "tweet.write" in refused.value.message
