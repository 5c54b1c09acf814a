"""The Xquik data products' process-wide parts: one X reader pool and the extraction runner, per engine.

    data = start(engine)        # Engine.start: the runner polls xquik_extractions from now on
    data = of(engine)           # route handlers: data.reads.for_account(...), data.runner.wake()

The runner's lease owner is the node's number (`node-<n>`): a node restarted under its name takes its
running jobs back at once; another node takes them when their lease runs out.
This module must never serve HTTP.
"""

from __future__ import annotations

import weakref
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


_DATA: weakref.WeakKeyDictionary[Engine, XquikData] = weakref.WeakKeyDictionary()


def of(engine: Engine) -> XquikData:
    data = _DATA.get(engine)
    if data is None:
        reads = XReads(engine.settings.social.x_api_base_url, engine.social, engine.pool)
        data = _DATA[engine] = XquikData(
            reads, ExtractionRunner(engine.pool, reads, owner=f"node-{engine.node}")
        )
    return data


def start(engine: Engine) -> XquikData:
    data = of(engine)
    task = data.runner.start()
    engine._tasks.append(task)  # cancelled when the engine stops
    return data
