"""Xquik Tweet Style Cache and Compose.

POST   /styles                      {username}: the account's recent tweets (GET /2/users/by/username,
                                    then /2/users/:id/tweets, up to FETCH_COUNT), cached; 1 credit a
                                    tweet fetched. isOwnAccount: the username is the caller's X identity
                                    (PUT /account/x-identity, xquik_accounts.x_username)
GET    /styles                      {styles: [{xUsername, tweetCount, isOwnAccount, fetchedAt}]}, newest
                                    fetch first, 200 at most
PUT    /styles/{username}           {label 1-30, tweets: [{text}] 1-100}: a custom style under `label`
                                    (replacing one of that label), free; 400 invalid_input
GET    /styles/{username}           the style with its tweets | 404 style_not_found
DELETE /styles/{username}           204 | 404 style_not_found
GET    /styles/compare              ?username1=&username2=: {style1, style2} | 400 missing_params | 404
GET    /styles/{username}/performance   live metrics of the cached tweets (GET /2/tweets?ids=), 1 credit
                                    a tweet found
POST   /compose                     {step: compose | refine | score, ...}: engine/xquik/compose.py, free
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import Meta

from engine.xquik import compose as rules
from engine.xquik.x_prices import cost_of, reserve_for
from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import (
    DIALECT,
    NONBLANK,
    PREFIX,
    USERNAME_PATTERN,
    XquikIn,
    XquikOut,
    shown,
    stamp,
    xquik_error,
)
from http_api.xquik.metering import metered
from http_api.xquik.x_common import direct, username_of, x_read, x_session

TAG = "Xquik styles and compose"
FETCH_COUNT = 20
_COLUMNS = "x_username, is_own_account, tweets, fetched_at"


class StyleFetch(XquikIn, frozen=True):
    username: Annotated[str, Meta(max_length=64), shown(pattern=USERNAME_PATTERN)]


class StyleTweetIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: Annotated[str, Meta(min_length=1, max_length=25_000)]  # blank: 400 (a pattern slows generation)


class CustomStyle(XquikIn, frozen=True):
    label: Annotated[str, Meta(min_length=1, max_length=30), shown(pattern=NONBLANK)]
    tweets: Annotated[list[StyleTweetIn], Meta(min_length=1, max_length=100)]


class CompareQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Both are required (400 missing_params, as the document says, when one is not given)."""

    json_schema_extra: ClassVar[dict[str, object]] = {"required": ["username1", "username2"]}
    username1: Annotated[str, Meta(max_length=64), shown(pattern=NONBLANK)] = ""
    username2: Annotated[str, Meta(max_length=64), shown(pattern=NONBLANK)] = ""


class ComposeIn(XquikIn, frozen=True):
    json_schema_extra: ClassVar[dict[str, object]] = {
        "if": {"properties": {"step": {"const": "score"}}},
        "then": {"required": ["draft"], "properties": {"draft": {"type": "string", "pattern": NONBLANK}}},
    }
    step: Literal["compose", "refine", "score"]
    topic: Annotated[str, Meta(max_length=1000)] | None = None
    goal: Literal["engagement", "followers", "authority", "conversation"] | None = None
    style_username: Annotated[str, Meta(max_length=64)] | None = None
    tone: Annotated[str, Meta(max_length=200)] | None = None
    additional_context: Annotated[str, Meta(max_length=5000)] | None = None
    call_to_action: Annotated[str, Meta(max_length=500)] | None = None
    media_type: Literal["photo", "video", "none"] | None = None
    draft: Annotated[str, Meta(max_length=25_000)] | None = None
    has_link: bool = False
    has_media: bool = False


class StyleTweet(XquikOut, frozen=True):
    id: str | None
    text: str
    author_username: str | None
    created_at: str | None


class StyleSummary(XquikOut, frozen=True):
    x_username: str
    tweet_count: int
    is_own_account: bool
    fetched_at: str


class StyleOut(StyleSummary, frozen=True):
    tweets: list[StyleTweet]


class CustomStyleOut(StyleOut, frozen=True):
    label: str


class StyleList(XquikOut, frozen=True):
    styles: list[StyleSummary]


class StyleComparison(XquikOut, frozen=True):
    style1: StyleOut
    style2: StyleOut


