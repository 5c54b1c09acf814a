"""Xquik draws, extractions and media downloads (seed 002 "Draws", "Extractions", "X Media (Download)").

    POST /draws                      a giveaway draw from a tweet's replies (201, winners picked at once)
    GET  /draws, /draws/{id}         cursor pages of compact draws; one draw with winners and its seed
    GET  /draws/{id}/export          ?format=csv|json|md|md-document|pdf|txt|xlsx&type=winners|entries
    POST /extractions/estimate       free; creditsRequired is what POST /extractions holds
    POST /extractions                202 {id, toolType, status, statusUrl}; the engine's runner reads X
    GET  /extractions                ?status=&toolType=&after=&limit=
    GET  /extractions/{id}           the job and a page of results (?cursor=&limit=1..1000, default 100)
    GET  /extractions/{id}/export    ?format=
    POST /x/media/download           {tweetInput} or {tweetIds}; the gallery at /xquik/gallery/{id}
    GET  /xquik/gallery/{id}         the gallery page (public: a shareable URL)

The work is engine/xquik/ (draws/, extractions/, media.py, exports.py); X is read as the account's
connected X account (no connected account: 403 account_needs_reauth).
"""

from __future__ import annotations

import asyncio
import html
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from engine.xquik import exports, media, runtime
from engine.xquik.draws import service as draws
from engine.xquik.extractions import jobs
from engine.xquik.extractions.tools import ExtractionError
from engine.xquik.xread import XReader, XReadError
from http_api.operations import Call, Operation, Reply
from http_api.xquik.dialect import DIALECT, PREFIX, XquikIn, xquik_error

TAG = "Xquik data"


def _fail(exc: Exception) -> Exception:
    if isinstance(exc, draws.DrawError | ExtractionError | media.MediaError):
        return xquik_error(exc.status, exc.code, exc.message)
    if isinstance(exc, XReadError):
        messages = {
            "tweet_not_found": "tweet not found", "user_not_found": "X user not found",
            "x_api_rate_limited": "X data source rate limited: retry", "account_needs_reauth": str(exc),
        }  # fmt: skip
        headers = {"Retry-After": "60"} if exc.status == 429 else None
        return xquik_error(exc.status, exc.code, messages.get(exc.code, "X data source unavailable"), headers)
    return exc


async def _reader(call: Call) -> XReader:
    try:
        return await runtime.of(call.ctx.engine).reads.for_account(call.account_id)
    except XReadError as exc:
        raise _fail(exc) from None


# ------------------------------------------------------------------------------------------- bodies

Words = Annotated[list[str], Meta(max_length=50)]


class DrawIn(XquikIn, frozen=True):
    tweet_url: str
    winner_count: int | None = None
    backup_count: int | None = None
    unique_authors_only: bool | None = None
    must_retweet: bool | None = None
    must_follow_username: str | None = None
    filter_min_followers: int | None = None
    filter_account_age_days: int | None = None
    filter_language: str | None = None
    required_keywords: Words | None = None
    required_hashtags: Words | None = None
    required_mentions: Words | None = None


class ExtractionIn(XquikIn, frozen=True):
    tool_type: str
    target_tweet_id: str | None = None
    target_username: str | None = None
    target_list_id: str | None = None
    target_community_id: str | None = None
    target_space_id: str | None = None
    search_query: str | None = None
    results_limit: int | None = None
    from_user: str | None = None
    to_user: str | None = None
    mentioning: str | None = None
    language: str | None = None
    since_date: str | None = None
    until_date: str | None = None
    media_type: str | None = None
    min_faves: int | None = None
    min_retweets: int | None = None
    min_replies: int | None = None
    min_quotes: int | None = None
    verified_only: bool | None = None
    replies: str | None = None
    retweets: str | None = None
    quotes: str | None = None
    exact_phrase: str | None = None
    exclude_words: str | None = None
    advanced_query: str | None = None
    min_followers: int | None = None
    max_followers: int | None = None
    bio_contains: str | None = None
    location_contains: str | None = None
    min_account_age_days: int | None = None


class MediaIn(XquikIn, frozen=True):
    tweet_input: str | None = None
    tweet_ids: list[str] | None = None


def _plain(body: msgspec.Struct) -> dict[str, Any]:
    """The body as the document's camelCase dict, fields not sent left out."""
    out = msgspec.to_builtins(body)
    assert isinstance(out, dict)
    return {k: v for k, v in out.items() if v is not None}


class DrawListQuery(msgspec.Struct, frozen=True, kw_only=True):
    """?after=&limit= (names unique across the API: the OpenAPI document keys schemas by name)."""

    after: Annotated[str, Meta(max_length=512)] | None = None
    limit: Annotated[int, Meta(ge=1, le=100)] = 50


