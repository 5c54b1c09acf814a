"""The Xquik data products' process-wide parts: one X reader pool and the extraction runner, per engine.

    data = start(engine)        # Engine.start: the runner polls xquik_extractions from now on
    data = of(engine)           # route handlers: data.reads.for_account(...), data.runner.wake()

The runner's lease owner is the node's number (`node-<n>`): a node restarted under its name takes its
running jobs back at once; another node takes them when their lease runs out.
This module must never serve HTTP.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.xquik.extractions.jobs import ExtractionRunner
from engine.xquik.xread import XReads

if TYPE_CHECKING:
    from engine.app import Engine


@dataclass
class XquikData:
    reads: XReads
    runner: ExtractionRunner


def of(engine: Engine) -> XquikData:
    """The engine's own (kept on it: an Engine is not hashable)."""
    data = getattr(engine, "_xquik_data", None)
    if not isinstance(data, XquikData):
        reads = XReads(engine.settings.social.x_api_base_url, engine.social, engine.pool)
        data = XquikData(reads, ExtractionRunner(engine.pool, reads, owner=f"node-{engine.node}"))
        setattr(engine, "_xquik_data", data)  # noqa: B010
    return data


def start(engine: Engine) -> XquikData:
    data = of(engine)
    data.runner.start()
    engine._tasks.append(asyncio.get_running_loop().create_task(_held(data), name="xquik-data"))
    return data


async def _held(data: XquikData) -> None:
    """Until the engine stops (it cancels its tasks): then the runner stops and the HTTP client closes."""
    try:
        await asyncio.Event().wait()
    finally:
        await data.runner.stop()
        await data.reads.aclose()