class TweetMetrics(XquikOut, frozen=True):
    id: str
    text: str
    like_count: int
    retweet_count: int
    reply_count: int
    quote_count: int
    view_count: int
    bookmark_count: int


class Performance(XquikOut, frozen=True):
    x_username: str
    tweet_count: int
    tweets: list[TweetMetrics]


class Check(XquikOut, frozen=True):
    factor: str
    passed: bool
    suggestion: str | None


class Composed(XquikOut, frozen=True, omit_defaults=True):
    """What POST /compose answers, by step: compose (contentRules, scorerWeights, followUpQuestions,
    algorithmInsights, engagementMultipliers, topPenalties), refine (compositionGuidance,
    examplePatterns) or score (totalChecks, passedCount, topSuggestion, checklist)."""

    content_rules: list[Any] | None = None
    scorer_weights: dict[str, int] | None = None
    follow_up_questions: list[str] | None = None
    algorithm_insights: list[Any] | None = None
    engagement_multipliers: list[Any] | None = None
    top_penalties: list[Any] | None = None
    composition_guidance: list[str] | None = None
    example_patterns: list[Any] | None = None
    total_checks: int | None = None
    passed_count: int | None = None
    top_suggestion: str | None = None
    checklist: list[Check] | None = None


def _decode(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def style_out(row: Any, *, tweets: bool = True) -> dict[str, Any]:
    items = _decode(row["tweets"])
    out: dict[str, Any] = {
        "xUsername": row["x_username"], "tweetCount": len(items), "isOwnAccount": row["is_own_account"],
        "fetchedAt": stamp(row["fetched_at"]),
    }  # fmt: skip
    if tweets:
        out["tweets"] = items
    return out


async def _save(call: Call, name: str, own: bool, tweets: list[dict[str, Any]]) -> Any:
    return await call.ctx.pool.fetchrow(
        f"""INSERT INTO xquik_styles (account_id, key, x_username, is_own_account, tweets, fetched_at)
            VALUES ($1, $2, $3, $4, $5::jsonb, now())
            ON CONFLICT (account_id, key) DO UPDATE SET x_username = EXCLUDED.x_username,
                is_own_account = EXCLUDED.is_own_account, tweets = EXCLUDED.tweets, fetched_at = now()
            RETURNING {_COLUMNS}""",
        call.account_id, name.lower(), name, own, msgspec.json.encode(tweets).decode(),
    )  # fmt: skip


async def _style(call: Call, name: str) -> Any:
    row = await call.ctx.pool.fetchrow(
        f"SELECT {_COLUMNS} FROM xquik_styles WHERE account_id = $1 AND key = $2",
        call.account_id, name.strip().removeprefix("@").lower(),
    )  # fmt: skip
    if row is None:
        raise xquik_error(404, "style_not_found", f"no cached style for {name!r}")
    return row


async def fetch_style(call: Call) -> Reply:
    username = username_of(call.body_as(StyleFetch).username)
    identity = await call.ctx.pool.fetchval(
        "SELECT x_username FROM xquik_accounts WHERE account_id = $1", call.account_id
    )
    session = await x_session(call, None)
    x = direct(call)
    async with metered(call, reserve_for("styles.fetch", FETCH_COUNT), "styles.fetch") as meter:
        async with x_read("user_not_found"):
            user = await x.user_by_username(session, username)
            page = await x.user_tweets(session, user.id, FETCH_COUNT, None)
        tweets = [
            {"id": t.id, "text": t.full_text, "authorUsername": user.username, "createdAt": t.created_at}
            for t in page.tweets[:FETCH_COUNT]
        ]
        meter.use(cost_of("styles.fetch", len(tweets)))
    own = identity is not None and identity.lower() == user.username.lower()
    return Reply(201, style_out(await _save(call, user.username, own, tweets)))


async def list_styles(call: Call) -> Reply:
    rows = await call.ctx.pool.fetch(
        f"SELECT {_COLUMNS} FROM xquik_styles WHERE account_id = $1 ORDER BY fetched_at DESC LIMIT 200",
        call.account_id,
    )
    return Reply(200, {"styles": [style_out(r, tweets=False) for r in rows]})


async def save_custom_style(call: Call) -> Reply:
    body = call.body_as(CustomStyle)
    username_of(call.path("username"))  # 400 invalid_username, as every other path of the surface
    label = body.label.strip()
    if not label or any(not t.text.strip() for t in body.tweets):
        raise xquik_error(400, "invalid_input", "label and every tweet's text must not be empty")
    now = stamp(datetime.now(UTC))
    tweets = [{"id": None, "text": t.text, "authorUsername": None, "createdAt": now} for t in body.tweets]
    return Reply(200, {"label": label, **style_out(await _save(call, label, False, tweets))})


async def get_style(call: Call) -> Reply:
    return Reply(200, style_out(await _style(call, call.path("username"))))


async def delete_style(call: Call) -> Reply:
    await _style(call, call.path("username"))
    await call.ctx.pool.execute(
        "DELETE FROM xquik_styles WHERE account_id = $1 AND key = $2",
        call.account_id, call.path("username").strip().removeprefix("@").lower(),
    )  # fmt: skip
    return Reply(204, b"")


async def compare_styles(call: Call) -> Reply:
    q = call.query_as(CompareQuery)
    if not q.username1 or not q.username2:
        raise xquik_error(400, "missing_params", "username1 and username2 are required")
    return Reply(200, {"style1": style_out(await _style(call, q.username1)),
                       "style2": style_out(await _style(call, q.username2))})  # fmt: skip


async def style_performance(call: Call) -> Reply:
    row = await _style(call, call.path("username"))
    ids = [t["id"] for t in _decode(row["tweets"]) if t.get("id")][:100]
    out: list[dict[str, Any]] = []
    if ids:
        session = await x_session(call, None)
        async with metered(call, reserve_for("styles.performance", len(ids)), "styles.performance") as meter:
            async with x_read():
                page = await direct(call).tweets(session, ids)
            for t in page.tweets:
                m = t.public_metrics
                out.append({
                    "id": t.id, "text": t.full_text, "likeCount": m.like_count if m else 0,
                    "retweetCount": m.retweet_count if m else 0, "replyCount": m.reply_count if m else 0,
                    "quoteCount": m.quote_count if m else 0, "viewCount": m.impression_count if m else 0,
                    "bookmarkCount": m.bookmark_count if m else 0,
                })  # fmt: skip
            meter.use(cost_of("styles.performance", len(out)))
    return Reply(200, {"xUsername": row["x_username"], "tweetCount": len(out), "tweets": out})


async def compose_tweet(call: Call) -> Reply:
    body = call.body_as(ComposeIn)
    if body.step == "compose":
        style = None
        if body.style_username:
            row = await _style(call, body.style_username)
            style = [t["text"] for t in _decode(row["tweets"])]
        return Reply(200, rules.compose(body.topic, body.goal, style))
    if body.step == "refine":
        media = None if body.media_type in (None, "none") else body.media_type
        return Reply(
            200, rules.refine(body.topic, body.tone, body.additional_context, body.call_to_action, media)
        )
    if not body.draft or not body.draft.strip():
        raise xquik_error(400, "invalid_input", "draft (the tweet text to score) is required for step=score")
    return Reply(200, rules.score(rules.Draft(body.draft, body.has_link, body.has_media)))


def _op(method: str, path: str, handler: Any, summary: str, **kw: Any) -> Operation:
    return Operation(method, f"{PREFIX}{path}", handler, summary, None, TAG, dialect=DIALECT, **kw)


OPERATIONS = [
    _op("POST", "/styles", fetch_style, "Fetch and cache recent tweets (1 credit a tweet)", body=StyleFetch,
        responses={201: StyleOut}),
    _op("GET", "/styles", list_styles, "List cached styles", responses={200: StyleList}),
    _op("GET", "/styles/compare", compare_styles, "Compare two cached styles", query=CompareQuery,
        responses={200: StyleComparison}),
    _op("PUT", "/styles/{username}", save_custom_style, "Save a custom style", body=CustomStyle,
        responses={200: CustomStyleOut}),
    _op("GET", "/styles/{username}", get_style, "Get a cached style", responses={200: StyleOut}),
    _op("DELETE", "/styles/{username}", delete_style, "Delete a cached style", responses={204: type(None)}),
    _op("GET", "/styles/{username}/performance", style_performance,
        "Live metrics of a style's tweets (1 credit a tweet)", responses={200: Performance}),
    _op("POST", "/compose", compose_tweet, "Compose, refine or score a tweet (free)", body=ComposeIn,
        responses={200: Composed}),
]  # fmt: skip
