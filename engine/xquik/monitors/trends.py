"""GET /trends: a WOEID's trends from X (GET /2/trends/by/woeid/:woeid), cached in `xquik_trends`.

The cache is shared by every node: a WOEID is asked of X at most once per `ttl` seconds (the document:
"Cached, refreshes every 15 minutes"), always for X's 50 so any `count` up to 50 is served from it.
Metering is the caller's (the HTTP route charges through engine/xquik/credits.py).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from engine.xquik.monitors.x_source import XSource

WOEIDS = (1, 23424977, 23424975, 23424969, 23424950, 23424829, 23424819, 23424856, 23424848, 23424768,
          23424775, 23424900)  # fmt: skip
MAX_TRENDS = 50  # X API v2: max_trends 1-50


def _described(count: int | None) -> str:
    if count is None:
        return ""
    return f"{count / 1000:.1f}K posts" if count >= 10_000 else f"{count} posts"


class Trends:
    def __init__(self, pool: asyncpg.Pool, source: XSource, *, ttl: float = 900.0) -> None:
        self._pool = pool
        self._source = source
        self.ttl = ttl
        self.fetched = 0  # answers fetched from X (the rest came from the cache)

    async def get(self, woeid: int, count: int) -> dict[str, Any]:
        row = await self._pool.fetchrow(
            "SELECT trends FROM xquik_trends WHERE woeid = $1 "
            "AND fetched_at > now() - make_interval(secs => $2)",
            woeid, self.ttl,
        )  # fmt: skip
        if row is not None:
            trends = (
                msgspec.json.decode(row["trends"])
                if isinstance(row["trends"], str | bytes)
                else row["trends"]
            )
        else:
            answer = await self._source.trends(woeid, MAX_TRENDS)
            trends = [
                {
                    "name": t.trend_name,
                    "description": _described(t.tweet_count),
                    "rank": n,
                    "query": t.trend_name,
                }
                for n, t in enumerate(answer, 1)
            ]
            await self._pool.execute(
                "INSERT INTO xquik_trends (woeid, fetched_at, trends) VALUES ($1, now(), $2) "
                "ON CONFLICT (woeid) DO UPDATE SET fetched_at = now(), trends = excluded.trends",
                woeid, msgspec.json.encode(trends).decode(),
            )  # fmt: skip
            self.fetched += 1
        chosen = trends[:count]
        return {"trends": chosen, "total": len(chosen), "woeid": woeid}
