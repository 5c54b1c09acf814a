"""GET /radar: trending items from the radar's sources that have a public API a simulator stands in for.

    radar = Radar(settings.radar); await radar.items(source=None, category=None, hours=6, region="global")
    await radar.aclose()

| source        | read from (base URL: a setting)                                               |
|---------------|-------------------------------------------------------------------------------|
| hacker_news   | HN's Firebase API: /v0/topstories.json, then /v0/item/{id}.json for the top 30 |
| wikipedia     | Wikimedia's feed: /feed/v1/wikipedia/{lang}/featured/{yyyy}/{mm}/{dd} mostread  |
| google_trends, polymarket, | unsupported here: no items (the document's filters accept them)          |
| trustmrr, github, reddit    |                                                                          |

Google Trends has no public API, GitHub Trending is a web page, Reddit's and Polymarket's APIs need
credentials or terms this deployment does not hold, TrustMRR has none: asking for them answers an empty
page, not an error. Items: HN stories are category "tech", region "global", language "en", score their
points (metadata points / numberComments / author); Wikipedia's most-read articles of the region's
language (US, GB, CA, IN, global: en; TR: tr; ES, MX: es; DE: de; FR: fr; JP: ja; BR: pt) are category
"general", score their views (metadata views / rank), published when the list was read. A source's
answer is kept `refresh_seconds`; a source that fails is skipped (its items are missing, not an error).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import structlog

from engine.infra.settings import RadarSettings

log = structlog.get_logger("engine.xquik.radar")

SOURCES = ("google_trends", "hacker_news", "polymarket", "trustmrr", "wikipedia", "github", "reddit")
SUPPORTED = ("hacker_news", "wikipedia")
CATEGORIES = ("general", "tech", "dev", "science", "culture", "politics", "business", "entertainment")
REGIONS = ("US", "GB", "TR", "ES", "DE", "FR", "JP", "IN", "BR", "CA", "MX", "global")
LANGUAGE = {"TR": "tr", "ES": "es", "MX": "es", "DE": "de", "FR": "fr", "JP": "ja", "BR": "pt"}
HN_TOP = 30


class HnItem(msgspec.Struct, frozen=True):
    id: int
    title: str = ""
    url: str | None = None
    score: int = 0
    by: str = ""
    time: int = 0
    descendants: int = 0
    type: str = "story"


class WikiThumb(msgspec.Struct, frozen=True):
    source: str


class WikiUrls(msgspec.Struct, frozen=True):
    page: str


class WikiContent(msgspec.Struct, frozen=True):
    desktop: WikiUrls | None = None


class WikiArticle(msgspec.Struct, frozen=True):
    title: str
    views: int = 0
    rank: int = 0
    pageid: int = 0
    normalizedtitle: str | None = None
    extract: str | None = None
    description: str | None = None
    thumbnail: WikiThumb | None = None
    content_urls: WikiContent | None = None


class WikiMostRead(msgspec.Struct, frozen=True):
    articles: list[WikiArticle] = []


class WikiFeed(msgspec.Struct, frozen=True):
    mostread: WikiMostRead | None = None


@dataclass(frozen=True)
class RadarItem:
    id: str
    title: str
    source: str
    source_id: str
    category: str
    region: str
    language: str
    score: int
    metadata: dict[str, Any]
    published_at: datetime
    created_at: datetime
    description: str | None = None
    url: str | None = None
    image_url: str | None = None


@dataclass
class _Cached:
    at: float
    items: list[RadarItem] = field(default_factory=list)


class Radar:
    def __init__(self, settings: RadarSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self.hacker_news_url = settings.hacker_news_url  # may be pointed elsewhere at run time (tests)
        self.wikipedia_url = settings.wikipedia_url
        self._http = httpx.AsyncClient(
            timeout=settings.request_timeout_seconds, transport=transport, follow_redirects=False,
            headers={"User-Agent": "smsengine-radar/1"},
        )  # fmt: skip
        self._cache: dict[tuple[str, str], _Cached] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def items(
        self, *, source: str | None, category: str | None, hours: int, region: str
    ) -> list[RadarItem]:
        """Every item matching the filters, best score first (ties: newest id first)."""
        wanted = [s for s in SUPPORTED if source in (None, s)]
        found: list[RadarItem] = []
        for name in wanted:
            language = LANGUAGE.get(region, "en") if name == "wikipedia" else "en"
            found += await self._source(name, language)
        since = datetime.now(UTC) - timedelta(hours=hours)
        chosen = [
            i for i in found
            if (category is None or i.category == category) and i.region in (region, "global")
            and i.published_at >= since
        ]  # fmt: skip
        return sorted(chosen, key=lambda i: (-i.score, i.source_id))

    async def _source(self, name: str, language: str) -> list[RadarItem]:
        key = (name, language)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached.at < self._settings.refresh_seconds:
            return cached.items
        try:
            items = await (self._hacker_news() if name == "hacker_news" else self._wikipedia(language))
        except (httpx.HTTPError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.info("radar source unavailable", source=name, error=repr(exc))
            return cached.items if cached is not None else []
        self._cache[key] = _Cached(time.monotonic(), items)
        return items

    async def _hacker_news(self) -> list[RadarItem]:
        base = self.hacker_news_url.rstrip("/")
        response = await self._http.get(f"{base}/v0/topstories.json")
        response.raise_for_status()
        ids = msgspec.json.decode(response.content, type=list[int])[:HN_TOP]

        async def one(story: int) -> HnItem | None:
            r = await self._http.get(f"{base}/v0/item/{story}.json")
            r.raise_for_status()
            return msgspec.json.decode(r.content, type=HnItem | None)

        now = datetime.now(UTC)
        out = []
        for item in await asyncio.gather(*(one(i) for i in ids)):
            if item is None or item.type != "story" or not item.title:
                continue
            out.append(RadarItem(
                id=str(item.id), title=item.title, source="hacker_news", source_id=f"hn_{item.id}",
                category="tech", region="global", language="en", score=item.score,
                metadata={"points": item.score, "numberComments": item.descendants, "author": item.by},
                published_at=datetime.fromtimestamp(item.time, UTC), created_at=now,
                url=item.url or f"https://news.ycombinator.com/item?id={item.id}",
            ))  # fmt: skip
        return out

    async def _wikipedia(self, language: str) -> list[RadarItem]:
        base = self.wikipedia_url.rstrip("/")
        now = datetime.now(UTC)
        feed: WikiFeed | None = None
        for day in (now, now - timedelta(days=1)):  # today's list may not be out yet
            r = await self._http.get(f"{base}/feed/v1/wikipedia/{language}/featured/{day:%Y/%m/%d}")
            if r.status_code == 404:
                continue
            r.raise_for_status()
            feed = msgspec.json.decode(r.content, type=WikiFeed)
            break
        if feed is None or feed.mostread is None:
            return []
        region = "global" if language == "en" else next(k for k, v in LANGUAGE.items() if v == language)
        out = []
        for a in feed.mostread.articles:
            title = a.normalizedtitle or a.title.replace("_", " ")
            page = a.content_urls.desktop.page if a.content_urls and a.content_urls.desktop else None
            out.append(RadarItem(
                id=str(a.pageid or zlib.crc32(f"{language}:{a.title}".encode())), title=title,
                source="wikipedia",
                source_id=f"wiki_{language}_{a.title}", category="general", region=region, language=language,
                score=a.views, metadata={"views": a.views, "rank": a.rank}, published_at=now, created_at=now,
                description=a.extract or a.description, url=page,
                image_url=a.thumbnail.source if a.thumbnail else None,
            ))  # fmt: skip
        return out
