"""Giveaway draws from a tweet's replies (seed 002 "Draws").

    draw = await create_draw(pool, reader, account_id, body)   # reads X, checks every entry, picks, stores
    page, cursor = await list_draws(pool, account_id, after=None, limit=50)
    full = await get_draw(pool, account_id, draw_id)            # with winners and the seed
    rows = await draw_rows(pool, account_id, draw_id, "entries", cap)

Entries are the tweet's direct replies (X API v2 full-archive search `conversation_id:<id>`, oldest
first), the tweet author's own replies left out. Each is checked in order: uniqueAuthorsOnly (an
author's first reply only), mustRetweet (GET /2/tweets/:id/retweeted_by), mustFollowUsername (the
account's GET /2/users/:id/followers), filterMinFollowers, filterAccountAgeDays, filterLanguage (the
reply's lang), requiredKeywords / Hashtags / Mentions (all of them, case-insensitive, in the text).
The pick is engine/xquik/draws/pick.py over the valid entries, with a seed stored on the draw.
This module must never charge anything.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec

from engine.xquik.draws.pick import new_seed, rank
from engine.xquik.xread import TWEET_FIELDS, USER_FIELDS, XReader, tweet_id_of

MAX_WINNERS = 1000


class DrawError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DrawError("invalid_input", f"{name} must be an integer {low}..{high}")
    return value


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise DrawError("invalid_input", f"{name} must be a boolean")
    return value


def _words(body: dict[str, Any], name: str, prefix: str = "") -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) and v.strip() for v in value)
        or len(value) > 50
    ):
        raise DrawError("invalid_input", f"{name} must be a list of non-empty strings")
    return [prefix + v.strip().lstrip(prefix).lower() if prefix else v.strip().lower() for v in value]


_USERNAME = re.compile(r"^@?[A-Za-z0-9_]{1,15}$")


def options(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise DrawError("invalid_input", "the body must be a JSON object")
    url = body.get("tweetUrl")
    if url is None or url == "":
        raise DrawError("invalid_input", "tweetUrl is required")
    tweet_id = tweet_id_of(url)
    if tweet_id is None:
        raise DrawError("invalid_tweet_url", "tweetUrl is not an x.com or twitter.com status URL")
    follow = body.get("mustFollowUsername")
    if follow is not None and (not isinstance(follow, str) or not _USERNAME.match(follow)):
        raise DrawError("invalid_username", "mustFollowUsername is not a valid X username")
    language = body.get("filterLanguage")
    if language is not None and (not isinstance(language, str) or not 2 <= len(language) <= 8):
        raise DrawError("invalid_input", "filterLanguage must be a language code")
    return {
        "tweetId": tweet_id,
        "tweetUrl": url.strip(),
        "winnerCount": _int(body, "winnerCount", 1, 1, MAX_WINNERS),
        "backupCount": _int(body, "backupCount", 0, 0, MAX_WINNERS),
        "uniqueAuthorsOnly": _bool(body, "uniqueAuthorsOnly", True),
        "mustRetweet": _bool(body, "mustRetweet", False),
        "mustFollowUsername": follow.lstrip("@") if isinstance(follow, str) else None,
        "filterMinFollowers": _int(body, "filterMinFollowers", 0, 0, 1 << 31),
        "filterAccountAgeDays": _int(body, "filterAccountAgeDays", 0, 0, 100_000),
        "filterLanguage": language,
        "requiredKeywords": _words(body, "requiredKeywords"),
        "requiredHashtags": _words(body, "requiredHashtags", "#"),
        "requiredMentions": _words(body, "requiredMentions", "@"),
    }


async def _ids(reader: XReader, path: str) -> set[str]:
    found: set[str] = set()
    params = {"max_results": 100 if "/tweets/" in path else 1000}
    async for page in reader.pages(path, params, token_param="pagination_token"):
        found.update(u["id"] for u in page.data)
    return found


def _reason(
    entry: dict[str, Any], opts: dict[str, Any], seen: set[str], context: dict[str, Any]
) -> str | None:
    author = entry["authorId"]
    if opts["uniqueAuthorsOnly"] and author in seen:
        return "duplicate_author"
    if context["retweeters"] is not None and author not in context["retweeters"]:
        return "not_retweeted"
    if context["followers"] is not None and author not in context["followers"]:
        return "not_following"
    if (entry.get("authorFollowersCount") or 0) < opts["filterMinFollowers"]:
        return "too_few_followers"
    if opts["filterAccountAgeDays"]:
        created = entry.get("authorCreatedAt")
        try:
            born = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        except ValueError:
            return "account_too_new"
        if (context["now"] - born).days < opts["filterAccountAgeDays"]:
            return "account_too_new"
    if opts["filterLanguage"] and entry.get("lang") != opts["filterLanguage"]:
        return "wrong_language"
    text = entry["text"].lower()
    words = set(re.findall(r"[#@]?\w+", text))
    if any(k not in text for k in opts["requiredKeywords"]):
        return "missing_keyword"
    if any(h not in words for h in opts["requiredHashtags"]):
        return "missing_hashtag"
    if any(m not in words for m in opts["requiredMentions"]):
        return "missing_mention"
    return None


async def create_draw(pool: asyncpg.Pool, reader: XReader, account_id: int, body: object) -> dict[str, Any]:
    opts = options(body)
    tweet_id = opts["tweetId"]
    tweet, author, _ = await reader.tweet(tweet_id)
    metrics = tweet.get("public_metrics") or {}
    owner = tweet.get("author_id", "")

    entries: list[dict[str, Any]] = []
    query = {
        "query": f"conversation_id:{tweet_id}",
        "tweet.fields": TWEET_FIELDS,
        "expansions": "author_id",
        "user.fields": USER_FIELDS,
        "max_results": 500,
    }
    async for page in reader.pages("/2/tweets/search/all", query, token_param="next_token"):
        for reply in page.data:
            parents = [r["id"] for r in reply.get("referenced_tweets") or [] if r.get("type") == "replied_to"]
            if parents != [tweet_id] or reply.get("author_id") == owner:
                continue
            user = page.users.get(reply.get("author_id", ""), {})
            entries.append(
                {
                    "tweetId": reply["id"],
                    "authorId": reply.get("author_id", ""),
                    "authorUsername": user.get("username", ""),
                    "authorName": user.get("name", ""),
                    "authorFollowersCount": (user.get("public_metrics") or {}).get("followers_count"),
                    "authorVerified": user.get("verified"),
                    "authorCreatedAt": user.get("created_at"),
                    "text": reply.get("text", ""),
                    "lang": reply.get("lang"),
                    "createdAt": reply.get("created_at"),
                }
            )
    entries.sort(key=lambda e: int(e["tweetId"]))

    context: dict[str, Any] = {"now": datetime.now(UTC), "retweeters": None, "followers": None}
    if opts["mustRetweet"]:
        context["retweeters"] = await _ids(reader, f"/2/tweets/{tweet_id}/retweeted_by")
    if opts["mustFollowUsername"]:
        followed = await reader.user_by_username(opts["mustFollowUsername"])
        context["followers"] = await _ids(reader, f"/2/users/{followed['id']}/followers")

    seen: set[str] = set()
    for entry in entries:
        entry["reason"] = _reason(entry, opts, seen, context)
        entry["valid"] = entry["reason"] is None
        seen.add(entry["authorId"])
    seed = new_seed()
    ranked = rank(seed, [e["tweetId"] for e in entries if e["valid"]])
    picked = {t: n + 1 for n, t in enumerate(ranked[: opts["winnerCount"] + opts["backupCount"]])}
    valid = sum(1 for e in entries if e["valid"])

    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO xquik_draws (account_id, tweet_id, tweet_url, tweet_text, tweet_author_username,"
            " tweet_like_count, tweet_retweet_count, tweet_reply_count, tweet_quote_count, status,"
            " total_entries, valid_entries, options, seed, drawn_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'completed', $10, $11, $12::jsonb, $13, now())"
            " RETURNING *",
            account_id, tweet_id, opts["tweetUrl"], tweet.get("text", ""), (author or {}).get("username", ""),
            metrics.get("like_count", 0), metrics.get("retweet_count", 0), metrics.get("reply_count", 0),
            metrics.get("quote_count", 0), len(entries), valid, msgspec.json.encode(opts).decode(), seed,
        )  # fmt: skip
        assert row is not None
        await conn.copy_records_to_table(
            "xquik_draw_entries",
            records=[
                (
                    row["id"],
                    seq,
                    e["tweetId"],
                    e["authorId"],
                    e["authorUsername"],
                    msgspec.json.encode(e).decode(),
                    e["valid"],
                    e["reason"],
                    picked.get(e["tweetId"]),
                    picked.get(e["tweetId"], 0) > opts["winnerCount"],
                )
                for seq, e in enumerate(entries)
            ],
            columns=[
                "draw_id",
                "seq",
                "tweet_id",
                "author_id",
                "author_username",
                "data",
                "valid",
                "reason",
                "position",
                "is_backup",
            ],
        )
    return _draw(row)


def _draw(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "tweetId": row["tweet_id"],
        "tweetUrl": row["tweet_url"],
        "tweetText": row["tweet_text"],
        "tweetAuthorUsername": row["tweet_author_username"],
        "tweetLikeCount": row["tweet_like_count"],
        "tweetRetweetCount": row["tweet_retweet_count"],
        "tweetReplyCount": row["tweet_reply_count"],
        "tweetQuoteCount": row["tweet_quote_count"],
        "status": row["status"],
        "totalEntries": row["total_entries"],
        "validEntries": row["valid_entries"],
        "createdAt": _iso(row["created_at"]),
        "drawnAt": _iso(row["drawn_at"]),
    }


def _compact(row: asyncpg.Record) -> dict[str, Any]:
    full = _draw(row)
    return {k: full[k] for k in ("id", "tweetId", "tweetUrl", "tweetAuthorUsername", "status", "totalEntries",
                                 "validEntries", "createdAt", "drawnAt")}  # fmt: skip


def _cursor(draw_id: int) -> str:
    return base64.urlsafe_b64encode(f"d:{draw_id}".encode()).decode().rstrip("=")


def _after(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("d:")) if text.startswith("d:") else -1
    except ValueError:
        return -1


async def list_draws(
    pool: asyncpg.Pool, account_id: int, *, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    before = _after(after) if after else None
    if before == -1:
        raise DrawError("invalid_input", "cursor is not valid")
    rows = await pool.fetch(
        "SELECT * FROM xquik_draws WHERE account_id = $1 AND ($2::bigint IS NULL OR id < $2)"
        " ORDER BY id DESC LIMIT $3",
        account_id, before, limit + 1,
    )  # fmt: skip
    cursor = _cursor(rows[limit - 1]["id"]) if len(rows) > limit else None
    return [_compact(r) for r in rows[:limit]], cursor


async def _own(pool: asyncpg.Pool, account_id: int, draw_id: str) -> asyncpg.Record | None:
    if not draw_id.isdigit() or len(draw_id) > 18:
        raise DrawError("invalid_id", "the draw id is not valid")
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT * FROM xquik_draws WHERE id = $1 AND account_id = $2", int(draw_id), account_id
    )
    return row


async def get_draw(pool: asyncpg.Pool, account_id: int, draw_id: str) -> dict[str, Any] | None:
    row = await _own(pool, account_id, draw_id)
    if row is None:
        return None
    picked = await pool.fetch(
        "SELECT position, author_username, tweet_id, is_backup FROM xquik_draw_entries"
        " WHERE draw_id = $1 AND position IS NOT NULL ORDER BY position",
        row["id"],
    )
    opts = msgspec.json.decode(row["options"])
    out = _draw(row)
    out["winners"] = [
        {
            "position": p["position"],
            "authorUsername": p["author_username"],
            "tweetId": p["tweet_id"],
            "isBackup": p["is_backup"],
        }
        for p in picked
    ]
    out["options"] = {k: v for k, v in opts.items() if k not in {"tweetId", "tweetUrl"}}
    out["seed"] = row["seed"]
    out["pickRule"] = "sha256(seed + ':' + entryTweetId) ascending over the valid entries"
    return out


ENTRY_COLUMNS = ["seq", "tweetId", "authorId", "authorUsername", "authorName", "authorFollowersCount",
                 "authorVerified", "authorCreatedAt", "text", "lang", "createdAt", "valid", "reason",
                 "position", "isBackup"]  # fmt: skip
WINNER_COLUMNS = ["position", "isBackup", "authorUsername", "authorName", "tweetId", "text",
                  "authorFollowersCount", "createdAt"]  # fmt: skip


async def draw_rows(
    pool: asyncpg.Pool, account_id: int, draw_id: str, kind: str, cap: int
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    row = await _own(pool, account_id, draw_id)
    if row is None:
        return None
    where = "AND position IS NOT NULL ORDER BY position" if kind == "winners" else "ORDER BY seq"
    records = await pool.fetch(
        f"SELECT seq, data, position, is_backup FROM xquik_draw_entries WHERE draw_id = $1 {where} LIMIT $2",
        row["id"], cap,
    )  # fmt: skip
    rows = []
    for r in records:
        data = msgspec.json.decode(r["data"])
        data.update(seq=r["seq"], position=r["position"], isBackup=r["is_backup"])
        rows.append(data)
    return _draw(row) | {"seed": row["seed"]}, rows
