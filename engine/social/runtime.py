"""The social layer as the engine runs it: key ring, account store, connectors, OAuth, and social jobs.

`SocialLayer.build(settings, pool, dispatcher, ...)` is called once by `Engine._assemble`: it loads the
key ring that seals tokens and app secrets (settings `social.encryption_keys` / key file), opens the
connectors of X and Bluesky at their base URLs (settings: the real platforms, or simulators in tests and
the demo), the X OAuth client with the deployment's default app (settings `social.x_client_id`; customers
may bring their own), and the `SocialJobs` service over the one dispatch loop with its outcome sink.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import redis.asyncio as aioredis

from engine.core.ids import MessageIdGenerator
from engine.dispatch.clock import Clock
from engine.dispatch.dispatcher import Dispatcher
from engine.infra.settings import Settings
from engine.outbox.webhooks import WebhookSender
from engine.social.accounts.sealing import load_key_ring
from engine.social.accounts.sessions import SocialAccounts
from engine.social.accounts.store import AppCredentials, PgAccountStore
from engine.social.connector import PlatformConnector
from engine.social.inbox.poller import InboxPoller
from engine.social.jobs.model import KIND
from engine.social.jobs.outcomes import SocialOutcomes
from engine.social.jobs.service import SocialJobs
from engine.social.jobs.shared_limits import SharedWindows
from engine.social.jobs.target import AttemptPolicy
from engine.social.platforms.bluesky.auth import BlueskyAuth
from engine.social.platforms.bluesky.connector import BlueskyConnector
from engine.social.platforms.x.connector import XConnector
from engine.social.platforms.x.oauth import XOAuth


@dataclass
class SocialLayer:
    store: PgAccountStore
    accounts: SocialAccounts
    x: XConnector
    x_oauth: XOAuth
    bluesky: BlueskyConnector
    bluesky_auth: BlueskyAuth
    outcomes: SocialOutcomes
    jobs: SocialJobs
    poller: InboxPoller
    redis: aioredis.Redis | None = None  # the shared rate windows' connection (owned here)

    @classmethod
    def build(
        cls,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        dispatcher: Dispatcher,
        ids: MessageIdGenerator,
        clock: Clock,
        webhooks: WebhookSender | None,
        redis_url: str = "",
        database_url: str = "",
    ) -> SocialLayer:
        """`redis_url`: the platforms' rate windows are shared there by every node of the deployment
        (its database names it); empty: each process keeps its own (engine/social/jobs/limits.py)."""
        social = settings.social
        redis = aioredis.Redis.from_url(redis_url) if redis_url else None
        shared = None
        if redis is not None:
            database = urlsplit(database_url).path.strip("/") or "default"
            shared = SharedWindows(redis, f"{settings.redis.prefix}social-windows:{database}")
        ring = load_key_ring(social.encryption_keys, social.encryption_key_file, settings.data_path)
        store = PgAccountStore(pool, ring)
        timeout = social.request_timeout_seconds
        default_x = (
            AppCredentials(
                id=None, platform="x", client_id=social.x_client_id, client_secret=social.x_client_secret
            )
            if social.x_client_id
            else None
        )
        x = XConnector(social.x_api_base_url, timeout=timeout)
        x_oauth = XOAuth(
            api_base_url=social.x_api_base_url, authorize_url=social.x_authorize_url,
            token_url=social.x_token_url,
            default_app=default_x, scopes=tuple(social.x_scopes.split()),
            state_ttl_seconds=social.oauth_state_ttl_seconds, timeout=timeout,
        )  # fmt: skip
        bluesky = BlueskyConnector(
            social.bluesky_service_url, chat_proxy=social.bluesky_chat_proxy, timeout=timeout
        )
        bluesky_auth = BlueskyAuth(service_url=social.bluesky_service_url, timeout=timeout)
        accounts = SocialAccounts(
            store,
            {"x": x_oauth, "bluesky": bluesky_auth},
            {"x": default_x} if default_x is not None else {},
            margin_seconds=social.refresh_margin_seconds,
        )
        outcomes = SocialOutcomes(pool, new_batch_id=ids.next_id, webhooks=webhooks)
        connectors: dict[str, PlatformConnector] = {"x": x, "bluesky": bluesky}
        jobs = SocialJobs(
            pool, accounts=accounts, connectors=connectors, dispatcher=dispatcher, ids=ids, clock=clock,
            outcomes=outcomes, prices=social.prices,
            policy=AttemptPolicy(max_attempts=social.max_attempts, backoff=social.retry_backoff_seconds),
            shared=shared,
        )  # fmt: skip
        outcomes.on_final = jobs.job_final
        dispatcher.add_sink(KIND, outcomes)
        poller = InboxPoller(pool, jobs, webhooks, interval=social.poll_interval_seconds)
        return cls(store, accounts, x, x_oauth, bluesky, bluesky_auth, outcomes, jobs, poller, redis)

    def start(self) -> None:
        self.outcomes.start()
        if self.poller.interval > 0:
            self.poller.start()

    async def close(self) -> None:
        """After the dispatch loop has drained: attempts in flight report, outcomes commit, clients close."""
        await self.poller.close()
        await self.jobs.close()
        await self.outcomes.close()
        for client in (self.x, self.x_oauth, self.bluesky, self.bluesky_auth):
            await client.aclose()
        if self.redis is not None:
            await self.redis.aclose()
