"""The carriers this node sends to: their links and dispatch targets, kept as the operators configure them.

`CarrierFleet` builds a `CarrierLink` (binds) and a `CarrierTarget` (the dispatch loop's view) for every
enabled row of `carrier_connections`, and keeps them current:
- **live configuration**: `reload()` (on `NOTIFY smsengine_carriers`, and on a slow poll) adds carriers
  that appeared, reconnects those whose connection changed, and stops those removed or disabled (their
  queued jobs fail over after the dispatch loop's bind_wait);
- **a shared budget**: a carrier allowing N binds gets N in total across the live nodes, spread over them
  by `share` and re-spread when a node joins or dies (`set_members`); its throughput is split the same way.
  A node is never given zero binds of a carrier its messages may route to (it could not send them), so
  with more nodes than a carrier's binds the total is the number of nodes (and a warning says so).

This module never decides where a message goes (routing) nor when it is sent (dispatch).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import asyncpg
import structlog

from engine.carriers.link import CarrierConnection, CarrierLink, DeliverCallback
from engine.carriers.receipts import ReceiptMatcher
from engine.core.intake import CarrierProfile
from engine.dispatch.clock import Clock
from engine.dispatch.dispatcher import Dispatcher
from engine.dispatch.sms import CarrierTarget

log = structlog.get_logger("engine.carriers.fleet")


def share(binds: int, members: Sequence[int], node: int, carrier: str) -> int:
    """This node's part of a carrier's `binds` among the live `members` (at least one each)."""
    if node not in members:
        return max(1, binds)
    count = len(members)
    index = sorted(members).index(node)
    rotate = zlib.crc32(carrier.encode()) % count  # not always the same nodes get the extra binds
    base, extra = divmod(binds, count)
    return max(1, base + (1 if (index - rotate) % count < extra else 0))


class CarrierFleet:
    def __init__(
        self,
        pool: asyncpg.Pool,
        matcher: ReceiptMatcher,
        clock: Clock,
        *,
        node: int,
        on_deliver: DeliverCallback | None = None,
        on_health_change: Callable[[], None] = lambda: None,
        response_timeout: float = 30.0,
        enquire_link_interval: float = 30.0,
    ) -> None:
        self._pool = pool
        self._matcher = matcher
        self._clock = clock
        self._node = node
        self.on_deliver = on_deliver
        self.on_health_change = on_health_change
        self._options = {"response_timeout": response_timeout, "enquire_link_interval": enquire_link_interval}
        self.links: dict[str, CarrierLink] = {}
        self.targets: dict[str, CarrierTarget] = {}
        self.profiles: dict[str, CarrierProfile] = {}  # read by intake (cutting messages for a carrier)
        self._members: list[int] = [node]
        self._dispatcher: Dispatcher | None = None
        self._started = False

    async def _configs(self) -> list[CarrierConnection]:
        rows = await self._pool.fetch("SELECT * FROM carrier_connections WHERE enabled ORDER BY carrier")
        return [CarrierConnection(**{k: r[k] for k in r.keys()}) for r in rows]

    async def load(self) -> None:
        for config in await self._configs():
            self._add(config)

    def attach(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        for target in self.targets.values():
            if not dispatcher.has_target(target.name):
                dispatcher.add_target(target)

    def start(self) -> None:
        self._started = True
        for link in self.links.values():
            link.start()

    async def close(self) -> None:
        for link in self.links.values():
            await link.close()

    def _binds(self, config: CarrierConnection) -> int:
        return share(config.binds, self._members, self._node, config.carrier)

    def _add(self, config: CarrierConnection) -> None:
        binds = self._binds(config)
        link = CarrierLink(config, self.on_deliver, self.on_health_change, binds=binds, **self._options)  # type: ignore[arg-type]
        target = CarrierTarget(link, self._matcher, self._clock)
        target.set_rate_share(binds / max(1, config.binds))
        self.links[config.carrier] = link
        self.targets[config.carrier] = target
        self.profiles[config.carrier] = config.profile
        if self._dispatcher is not None and not self._dispatcher.has_target(target.name):
            self._dispatcher.add_target(target)
        if self._started:
            link.start()

    async def reload(self) -> None:
        """Bring links in line with carrier_connections: new carriers, changed connections, removed ones."""
        configs = {c.carrier: c for c in await self._configs()}
        for name, config in configs.items():
            link = self.links.get(name)
            if link is None:
                log.info("carrier added", carrier=name)
                self._add(config)
            elif link.config != config:
                log.info("carrier reconfigured", carrier=name)
                await link.reconfigure(config, self._binds(config))
                self.targets[name].reconfigure(link, self._binds(config) / max(1, config.binds))
                self.profiles[name] = config.profile
        for name in [n for n in self.links if n not in configs]:
            log.info("carrier removed or disabled", carrier=name)
            await self.links[name].resize(0)  # its target stays, down: queued jobs fail over or wait

    async def set_members(self, members: Sequence[int]) -> None:
        """The live nodes changed: take this node's share of each carrier's binds and throughput."""
        self._members = sorted(members)
        for name, link in self.links.items():
            config = link.config
            if config.binds < len(self._members):
                log.warning("carrier allows fewer binds than there are nodes: each node keeps one",
                            carrier=name, binds=config.binds, nodes=len(self._members))  # fmt: skip
            binds = self._binds(config)
            if binds != len(link.clients):
                await link.resize(binds)
            self.targets[name].set_rate_share(binds / max(1, config.binds))
