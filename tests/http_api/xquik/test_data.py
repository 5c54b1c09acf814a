"""Seed 002 (Xquik) draws, extractions and media downloads through a real HTTP client against the
running app and the X simulator: the document's rows, its error codes, credits on the ledger, and every
export format opened with an independent reader (csv, json, openpyxl, pypdfium2)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import time
from typing import Any

import pypdfium2
import pytest
from openpyxl import load_workbook

from engine.social.simulation.x_api_data import add_list, quote
from engine.social.simulation.x_api_lookups import graph_of
from engine.xquik import runtime
from engine.xquik.extractions.jobs import ExtractionRunner
from tests.http_api.xquik.conftest import Xq

pytestmark = pytest.mark.asyncio(loop_scope="module")

FORMATS = ("csv", "json", "md", "md-document", "pdf", "txt", "xlsx")


def _world(xq: Xq) -> dict[str, Any]:
    """A giveaway tweet by `giver` with replies from entrants, retweets, follows, one media tweet."""
    world, graph = xq.sim.world, graph_of(xq.sim.world)
    if world.user_by_name("giver") is not None:
        return xq.sim.__dict__["_data_world"]  # type: ignore[no-any-return]
    giver = world.add_user("giver", name="Giver")
    tweet = world.create_post(giver.id, "Like & RT to enter! #contest @xquik")
    entrants = [world.add_user(f"fan{n}", name=f"Fan {n}") for n in range(12)]
    texts = {n: f"@giver I'm in #contest @xquik giveaway {n}" for n in range(12)}
    texts[3] = "@giver me please, giveaway @xquik"  # no hashtag
    replies = {}
    for n, user in enumerate(entrants):
        replies[n] = world.reply(to=tweet.id, by=user.username, text=texts[n])
        giver.followers.add(user.id)
        tweet.retweeted_by.add(user.id)
    world.reply(to=tweet.id, by="fan0", text="@giver again #contest @xquik giveaway")  # second entry of fan0
    tweet.retweeted_by.discard(entrants[5].id)  # did not retweet
    giver.followers.discard(entrants[6].id)  # does not follow
    replies[7].lang = "es"
    entrants[8].created_at = time.time() - 86400  # a day-old account
    world.reply(to=tweet.id, by="giver", text="@giver thanks all #contest @xquik")  # the author: not an entry
    fans = [world.add_user(f"follower{n}") for n in range(240)]
    for user in fans:
        giver.followers.add(user.id)
        tweet.retweeted_by.add(user.id)
    photo = world.create_post(giver.id, "look")
    graph.attach(photo.id, "photo")
    graph.attach(photo.id, "video")
    clip = world.create_post(giver.id, "clip")
    graph.attach(clip.id, "photo")
    plain = world.create_post(giver.id, "no media here")
    quote(world, tweet.id, "fan1")
    team = add_list(world, "giver", "team")
    team.members += [entrants[0].id, entrants[1].id]
    data = {
        "giver": giver,
        "tweet": tweet,
        "entrants": entrants,
        "photo": photo,
        "clip": clip,
        "plain": plain,
        "list": team,
    }
    xq.sim.__dict__["_data_world"] = data
    return data


async def _balance(xq: Xq) -> int:
    return int((await xq.call("GET", "/credits", 200))["balance"])


async def _export(xq: Xq, path: str, fmt: str, **params: str) -> bytes:
    r = await xq.client.get(xq.url(path), params={"format": fmt, **params}, headers=xq.auth)
    assert r.status_code == 200, r.text
    return r.content


def _read(fmt: str, body: bytes) -> list[dict[str, str]] | str:
    """Rows (csv, json, xlsx) or text (the others) of an export, by readers that are not ours."""
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(body.decode())))
    if fmt == "json":
        return [{k: "" if v is None else str(v) for k, v in row.items()} for row in json.loads(body)]
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        head = [str(h) for h in values[0]]
        return [
            {h: "" if v is None else str(v) for h, v in zip(head, row, strict=True)} for row in values[1:]
        ]
    if fmt == "pdf":
        pdf = pypdfium2.PdfDocument(body)
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    return body.decode()


async def test_draw_rows_filters_reproducible_pick_and_exports(xq: Xq) -> None:
    data = _world(xq)
    tweet = data["tweet"]
    url = f"https://x.com/giver/status/{tweet.id}"
    body = {
        "tweetUrl": url,
        "winnerCount": 3,
        "backupCount": 2,
        "uniqueAuthorsOnly": True,
        "mustRetweet": True,
        "mustFollowUsername": "giver",
        "filterMinFollowers": 0,
        "filterAccountAgeDays": 30,
        "filterLanguage": "en",
        "requiredKeywords": ["giveaway"],
        "requiredHashtags": ["#contest"],
        "requiredMentions": ["@xquik"],
    }
    draw = await xq.call("POST", "/draws", 201, json=body)
    assert draw["tweetId"] == tweet.id and draw["tweetUrl"] == url and draw["status"] == "completed"
    assert draw["tweetAuthorUsername"] == "giver" and draw["tweetText"].startswith("Like & RT")
    assert draw["tweetRetweetCount"] == 251 and draw["tweetReplyCount"] == 14
    # 13 entries (the author's own reply is none); invalid: fan0's second, 3 (hashtag), 5 (no RT),
    # 6 (not following), 7 (es), 8 (account age)
    assert (draw["totalEntries"], draw["validEntries"]) == (13, 7)
    assert set(draw) >= {"tweetLikeCount", "tweetQuoteCount", "createdAt", "drawnAt"}

    full = await xq.call("GET", f"/draws/{draw['id']}", 200)
    winners = full["winners"]
    assert [w["position"] for w in winners] == [1, 2, 3, 4, 5]
    assert [w["isBackup"] for w in winners] == [False] * 3 + [True] * 2
    valid_names = {f"fan{n}" for n in (0, 1, 2, 4, 9, 10, 11)}
    assert {w["authorUsername"] for w in winners} <= valid_names and len(
        {w["authorUsername"] for w in winners}
    ) == 5

    # re-derive the pick from the seed and the exported entries, with hashlib (pick.py's documented rule)
    entries = _read("csv", await _export(xq, f"/draws/{draw['id']}/export", "csv", type="entries"))
    assert isinstance(entries, list) and len(entries) == 13
    valid = [e["tweetId"] for e in entries if e["valid"] == "true"]
    ranked = sorted(valid, key=lambda t: (hashlib.sha256(f"{full['seed']}:{t}".encode()).hexdigest(), t))
    assert ranked[:5] == [w["tweetId"] for w in winners]
    reasons = {e["authorUsername"]: e["reason"] for e in entries if e["valid"] == "false"}
    assert reasons == {
        "fan0": "duplicate_author",
        "fan3": "missing_hashtag",
        "fan5": "not_retweeted",
        "fan6": "not_following",
        "fan7": "wrong_language",
        "fan8": "account_too_new",
    }

    # every export format, read back by an independent reader
    for fmt in FORMATS:
        got = _read(fmt, await _export(xq, f"/draws/{draw['id']}/export", fmt))  # type=winners by default
        if isinstance(got, list):
            assert [r["tweetId"] for r in got] == [w["tweetId"] for w in winners], fmt
            assert [r["isBackup"].lower() for r in got] == ["false"] * 3 + ["true"] * 2, fmt
        else:
            for w in winners:
                assert w["authorUsername"] in got and w["tweetId"] in got, fmt
    md_doc = _read("md-document", await _export(xq, f"/draws/{draw['id']}/export", "md-document"))
    assert isinstance(md_doc, str) and md_doc.startswith("# Draw") and full["seed"] in md_doc

    # bad input: the document's codes
    for bad, code in (
        ({}, "invalid_input"),
        ({"tweetUrl": "https://example.com/x"}, "invalid_tweet_url"),
        ({"tweetUrl": url, "winnerCount": 0}, "invalid_input"),
    ):
        assert (await xq.call("POST", "/draws", 400, json=bad))["error"] == code
    missing = await xq.call("POST", "/draws", 404, json={"tweetUrl": "https://twitter.com/a/status/123"})
    assert missing["error"] == "tweet_not_found"
    r = await xq.client.get(xq.url(f"/draws/{draw['id']}/export"), params={"format": "docx"}, headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_format"
    r = await xq.client.get(xq.url(f"/draws/{draw['id']}/export"), params={"type": "all"}, headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_params"
    await xq.call("GET", "/draws/999999", 404)
    assert (await xq.call("GET", "/draws/abc", 400))["error"] == "invalid_id"

    # the list is cursor-paginated, compact
    second = await xq.call("POST", "/draws", 201, json={"tweetUrl": tweet.id})
    page = await xq.call("GET", "/draws", 200, params={"limit": 1})
    assert [d["id"] for d in page["draws"]] == [second["id"]] and page["hasMore"] is True
    assert "winners" not in page["draws"][0]
    rest = await xq.call("GET", "/draws", 200, params={"limit": 1, "after": page["nextCursor"]})
    assert [d["id"] for d in rest["draws"]] == [draw["id"]]


async def _done(xq: Xq, job_id: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        body = await xq.call("GET", f"/extractions/{job_id}", 200, params={"limit": 1000})
        if body["job"]["status"] != "running":
            return body  # type: ignore[no-any-return]
        assert asyncio.get_running_loop().time() < deadline, body["job"]
        await asyncio.sleep(0.05)


async def test_extraction_estimate_equals_charge_limits_filters_and_exports(xq: Xq) -> None:
    data = _world(xq)
    await xq.grant(100_000)
    followers = {"toolType": "follower_explorer", "targetUsername": "giver"}
    estimate = await xq.call("POST", "/extractions/estimate", 200, json=followers)
    assert estimate == {
        "allowed": True,
        "creditsAvailable": str(await _balance(xq)),
        "creditsRequired": "251",
        "source": "followersCount",
        "estimatedResults": 251,
    }
    before = await _balance(xq)
    job = await xq.call("POST", "/extractions", 202, json=followers)
    assert job["toolType"] == "follower_explorer" and job["status"] == "running"
    body = await _done(xq, job["id"])
    assert body["job"]["status"] == "completed" and body["job"]["totalResults"] == 251
    assert body["hasMore"] is False and len(body["results"]) == 251
    assert len({r["xUserId"] for r in body["results"]}) == 251
    assert set(body["results"][0]) == {
        "xUserId",
        "xUsername",
        "xDisplayName",
        "xFollowersCount",
        "xVerified",
        "xProfileImageUrl",
    }
    assert (
        before - await _balance(xq) == int(estimate["creditsRequired"]) == int(body["job"]["creditsCharged"])
    )

    paged = await xq.call("GET", f"/extractions/{job['id']}", 200, params={"limit": 100})
    assert len(paged["results"]) == 100 and paged["hasMore"] is True
    nxt = await xq.call(
        "GET", f"/extractions/{job['id']}", 200, params={"limit": 100, "cursor": paged["nextCursor"]}
    )
    assert not {r["xUserId"] for r in nxt["results"]} & {r["xUserId"] for r in paged["results"]}

    # exports carry enrichment columns the API leaves out
    for fmt in FORMATS:
        got = _read(fmt, await _export(xq, f"/extractions/{job['id']}/export", fmt))
        if isinstance(got, list):
            assert len(got) == 251 and "xFollowingCount" in got[0] and "xCreatedAt" in got[0], fmt
        else:
            assert "follower239" in got and "xFollowingCount" in got, fmt

    # resultsLimit stops early, and only what was extracted is charged
    before = await _balance(xq)
    small = await xq.call("POST", "/extractions", 202, json=followers | {"resultsLimit": 30})
    assert (await _done(xq, small["id"]))["job"]["totalResults"] == 30
    assert before - await _balance(xq) == 30

    # replies: the estimate's replyCount is what the job charges
    replies = {"toolType": "reply_extractor", "targetTweetId": data["tweet"].id}
    estimate = await xq.call("POST", "/extractions/estimate", 200, json=replies)
    before = await _balance(xq)
    got = await _done(xq, (await xq.call("POST", "/extractions", 202, json=replies))["id"])
    assert (
        estimate["source"] == "replyCount"
        and got["job"]["totalResults"] == estimate["estimatedResults"] == 14
    )
    assert before - await _balance(xq) == int(estimate["creditsRequired"])

    # more tool types over X API v2
    for extra, expected in (
        ({"toolType": "repost_extractor", "targetTweetId": data["tweet"].id}, 251),
        ({"toolType": "quote_extractor", "targetTweetId": data["tweet"].id}, 1),
        ({"toolType": "list_member_extractor", "targetListId": data["list"].id}, 2),
        ({"toolType": "tweet_search_extractor", "searchQuery": "giveaway", "language": "es"}, 1),
        ({"toolType": "people_search", "searchQuery": "fan1"}, 3),
    ):
        done = await _done(xq, (await xq.call("POST", "/extractions", 202, json=extra))["id"])
        assert done["job"]["status"] == "completed" and done["job"]["totalResults"] == expected, extra

    # filters and listing
    listed = await xq.call("GET", "/extractions", 200, params={"toolType": "follower_explorer", "limit": 1})
    assert [e["id"] for e in listed["extractions"]] == [small["id"]] and listed["hasMore"] is True
    after = await xq.call(
        "GET",
        "/extractions",
        200,
        params={"toolType": "follower_explorer", "limit": 1, "after": listed["nextCursor"]},
    )
    assert [e["id"] for e in after["extractions"]] == [job["id"]]
    assert (await xq.call("GET", "/extractions", 200, params={"status": "failed"}))["extractions"] == []

    # refusals: unknown or unserved tool types, 402 before any job exists
    for tool in ("bogus", "community_extractor", "space_explorer", "article_extractor"):
        refused = await xq.call("POST", "/extractions", 400, json={"toolType": tool, "targetTweetId": "1"})
        assert refused["error"] == "invalid_tool_type"
    count = len((await xq.call("GET", "/extractions", 200, params={"limit": 100}))["extractions"])
    balance = await _balance(xq)
    big = {"toolType": "tweet_search_extractor", "searchQuery": "x", "resultsLimit": balance + 1}
    assert (await xq.call("POST", "/extractions/estimate", 200, json=big))["allowed"] is False
    assert (await xq.call("POST", "/extractions", 402, json=big))["error"] == "insufficient_credits"
    assert len((await xq.call("GET", "/extractions", 200, params={"limit": 100}))["extractions"]) == count
    await xq.ledger_ok()


async def test_extraction_resumes_from_its_cursor_after_a_kill(xq: Xq) -> None:
    data = _world(xq)
    await xq.grant(1000)
    app_runner = runtime.of(xq.engine).runner
    await app_runner.stop()  # this test drives the runners itself
    try:
        body = {"toolType": "repost_extractor", "targetTweetId": data["tweet"].id}
        before = await _balance(xq)
        job = await xq.call("POST", "/extractions", 202, json=body)
        assert before - await _balance(xq) == 251  # held
        reads = runtime.of(xq.engine).reads
        path = f"/2/tweets/{data['tweet'].id}/retweeted_by"
        start = sum(1 for _, p in xq.sim.requests if p == path)

        first = ExtractionRunner(xq.pool, reads, owner="node-77", lease_seconds=300)
        assert await first.run_one(max_pages=1)  # one page of 100 stored, then the node dies
        stored = await xq.call("GET", f"/extractions/{job['id']}", 200, params={"limit": 1000})
        assert stored["job"]["status"] == "running" and stored["job"]["totalResults"] == 100

        other = ExtractionRunner(xq.pool, reads, owner="node-78", lease_seconds=300)
        assert await other.claim() is None  # the dead node's lease still holds

        again = ExtractionRunner(xq.pool, reads, owner="node-77", lease_seconds=300, retry_seconds=0)
        xq.sim.faults.fail_next(1, status=503, path_prefix=path)  # X fails once: the job waits, intact
        assert await again.run_one()  # restarted under its name: takes its job back at once
        waiting = await xq.call("GET", f"/extractions/{job['id']}", 200)
        assert waiting["job"]["status"] == "running" and waiting["job"]["totalResults"] == 100
        assert await again.run_one()
        done = await xq.call("GET", f"/extractions/{job['id']}", 200, params={"limit": 1000})
        assert done["job"]["status"] == "completed" and done["job"]["totalResults"] == 251
        ids = [r["xUserId"] for r in done["results"]]
        assert len(ids) == len(set(ids)) == 251
        assert (
            sum(1 for _, p in xq.sim.requests if p == path) - start == 3
        )  # no page read twice (the 503 is not a read)
        assert before - await _balance(xq) == 251 == int(done["job"]["creditsCharged"])
        assert not await again.run_one()  # nothing left; charging again is impossible
        assert before - await _balance(xq) == 251
    finally:
        app_runner.start()
    await xq.ledger_ok()


async def test_media_download_gallery_cache_and_refusals(xq: Xq) -> None:
    data = _world(xq)
    await xq.grant(100)
    photo, clip, plain = data["photo"], data["clip"], data["plain"]
    before = await _balance(xq)
    first = await xq.call(
        "POST", "/x/media/download", 200, json={"tweetInput": f"https://x.com/giver/status/{photo.id}"}
    )
    assert first["tweetId"] == photo.id and first["cacheHit"] is False
    assert first["galleryUrl"].startswith(xq.base_url + "/xquik/gallery/")
    assert before - await _balance(xq) == 1
    page = await xq.client.get(first["galleryUrl"])  # served by our app, no key needed
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for item in photo.media:
        assert item["url"] in page.text

    again = await xq.call(
        "POST",
        "/x/media/download",
        200,
        json={"tweetInput": f"https://twitter.com/giver/status/{photo.id}?s=20"},
    )
    assert again == {"tweetId": photo.id, "galleryUrl": first["galleryUrl"], "cacheHit": True}
    assert before - await _balance(xq) == 1  # free

    bulk = await xq.call("POST", "/x/media/download", 200, json={"tweetIds": [photo.id, plain.id, clip.id]})
    assert bulk["totalTweets"] == 2 and bulk["totalMedia"] == 3 and "/xquik/gallery/" in bulk["galleryUrl"]
    assert before - await _balance(xq) == 2  # only the clip was new

    refusals = (
        ({"tweetInput": plain.id}, "no_media"),
        ({"tweetIds": [str(n) for n in range(51)]}, "too_many_tweets"),
        ({"tweetInput": photo.id, "tweetIds": [photo.id]}, "invalid_input"),
        ({}, "invalid_input"),
        ({"tweetInput": "https://example.com/status/1"}, "invalid_tweet_url"),
    )
    for bad, code in refusals:
        assert (await xq.call("POST", "/x/media/download", 400, json=bad))["error"] == code, bad
    assert before - await _balance(xq) == 2  # refusals cost nothing
    assert (await xq.client.get(xq.base_url + "/xquik/gallery/nope")).status_code == 404
    await xq.ledger_ok()


async def test_export_caps_rows_at_100000_and_pdf_at_10000(xq: Xq) -> None:
    job_id = "00000000-0000-4000-8000-00000000ca95"
    await xq.pool.execute(
        "INSERT INTO xquik_extractions (id, account_id, tool_type, params, status, results_limit,"
        " results_count)"
        " VALUES ($1, $2, 'follower_explorer', '{\"body\": {}, \"plan\": {}}', 'completed', 100001, 100001)",
        job_id,
        xq.account_id,
    )
    await xq.pool.execute(
        "INSERT INTO xquik_extraction_rows (extraction_id, seq, item_id, data) SELECT $1, n, 'u' || n,"
        " jsonb_build_object('xUserId', 'u' || n, 'xUsername', 'user' || n)"
        " FROM generate_series(0, 100000) n",
        job_id,
    )
    rows = _read("csv", await _export(xq, f"/extractions/{job_id}/export", "csv"))
    assert isinstance(rows, list) and len(rows) == 100_000 and rows[-1]["xUserId"] == "u99999"
    pdf = pypdfium2.PdfDocument(await _export(xq, f"/extractions/{job_id}/export", "pdf"))
    last = pdf[len(pdf) - 1].get_textpage().get_text_range()
    assert "u9999 " in last and "u10000" not in last
