"""Xquik's monitors layer as the engine runs it: the X source (app-only token, the X connector's HTTP
client), the monitors and their poller, monitor billing, trends, radar. Built by `Engine._assemble` after the
social layer (whose X client, rate limiter and clock it shares), closed before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from engine.infra.settings import Settings
from engine.outbox.webhooks import WebhookSender
from engine.social.runtime import SocialLayer
from engine.xquik.monitors.billing import MonitorBilling
from engine.xquik.monitors.radar import Radar
from engine.xquik.monitors.service import Monitors
from engine.xquik.monitors.trends import Trends
from engine.xquik.monitors.x_source import XSource


@dataclass
class MonitorsLayer:
    source: XSource
    monitors: Monitors
    billing: MonitorBilling
    trends: Trends
    radar: Radar
    webhooks: WebhookSender | None

    @classmethod
    def build(
        cls, settings: Settings, pool: asyncpg.Pool, social: SocialLayer, webhooks: WebhookSender | None
    ) -> MonitorsLayer:
        conf = settings.monitors
        source = XSource(social.x.http, bearer=conf.x_bearer_token)
        monitors = Monitors(
            pool, source, limiter=social.jobs.limiter, shared=social.jobs.shared, clock=social.jobs.clock,
            webhooks=webhooks, interval=conf.poll_interval_seconds, page_size=conf.page_size,
        )  # fmt: skip
        billing = MonitorBilling(pool, interval=conf.billing_interval_seconds)
        monitors.billing = billing
        trends = Trends(pool, source, ttl=conf.trends_cache_seconds)
        return cls(source, monitors, billing, trends, Radar(settings.radar), webhooks)

    def start(self) -> None:
        self.monitors.start()
        self.billing.start()

    async def close(self) -> None:
        await self.monitors.close()
        await self.billing.close()
        await self.radar.aclose()