class ExtractionListQuery(DrawListQuery, frozen=True, kw_only=True, rename={"tool_type": "toolType"}):
    status: str | None = None
    tool_type: str | None = None


class ExtractionResultsQuery(msgspec.Struct, frozen=True, kw_only=True):
    cursor: Annotated[str, Meta(max_length=512)] | None = None
    after: Annotated[str, Meta(max_length=512)] | None = None
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


class DataExportQuery(msgspec.Struct, frozen=True, kw_only=True):
    format: str = "csv"
    type: str = "winners"


# -------------------------------------------------------------------------------------------- draws


async def create_draw(call: Call) -> Reply:
    reader = await _reader(call)
    try:
        draw = await draws.create_draw(call.ctx.pool, reader, call.account_id, _plain(call.body_as(DrawIn)))
    except (draws.DrawError, XReadError) as exc:
        raise _fail(exc) from None
    return Reply(201, draw)


async def list_draws(call: Call) -> Reply:
    q = call.query_as(DrawListQuery)
    try:
        items, cursor = await draws.list_draws(call.ctx.pool, call.account_id, after=q.after, limit=q.limit)
    except draws.DrawError as exc:
        raise _fail(exc) from None
    return Reply(200, {"draws": items, "hasMore": cursor is not None, "nextCursor": cursor})


async def get_draw(call: Call) -> Reply:
    try:
        draw = await draws.get_draw(call.ctx.pool, call.account_id, call.path("id"))
    except draws.DrawError as exc:
        raise _fail(exc) from None
    if draw is None:
        raise xquik_error(404, "not_found", "no such draw")
    return Reply(200, draw)


def _export_format(q: DataExportQuery) -> str:
    if q.format not in exports.FORMATS:
        raise xquik_error(400, "invalid_format", f"format must be one of {', '.join(exports.FORMATS)}")
    return q.format


async def _file(fmt: str, name: str, title: str, columns: list[str], rows: list[dict[str, Any]],
                facts: list[tuple[str, str]]) -> Reply:  # fmt: skip
    body, media_type, ext = await asyncio.to_thread(exports.render, fmt, title, columns, rows, facts)
    headers = {"content-type": media_type, "content-disposition": f'attachment; filename="{name}.{ext}"'}
    return Reply(200, body, headers)


async def export_draw(call: Call) -> Reply:
    q = call.query_as(DataExportQuery)
    fmt = _export_format(q)
    if q.type not in {"winners", "entries"}:
        raise xquik_error(400, "invalid_params", "type must be winners or entries")
    try:
        found = await draws.draw_rows(
            call.ctx.pool, call.account_id, call.path("id"), q.type, exports.cap(fmt)
        )
    except draws.DrawError as exc:
        raise _fail(exc) from None
    if found is None:
        raise xquik_error(404, "not_found", "no such draw")
    draw, rows = found
    columns = draws.WINNER_COLUMNS if q.type == "winners" else draws.ENTRY_COLUMNS
    facts = [("Tweet", draw["tweetUrl"]), ("Entries", str(draw["totalEntries"])),
             ("Valid entries", str(draw["validEntries"])), ("Drawn at", str(draw["drawnAt"])),
             ("Seed", draw["seed"])]  # fmt: skip
    return await _file(
        fmt, f"draw-{draw['id']}-{q.type}", f"Draw {draw['id']} {q.type}", columns, rows, facts
    )


# -------------------------------------------------------------------------------------- extractions


async def estimate_extraction(call: Call) -> Reply:
    reader = await _reader(call)
    try:
        answer = await jobs.estimate(
            call.ctx.pool, reader, call.account_id, _plain(call.body_as(ExtractionIn))
        )
    except (ExtractionError, XReadError) as exc:
        raise _fail(exc) from None
    return Reply(200, answer)


async def create_extraction(call: Call) -> Reply:
    reader = await _reader(call)
    try:
        job = await jobs.create(call.ctx.pool, reader, call.account_id, _plain(call.body_as(ExtractionIn)))
    except (ExtractionError, XReadError) as exc:
        raise _fail(exc) from None
    runtime.of(call.ctx.engine).runner.wake()
    return Reply(202, job | {"statusUrl": f"{PREFIX}/extractions/{job['id']}"})


async def list_extractions(call: Call) -> Reply:
    q = call.query_as(ExtractionListQuery)
    try:
        items, cursor = await jobs.list_jobs(call.ctx.pool, call.account_id, status=q.status,
                                             tool_type=q.tool_type, after=q.after, limit=q.limit)  # fmt: skip
    except ExtractionError as exc:
        raise _fail(exc) from None
    return Reply(200, {"extractions": items, "hasMore": cursor is not None, "nextCursor": cursor})


