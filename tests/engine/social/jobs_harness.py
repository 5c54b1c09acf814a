"""A running engine with the X simulator behind it and one connected X account, for social job tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from engine.social.accounts.sealing import KeyRing
from engine.social.simulation.connect import connect_x_account
from engine.social.simulation.x_api import XSimulator
from tests.engine.harness import Stack, StackOptions, running_stack


@dataclass
class SocialStack:
    stack: Stack
    sim: XSimulator
    social_account_id: int
    me: str  # the connected account's X user id
    peer_id: str

    @property
    def jobs(self) -> Any:
        assert self.stack.engine.social is not None
        return self.stack.engine.social.jobs

    @property
    def account_id(self) -> int:
        return self.stack.account_id


def social_settings(sim: XSimulator, **more: Any) -> dict[str, Any]:
    return {
        "x_api_base_url": sim.base_url,
        "x_authorize_url": sim.base_url + "/i/oauth2/authorize",
        "x_client_id": "engine-app",
        "x_client_secret": "engine-secret",
        "encryption_keys": KeyRing.new_entry("k1"),
        "retry_backoff_seconds": 0.05,
        **more,
    }


def x_world(sim: XSimulator) -> tuple[str, str]:
    demo = sim.world.add_user("demo", name="Demo Account")
    peer = sim.world.add_user("alice", name="Alice")
    sim.world.register_app("engine-app", "engine-secret")
    return demo.id, peer.id


@contextlib.asynccontextmanager
async def social_stack(
    database_url: str, redis_url: str, sim: XSimulator, **social: Any
) -> AsyncIterator[SocialStack]:
    me, peer = (sim.world.user_by_name("demo").id, sim.world.user_by_name("alice").id)  # type: ignore[union-attr]
    options = StackOptions(settings={"social": social_settings(sim, **social)})
    async with running_stack(database_url, redis_url, options) as stack:
        assert stack.engine.social is not None
        record = await connect_x_account(stack.engine.social, stack.account_id, sim, username="demo")
        yield SocialStack(stack, sim, record.account.id, me, peer)
