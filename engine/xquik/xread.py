"""Reads of X for Xquik's draws, extractions and media downloads: X API v2 over httpx, paging by X's
own tokens, as the account's connected X account (its OAuth 2.0 bearer, refreshed by
engine/social/accounts; the deployment holds no app-wide X token).

    reads = XReads(base_url, social_layer, pool)             # one HTTP client for the process
    reader = await reads.for_account(account_id)             # 403 account_needs_reauth: none connected
    tweet = await reader.tweet("1893...")                    # GET /2/tweets?ids= (metrics, media, author)
    async for page in reader.pages("/2/users/ID/followers", {...}, cursor=None): ...

Errors are `XReadError` with the document's codes: tweet_not_found / user_not_found (404),
x_api_rate_limited (429), x_api_unauthorized (502), x_api_unavailable (502).
This module must never store anything.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from engine.social.errors import SocialError

TWEET_FIELDS = "author_id,conversation_id,created_at,lang,public_metrics,referenced_tweets,attachments"
USER_FIELDS = "created_at,description,location,profile_image_url,public_metrics,verified"
EXPANSIONS = "author_id,attachments.media_keys"
MEDIA_FIELDS = "type,url,variants,preview_image_url"


class XReadError(Exception):
    def __init__(self, code: str, status: int, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Page:
    data: list[dict[str, Any]]
    users: dict[str, dict[str, Any]]  # includes.users by id
    media: dict[str, dict[str, Any]]  # includes.media by media_key
    next_token: str | None


class XReads:
    """Builds an account's reader over one shared HTTP client."""

    def __init__(self, base_url: str, social: Any, pool: asyncpg.Pool, *, timeout: float = 15.0) -> None:
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)
        self.social = social  # engine.social.runtime.SocialLayer
        self.pool = pool

    async def aclose(self) -> None:
        await self.client.aclose()

    async def for_account(self, account_id: int) -> XReader:
        social_account_id = await self.pool.fetchval(
            "SELECT id FROM social_accounts WHERE account_id = $1 AND platform = 'x' AND state = 'active'"
            " ORDER BY id LIMIT 1",
            account_id,
        )
        if social_account_id is None or self.social is None:
            raise XReadError("account_needs_reauth", 403, "connect an X account in the dashboard first")
        try:
            session = await self.social.accounts.session(social_account_id, account_id=account_id)
        except (KeyError, SocialError) as exc:
            raise XReadError("account_needs_reauth", 403, str(exc)) from exc
        return XReader(self.client, session.tokens.access_token)


class XReader:
    def __init__(self, client: httpx.AsyncClient, token: Callable[[], Awaitable[str]]) -> None:
        self._client = client
        self._token = token

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            token = await self._token()
        except SocialError as exc:
            raise XReadError("account_needs_reauth", 403, str(exc)) from exc
        try:
            response = await self._client.get(
                path, params=params, headers={"authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise XReadError("x_api_unavailable", 502, str(exc)) from exc
        if response.status_code == 429:
            raise XReadError("x_api_rate_limited", 429)
        if response.status_code == 401:
            raise XReadError("x_api_unauthorized", 502)
        if response.status_code >= 500:
            raise XReadError("x_api_unavailable", 502, f"X answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise XReadError("x_api_unavailable", 502, "X answered no JSON") from exc
        if not isinstance(body, dict):
            raise XReadError("x_api_unavailable", 502, "X answered no object")
        if response.status_code == 403:
            raise XReadError("x_api_unauthorized", 502, str(body.get("detail", "")))
        if response.status_code >= 400:
            raise XReadError("invalid_input", 400, str(body.get("detail", "")))
        if "data" not in body and body.get("errors"):
            kind = str(body["errors"][0].get("resource_type", ""))
            raise XReadError("user_not_found" if kind == "user" else "tweet_not_found", 404)
        return body

    async def page(self, path: str, params: dict[str, Any]) -> Page:
        body = await self.get(path, params)
        includes = body.get("includes") or {}
        data = body.get("data") or []
        return Page(
            data=data if isinstance(data, list) else [data],
            users={u["id"]: u for u in includes.get("users") or []},
            media={m["media_key"]: m for m in includes.get("media") or []},
            next_token=(body.get("meta") or {}).get("next_token"),
        )

    async def pages(
        self, path: str, params: dict[str, Any], *, token_param: str, cursor: str | None = None
    ) -> AsyncIterator[Page]:
        """Pages from `cursor` on (None: the first); each carries the token of the one after it."""
        while True:
            query = dict(params)
            if cursor:
                query[token_param] = cursor
            page = await self.page(path, query)
            yield page
            if not page.next_token:
                return
            cursor = page.next_token

    async def tweets(self, ids: list[str]) -> Page:
        """Tweet lookup (100 at most) with metrics, author and media; unknown ids are left out."""
        params = {
            "ids": ",".join(ids),
            "tweet.fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user.fields": USER_FIELDS,
            "media.fields": MEDIA_FIELDS,
        }
        body = await self.get("/2/tweets", params)
        includes = body.get("includes") or {}
        return Page(
            data=body.get("data") or [],
            users={u["id"]: u for u in includes.get("users") or []},
            media={m["media_key"]: m for m in includes.get("media") or []},
            next_token=None,
        )

    async def tweet(self, tweet_id: str) -> tuple[dict[str, Any], dict[str, Any] | None, Page]:
        page = await self.tweets([tweet_id])
        if not page.data:
            raise XReadError("tweet_not_found", 404)
        tweet = page.data[0]
        return tweet, page.users.get(tweet.get("author_id", "")), page

    async def user_by_username(self, username: str) -> dict[str, Any]:
        body = await self.get(f"/2/users/by/username/{username}", {"user.fields": USER_FIELDS})
        user = body["data"]
        if "public_metrics" not in user:  # an endpoint that ignores user.fields: look the id up
            found = await self.users([user["id"]])
            user = found.get(user["id"], user)
        return dict(user)

    async def users(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            try:
                body = await self.get("/2/users", {"ids": ",".join(chunk), "user.fields": USER_FIELDS})
            except XReadError as exc:
                if exc.status == 404:
                    continue
                raise
            out.update({u["id"]: u for u in body.get("data") or []})
        return out


# ------------------------------------------------------------------------------ tweet references

_STATUS_URL = re.compile(
    r"^(?:https?://)?(?:www\.|mobile\.)?(?:x\.com|twitter\.com)/(?:[A-Za-z0-9_]{1,15}|i/web|i)/status(?:es)?/"
    r"(\d{1,20})(?:[/?#].*)?$"
)


def tweet_id_of(value: object) -> str | None:
    """The tweet id of a numeric id or an x.com / twitter.com status URL; None otherwise."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isdigit() and 0 < len(text) <= 20:
        return text
    match = _STATUS_URL.match(text)
    return match.group(1) if match else None


def media_url(item: dict[str, Any]) -> str:
    """The downloadable URL of an includes.media item: a photo's url, a video's best mp4 variant."""
    if item.get("url"):
        return str(item["url"])
    variants = [v for v in item.get("variants") or [] if v.get("content_type") == "video/mp4"]
    best = max(variants, key=lambda v: v.get("bit_rate", 0), default=None)
    return str(best["url"]) if best else str(item.get("preview_image_url", ""))