async def get_extraction(call: Call) -> Reply:
    q = call.query_as(ExtractionResultsQuery)
    try:
        found = await jobs.get_job(call.ctx.pool, call.account_id, call.path("id"), after=q.cursor or q.after,
                                   limit=q.limit)  # fmt: skip
    except ExtractionError as exc:
        raise _fail(exc) from None
    if found is None:
        raise xquik_error(404, "not_found", "no such extraction")
    return Reply(200, found)


async def export_extraction(call: Call) -> Reply:
    fmt = _export_format(call.query_as(DataExportQuery))
    job = await jobs.get_job(call.ctx.pool, call.account_id, call.path("id"), after=None, limit=1)
    rows = await jobs.export_rows(call.ctx.pool, call.account_id, call.path("id"), exports.cap(fmt))
    if job is None or rows is None:
        raise xquik_error(404, "not_found", "no such extraction")
    info = job["job"]
    columns = exports.columns_of(rows)
    facts = [("Tool", info["toolType"]), ("Status", info["status"]), ("Results", str(info["totalResults"])),
             ("Created at", str(info["createdAt"]))]  # fmt: skip
    return await _file(
        fmt, f"extraction-{info['id']}", f"Extraction {info['toolType']}", columns, rows, facts
    )


# -------------------------------------------------------------------------------------------- media


async def download_media(call: Call) -> Reply:
    body = _plain(call.body_as(MediaIn))
    try:
        media.tweets_of(body)  # the document's 400s before anything else
    except media.MediaError as exc:
        raise _fail(exc) from None
    reader = await _reader(call)
    base = str(call.request.base_url).rstrip("/") + "/xquik/gallery"
    try:
        answer = await media.download(call.ctx.pool, reader, call.account_id, body, gallery_base=base)
    except (media.MediaError, XReadError) as exc:
        raise _fail(exc) from None
    return Reply(200, answer)


async def gallery(call: Call) -> Reply:
    found = await media.gallery_of(call.ctx.pool, call.path("id"))
    if found is None:
        raise xquik_error(404, "not_found", "no such gallery")
    items = []
    for m in found["media"]:
        url = html.escape(m["url"], quote=True)
        tag = f'<img src="{url}" alt="">' if m["type"] == "photo" else f'<video src="{url}" controls></video>'
        items.append(f'<figure>{tag}<figcaption><a href="{url}">{html.escape(m["type"])}</a> from tweet '
                     f'{html.escape(m["tweetId"])}</figcaption></figure>')  # fmt: skip
    page = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Gallery</title></head><body>"
            f"<h1>Gallery</h1><p>{len(found['media'])} media from {len(found['tweetIds'])} tweets</p>"
            + "".join(items) + "</body></html>")  # fmt: skip
    return Reply(200, page.encode(), {"content-type": "text/html; charset=utf-8"})


FILES = {f: exports.MEDIA_TYPES[f].split(";")[0] for f in exports.FORMATS}
OPERATIONS = [
    Operation("POST", f"{PREFIX}/draws", create_draw, "Create draw", None, TAG, body=DrawIn, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/draws", list_draws, "List draws", None, TAG, query=DrawListQuery,
              dialect=DIALECT),
    Operation("GET", f"{PREFIX}/draws/{{id}}", get_draw, "Get draw", None, TAG, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/draws/{{id}}/export", export_draw, "Export draw", None, TAG,
              query=DataExportQuery, produces={200: "text/csv"}, dialect=DIALECT),
    Operation("POST", f"{PREFIX}/extractions/estimate", estimate_extraction, "Estimate extraction", None, TAG,
              body=ExtractionIn, idempotent=False, dialect=DIALECT),
    Operation("POST", f"{PREFIX}/extractions", create_extraction, "Create extraction", None, TAG,
              body=ExtractionIn, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/extractions", list_extractions, "List extractions", None, TAG,
              query=ExtractionListQuery, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/extractions/{{id}}", get_extraction, "Get extraction", None, TAG,
              query=ExtractionResultsQuery, dialect=DIALECT),
    Operation("GET", f"{PREFIX}/extractions/{{id}}/export", export_extraction, "Export extraction", None, TAG,
              query=DataExportQuery, produces={200: "text/csv"}, dialect=DIALECT),
    Operation("POST", f"{PREFIX}/x/media/download", download_media, "Download media", None, TAG, body=MediaIn,
              dialect=DIALECT),
    Operation("GET", "/xquik/gallery/{id}", gallery, "Media gallery (public)", None, TAG, public=True,
              produces={200: "text/html"}, dialect=DIALECT),
]  # fmt: skip
