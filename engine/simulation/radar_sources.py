"""Stand-ins for the radar's public sources (engine/xquik/monitors/radar.py), for tests and the demo.

    async with RadarSources() as src:                    # in-process, on a free port
        src.story("Show HN: a thing", points=120, comments=30, by="pg", age_minutes=30)
        src.most_read("en", "Ada_Lovelace", views=90_000, extract="English mathematician")
        settings: radar.hacker_news_url = radar.wikipedia_url = src.base_url

Hacker News' Firebase API: GET /v0/topstories.json (ids, best first) and /v0/item/{id}.json (`null`
for an unknown id, as Firebase answers). Wikimedia's feed: GET /feed/v1/wikipedia/{lang}/featured/
{yyyy}/{mm}/{dd} with `mostread: {date, articles: [{views, rank, title, normalizedtitle, pageid,
extract, thumbnail, content_urls}]}` (404 for a language it has nothing for). `requests` counts calls.
This module must never be imported by the engine's production path.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.social.simulation.common import SimulatorServer


def _json(body: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status, media_type="application/json")


class RadarSources(SimulatorServer):
    def __init__(self) -> None:
        self.stories: dict[int, dict[str, Any]] = {}
        self.articles: dict[str, list[dict[str, Any]]] = {}  # language -> most-read articles
        self.requests = 0
        self._next = 41_000_000
        routes = [
            Route("/v0/topstories.json", self._top),
            Route("/v0/item/{id}.json", self._item),
            Route("/feed/v1/wikipedia/{lang}/featured/{y}/{m}/{d}", self._featured),
        ]
        super().__init__(Starlette(routes=routes))

    def story(
        self, title: str, *, points: int, comments: int = 0, by: str = "someone", age_minutes: float = 10,
        url: str | None = None,
    ) -> int:  # fmt: skip
        self._next += 7
        self.stories[self._next] = {
            "id": self._next, "type": "story", "title": title, "score": points, "descendants": comments,
            "by": by, "time": int(time.time() - age_minutes * 60),
            "url": url or f"https://example.com/{self._next}",
        }  # fmt: skip
        return self._next

    def most_read(self, lang: str, title: str, *, views: int, extract: str = "") -> None:
        listed = self.articles.setdefault(lang, [])
        listed.append({
            "views": views, "rank": len(listed) + 1, "title": title,
            "normalizedtitle": title.replace("_", " "),
            "pageid": 10_000 + len(listed), "extract": extract,
            "thumbnail": {"source": f"https://upload.example.org/{title}.jpg", "width": 320, "height": 240},
            "content_urls": {"desktop": {"page": f"https://{lang}.wikipedia.org/wiki/{title}"}},
        })  # fmt: skip

    async def _top(self, request: Request) -> Response:
        self.requests += 1
        ranked = sorted(self.stories.values(), key=lambda s: -int(s["score"]))
        return _json([s["id"] for s in ranked])

    async def _item(self, request: Request) -> Response:
        self.requests += 1
        raw = request.path_params["id"]
        return _json(self.stories.get(int(raw)) if raw.isdigit() else None)

    async def _featured(self, request: Request) -> Response:
        self.requests += 1
        p = request.path_params
        listed = sorted(self.articles.get(p["lang"], []), key=lambda a: -int(a["views"]))
        if not listed:
            missing = {
                "type": "https://mediawiki.org/wiki/HyperSwitch/errors/not_found",
                "title": "Not found.",
            }
            return _json(missing, 404)
        return _json({"mostread": {"date": f"{p['y']}-{p['m']}-{p['d']}Z", "articles": listed}})
