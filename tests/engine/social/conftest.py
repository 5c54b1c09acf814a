"""Fixtures for the social connector tests: real PostgreSQL, a key ring, and one `platform` harness
per connector (dramatiq's pattern: one fixture parametrised over the implementations, so the same
contract tests run against X + the X simulator and Bluesky + the Bluesky simulator).

A harness connects one account the way a user would (X: OAuth 2.0 code + PKCE through the simulator's
authorize and token endpoints; Bluesky: createSession with an app password), and offers the knobs a
contract test turns on the simulator, each named for what a user would see, not for the platform.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from engine.social.accounts.sealing import KeyRing
from engine.social.accounts.sessions import SocialAccounts
from engine.social.accounts.store import AppCredentials, PgAccountStore
from engine.social.actions import Action
from engine.social.connector import AccountSession, PlatformConnector
from engine.social.platforms.bluesky.auth import BlueskyAuth
from engine.social.platforms.bluesky.connector import BlueskyConnector
from engine.social.platforms.x.connector import XConnector
from engine.social.platforms.x.oauth import XOAuth
from engine.social.simulation.bsky_api import BlueskySimulator
from engine.social.simulation.x_api import XSimulator

# Which simulator window an action's call counts against, to make the next call answer 429.
X_ENDPOINTS: dict[Action, tuple[str, str]] = {
    Action.CREATE_POST: ("POST", "/2/tweets"),
    Action.SEND_DM: ("POST", "/2/dm_conversations/with/{participant_id}/messages"),
    Action.LIST_MENTIONS: ("GET", "/2/users/{id}/mentions"),
    Action.ME: ("GET", "/2/users/me"),
}


@pytest.fixture
def key_ring() -> KeyRing:
    return KeyRing.parse(KeyRing.new_entry("k1"))


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    assert created is not None
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
async def customer(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("INSERT INTO accounts (name) VALUES ($1) RETURNING id", "acme"))


@pytest.fixture
def store(pool: asyncpg.Pool, key_ring: KeyRing) -> PgAccountStore:
    return PgAccountStore(pool, key_ring)


@dataclass
class Harness:
    """One platform, its simulator and one connected account of the customer."""

    platform: str
    connector: PlatformConnector
    sim: Any
    store: PgAccountStore
    accounts: SocialAccounts
    social_account_id: int
    peer_id: str
    """Another user, who accepts DMs."""
    peer_name: str
    closed_peer_id: str
    """A user who accepts no DMs."""
    extra: dict[str, Any] = field(default_factory=dict)

    async def session(self) -> AccountSession:
        return await self.accounts.session(self.social_account_id)

    def fresh_accounts(self) -> SocialAccounts:
        """A second SocialAccounts over the same store: what another engine process would hold."""
        return SocialAccounts(self.store, self.extra["refreshers"], self.extra.get("apps"))

    # ------------------------------------------------------------------------ simulator knobs

    def mention(self, text: str = "") -> str:
        me = self.extra["me"]
        if self.platform == "x":
            return str(self.sim.world.mention(of=me, by=self.peer_name, text=text).id)
        return str(self.sim.world.mention(of=me, by=self.peer_name, text=text).uri)

    def reply_by_peer(self, post_id: str, text: str = "") -> str:
        if self.platform == "x":
            return str(self.sim.world.reply(to=post_id, by=self.peer_name, text=text).id)
        return str(self.sim.world.reply(to=post_id, by=self.peer_name, text=text).uri)

    def peer_post(self, text: str = "a post by someone else") -> str:
        if self.platform == "x":
            peer = self.sim.world.users[self.peer_id]
            return str(self.sim.world.create_post(peer.id, text).id)
        value = {"$type": "app.bsky.feed.post", "text": text, "createdAt": self.sim.world.now_iso()}
        return str(self.sim.world.put_record(self.peer_id, "app.bsky.feed.post", value).uri)

    def inbound_dm(self, text: str) -> None:
        self.sim.world.dm(to=self.extra["me"], by=self.peer_name, text=text)

    def expire_access_token(self) -> None:
        self.sim.world.expire_access_tokens(self.extra["me"])

    def revoke_access(self) -> None:
        self.sim.world.revoke(self.extra["me"])

    def fail_next(self, count: int, status: int = 503) -> None:
        self.sim.faults.fail_next(count, status=status)

    def allow_only(self, calls: int, action: Action, seconds: int = 900) -> None:
        """The platform accepts `calls` more calls of `action` in a window of `seconds` (from now)."""
        self.sim.windows.reset()
        if self.platform == "x":
            self.sim.limits[X_ENDPOINTS[action]] = (calls, seconds)
        else:  # Bluesky limits by request count (reads) and write points
            self.sim.limits["requests"] = (calls, seconds)


async def _x_harness(store: PgAccountStore, customer: int, stack: AsyncExitStack) -> Harness:
    sim = XSimulator()
    await sim.start()
    stack.push_async_callback(sim.stop)
    world = sim.world
    demo = world.add_user("demo", name="Demo Account")
    peer = world.add_user("alice", name="Alice")
    closed = world.add_user("closed", name="Closed DMs", accepts_dms=False)
    world.register_app("client-1", "secret-1")
    world.authorizing_user = "demo"
    app = AppCredentials(id=None, platform="x", client_id="client-1", client_secret="secret-1")
    connector = XConnector(base_url=sim.base_url)
    stack.push_async_callback(connector.aclose)
    oauth = XOAuth(
        api_base_url=sim.base_url, authorize_url=sim.base_url + "/i/oauth2/authorize", default_app=app
    )
    stack.push_async_callback(oauth.aclose)
    start = await oauth.begin(store, account_id=customer, redirect_uri="https://app.example/callback")
    async with httpx.AsyncClient() as browser:  # the user's browser follows the authorize URL
        answer = await browser.get(start.url, follow_redirects=False)
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == [start.state]
    record = await oauth.complete(store, connector, state=start.state, code=query["code"][0])
    refreshers = {"x": oauth}
    apps = {"x": app}
    return Harness(
        platform="x",
        connector=connector,
        sim=sim,
        store=store,
        accounts=SocialAccounts(store, refreshers, apps),
        social_account_id=record.account.id,
        peer_id=peer.id,
        peer_name=peer.username,
        closed_peer_id=closed.id,
        extra={"me": demo.username, "refreshers": refreshers, "apps": apps, "oauth": oauth},
    )


async def _bluesky_harness(store: PgAccountStore, customer: int, stack: AsyncExitStack) -> Harness:
    sim = BlueskySimulator()
    await sim.start()
    stack.push_async_callback(sim.stop)
    world = sim.world
    password = secrets.token_urlsafe(12)
    demo = world.add_account("demo.bsky.social", password=password, display_name="Demo Account")
    peer = world.add_account("alice.bsky.social", display_name="Alice")
    closed = world.add_account("closed.bsky.social", accepts_dms="none")
    auth = BlueskyAuth(service_url=sim.base_url)
    stack.push_async_callback(auth.aclose)
    connector = BlueskyConnector(service_url=sim.base_url)
    stack.push_async_callback(connector.aclose)
    record = await auth.connect(store, account_id=customer, identifier=demo.handle, password=password)
    refreshers = {"bluesky": auth}
    return Harness(
        platform="bluesky",
        connector=connector,
        sim=sim,
        store=store,
        accounts=SocialAccounts(store, refreshers),
        social_account_id=record.account.id,
        peer_id=peer.did,
        peer_name=peer.handle,
        closed_peer_id=closed.did,
        extra={"me": demo.handle, "refreshers": refreshers, "auth": auth},
    )


@pytest.fixture(params=["x", "bluesky"])
async def platform(
    request: pytest.FixtureRequest, store: PgAccountStore, customer: int
) -> AsyncIterator[Harness]:
    make = _x_harness if request.param == "x" else _bluesky_harness
    async with AsyncExitStack() as stack:
        yield await make(store, customer, stack)
