"""X media downloads (seed 002 "X Media (Download)"): a tweet's photos, videos and GIFs as a gallery our
app serves, the first download of a tweet metered, a repeat a free cache hit.

    answer = await download(pool, reader, account_id, body, gallery_base="https://host/xquik/gallery")
    gallery = await gallery_of(pool, gallery_id)

Body: exactly one of `tweetInput` (a URL or id) and `tweetIds` (1..50 URLs or ids). Tweets are read with
X API v2 tweet lookup (GET /2/tweets?ids=, expansions=attachments.media_keys). Each tweet first
downloaded costs CREDITS_PER_TWEET, held before X is asked (402 insufficient_credits before any work)
and captured for the tweets that had media; cached tweets (xquik_media, per account) cost nothing.
This module must never serve HTTP.
"""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg
import msgspec

from engine.xquik import credits
from engine.xquik.xread import XReader, media_url, tweet_id_of

CREDITS_PER_TWEET = 1
MAX_BULK = 50
KIND = "x.media.download"


class MediaError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _parse(value: object) -> str:
    tweet_id = tweet_id_of(value)
    if tweet_id is None:
        looks_like_url = isinstance(value, str) and ("/" in value or "." in value)
        raise MediaError(
            "invalid_tweet_url" if looks_like_url else "invalid_tweet_id",
            f"{str(value)[:80]!r} is not a tweet",
        )
    return tweet_id


def tweets_of(body: object) -> tuple[list[str], bool]:
    """(tweet ids, bulk?) of a request body; MediaError for the document's refusals."""
    if not isinstance(body, dict):
        raise MediaError("invalid_input", "the body must be a JSON object")
    single, bulk = body.get("tweetInput"), body.get("tweetIds")
    if (single is None) == (bulk is None):
        raise MediaError("invalid_input", "exactly one of tweetInput and tweetIds is required")
    if single is not None:
        return [_parse(single)], False
    if not isinstance(bulk, list) or not bulk:
        raise MediaError("invalid_input", "tweetIds must be a non-empty array")
    if len(bulk) > MAX_BULK:
        raise MediaError("too_many_tweets", f"tweetIds holds {len(bulk)} items, {MAX_BULK} at most")
    ids = list(dict.fromkeys(_parse(v) for v in bulk))
    return ids, True


async def download(
    pool: asyncpg.Pool, reader: XReader, account_id: int, body: object, *, gallery_base: str
) -> dict[str, Any]:
    ids, bulk = tweets_of(body)
    cached = {
        r["tweet_id"]: (r["gallery_id"], msgspec.json.decode(r["media"]))
        for r in await pool.fetch(
            "SELECT tweet_id, gallery_id, media FROM xquik_media"
            " WHERE account_id = $1 AND tweet_id = ANY($2)",
            account_id,
            ids,
        )
    }
    if not bulk and ids[0] in cached:
        return {"tweetId": ids[0], "galleryUrl": f"{gallery_base}/{cached[ids[0]][0]}", "cacheHit": True}

    fresh = [t for t in ids if t not in cached]
    gallery_id = secrets.token_urlsafe(9)
    hold = None
    if fresh:
        hold = await credits.reserve(
            pool, account_id, len(fresh) * CREDITS_PER_TWEET, KIND, f"media:{gallery_id}"
        )
    try:
        found: dict[str, list[dict[str, str]]] = {}
        if fresh:
            page = await reader.tweets(fresh)
            for tweet in page.data:
                keys = (tweet.get("attachments") or {}).get("media_keys") or []
                items = [page.media[k] for k in keys if k in page.media]
                media = [
                    {"mediaKey": m["media_key"], "type": m.get("type", ""), "url": media_url(m)}
                    for m in items
                ]
                if media:
                    found[tweet["id"]] = media
            if not bulk and not page.data:
                raise MediaError("tweet_not_found", "the tweet was not found", 404)
        media_by_tweet = {t: cached[t][1] for t in ids if t in cached} | found
        if not media_by_tweet:
            raise MediaError("no_media", "the tweet has no downloadable media")
        all_media = [dict(m, tweetId=t) for t in ids if t in media_by_tweet for m in media_by_tweet[t]]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO xquik_galleries (id, account_id, tweet_ids, media)"
                " VALUES ($1, $2, $3, $4::jsonb)",
                gallery_id, account_id, [t for t in ids if t in media_by_tweet],
                msgspec.json.encode(all_media).decode(),
            )  # fmt: skip
            await conn.executemany(
                "INSERT INTO xquik_media (account_id, tweet_id, media, gallery_id)"
                " VALUES ($1, $2, $3::jsonb, $4)"
                " ON CONFLICT DO NOTHING",
                [(account_id, t, msgspec.json.encode(m).decode(), gallery_id) for t, m in found.items()],
            )
    except BaseException:
        if hold is not None:
            await credits.release(pool, hold)
        raise
    if hold is not None:
        await credits.capture(pool, hold, len(found) * CREDITS_PER_TWEET)
    url = f"{gallery_base}/{gallery_id}"
    if not bulk:
        return {"tweetId": ids[0], "galleryUrl": url, "cacheHit": False}
    return {"galleryUrl": url, "totalTweets": len(media_by_tweet), "totalMedia": len(all_media)}


async def gallery_of(pool: asyncpg.Pool, gallery_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT id, tweet_ids, media, created_at FROM xquik_galleries WHERE id = $1", gallery_id
    )
    if row is None:
        return None
    return {"id": row["id"], "tweetIds": list(row["tweet_ids"]), "media": msgspec.json.decode(row["media"])}
