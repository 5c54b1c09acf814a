"""Seed 002 (Xquik) X API lookups, X Accounts and X Write rows through a real HTTP client against the
running app and the X simulator: shapes, credits charged (and not charged when X refused), errors."""

from __future__ import annotations

from typing import Any

import pytest

from engine.social.simulation.connect import connect_x_account
from engine.social.simulation.x_api_lookups import graph_of
from engine.xquik import credits
from tests.http_api.xquik.conftest import Xq

pytestmark = pytest.mark.asyncio(loop_scope="module")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def balance(xq: Xq) -> int:
    return (await credits.balance(xq.pool, xq.account_id)).balance


async def spent(xq: Xq, before: int, expected: int) -> int:
    now = await balance(xq)
    assert before - now == expected, (before, now, expected)
    return now


async def test_lookups_metered_in_the_document_shapes(xq: Xq) -> None:
    w = xq.sim.world
    graph = graph_of(w)
    demo, alice = w.users[xq.x_user_id], w.users[xq.peer_id]
    carol = w.add_user("carol", name="Carol")
    post = w.create_post(alice.id, "Launching #ai tools today")
    graph.attach(post.id)
    graph.article(post.id, "Why AI", "First paragraph.\nSecond <b>one</b>.")
    plain = w.create_post(alice.id, "no media here")
    post.liked_by.update({demo.id, carol.id})
    alice.verified = True
    alice.description = "builder"
    graph.follow(demo.id, alice.id)
    graph.follow(carol.id, alice.id)
    graph.follow(demo.id, carol.id)
    graph.bookmark(demo.id, post.id)
    graph.add_folder(demo.id, "reading")
    mention = w.mention(of="demo", by="alice", text="@demo look at this")
    w.dm(to="demo", by="alice", text="hi demo")

    calls = len(xq.sim.requests)
    r = await xq.client.get(xq.url(f"/x/tweets/{post.id}"), headers=xq.auth)
    assert r.status_code == 402 and r.json()["error"] == "no_credits"
    assert len(xq.sim.requests) == calls  # refused before any work
    await xq.grant(10_000)
    left = await balance(xq)

    tweet = await xq.call("GET", f"/x/tweets/{post.id}", 200)
    assert tweet["id"] == post.id and tweet["likeCount"] == 2 and tweet["bookmarkCount"] == 1
    assert tweet["author"]["username"] == "alice" and tweet["author"]["verified"] is True
    assert tweet["author"]["followers"] == 2 and "profilePicture" in tweet["author"]
    assert tweet["media"][0]["type"] == "photo" and tweet["media"][0]["url"].startswith("https://")
    assert {"viewCount", "replyCount", "retweetCount", "quoteCount", "createdAt"} <= set(tweet)
    left = await spent(xq, left, 1)
    r = await xq.client.get(xq.url("/x/tweets/1234"), headers=xq.auth)
    assert r.status_code == 404 and r.json()["error"] == "tweet_not_found"
    r = await xq.client.get(xq.url("/x/tweets/abc"), headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_tweet_id"
    left = await spent(xq, left, 0)

    article = await xq.call("GET", f"/x/articles/{post.id}", 200)
    assert article["title"] == "Why AI" and article["author"]["username"] == "alice"
    assert article["bodyHtml"] == "<p>First paragraph.</p><p>Second &lt;b&gt;one&lt;/b&gt;.</p>"
    assert article["coverImage"].startswith("https://") and article["likeCount"] == 2
    r = await xq.client.get(xq.url(f"/x/articles/{plain.id}"), headers=xq.auth)
    assert r.status_code == 404
    left = await spent(xq, left, 5)

    found = await xq.call("GET", "/x/tweets/search", 200, params={"q": "#ai OR from:nobody", "limit": 10})
    assert [t["id"] for t in found["tweets"]] == [post.id] and found["hasMore"] is False
    left = await spent(xq, left, 1)  # 10 held, 1 returned
    r = await xq.client.get(xq.url("/x/tweets/search"), headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "missing_query"

    user = await xq.call("GET", "/x/users/@alice", 200)
    assert user["id"] == alice.id and user["followers"] == 2 and user["description"] == "builder"
    assert user["statusesCount"] == 3 and user["verified"] is True
    for name, status, code in (
        ("nobody_here", 404, "user_not_found"),
        ("bad name!", 400, "invalid_username"),
    ):
        r = await xq.client.get(xq.url(f"/x/users/{name}"), headers=xq.auth)
        assert r.status_code == status and r.json()["error"] == code
    left = await spent(xq, left, 1)

    check = await xq.call("GET", "/x/followers/check", 200, params={"source": "demo", "target": "alice"})
    assert check == {"source": "demo", "target": "alice", "isFollowing": True, "isFollowedBy": False}
    r = await xq.client.get(xq.url("/x/followers/check"), params={"source": "demo"}, headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "missing_params"
    left = await spent(xq, left, 5)

    tweets = await xq.call("GET", f"/x/users/{alice.id}/tweets", 200, params={"limit": 2})
    assert len(tweets["tweets"]) == 2 and tweets["hasMore"] is True  # X's page of 5, answered in two
    after = {"limit": 2, "after": tweets["nextCursor"]}
    more = await xq.call("GET", f"/x/users/{alice.id}/tweets", 200, params=after)
    assert [t["id"] for t in tweets["tweets"] + more["tweets"]] == [mention.id, plain.id, post.id]
    assert more["hasMore"] is False and more["nextCursor"] is None
    media = await xq.call("GET", f"/x/users/{alice.id}/media", 200)
    assert [t["id"] for t in media["tweets"]] == [post.id]
    likes = await xq.call("GET", f"/x/users/{demo.id}/likes", 200)
    assert [t["id"] for t in likes["tweets"]] == [post.id]
    fans = await xq.call("GET", f"/x/tweets/{post.id}/favoriters", 200)
    assert {u["username"] for u in fans["users"]} == {"demo", "carol"}
    known = await xq.call("GET", f"/x/users/{alice.id}/followers-you-know", 200)
    assert [u["username"] for u in known["users"]] == ["carol"]  # alice's followers demo follows
    left = await spent(xq, left, 2 + 1 + 1 + 1 + 2 + 1)

    marks = await xq.call("GET", "/x/bookmarks", 200)
    assert [t["id"] for t in marks["tweets"]] == [post.id]
    folders = await xq.call("GET", "/x/bookmarks/folders", 200)
    assert [f["name"] for f in folders["folders"]] == ["reading"]
    notes = await xq.call("GET", "/x/notifications", 200)
    assert notes["notifications"][0]["type"] == "mention"
    assert notes["notifications"][0]["tweet"]["author"]["username"] == "alice"
    home = await xq.call("GET", "/x/timeline", 200)
    assert {t["id"] for t in home["tweets"]} == {post.id, plain.id, mention.id}  # demo follows alice
    history = await xq.call("GET", f"/x/dm/{alice.id}/history", 200)
    assert history["messages"][0]["text"] == "hi demo" and history["messages"][0]["senderId"] == alice.id
    left = await spent(xq, left, 1 + 1 + 1 + 3 + 1)

    xq.sim.faults.fail_next(1, status=429, path_prefix="/2/users/by")
    r = await xq.client.get(xq.url("/x/users/alice"), headers=xq.auth)
    assert r.status_code == 429 and r.json()["error"] == "x_api_rate_limited"
    xq.sim.faults.fail_next(1, status=503, path_prefix="/2/tweets/")
    r = await xq.client.get(xq.url(f"/x/tweets/{post.id}"), headers=xq.auth)
    assert r.status_code == 502 and r.json()["error"] == "x_api_unavailable"
    await spent(xq, left, 0)  # what X refused is not charged
    await xq.ledger_ok()


async def _connect(xq: Xq, username: str) -> int:
    xq.sim.world.add_user(username)
    social = xq.engine.social
    assert social is not None
    record = await connect_x_account(social, xq.account_id, xq.sim, username=username)
    return record.account.id


async def test_connected_accounts(xq: Xq) -> None:
    bob = await _connect(xq, "bob")
    listed = await xq.call("GET", "/x/accounts", 200)
    assert [a["username"] for a in listed["accounts"]] == ["demo", "bob"]
    one = await xq.call("GET", f"/x/accounts/{bob}", 200)
    assert one["isActive"] is True and one["displayName"] == "Bob" and one["createdAt"].endswith("Z")
    assert (await xq.call("DELETE", f"/x/accounts/{bob}", 200)) == {"success": True}
    await xq.call("GET", f"/x/accounts/{bob}", 404)
    await xq.call("GET", "/x/accounts/nope", 400)
    assert [a["username"] for a in (await xq.call("GET", "/x/accounts", 200))["accounts"]] == ["demo"]


async def write(xq: Xq, method: str, path: str, status: int, **body: Any) -> Any:
    return await xq.call(method, path, status, json={"account": "demo", **body})


async def test_writes_through_the_connected_account(xq: Xq) -> None:
    w = xq.sim.world
    graph = graph_of(w)
    await xq.grant(1000)
    left = await balance(xq)
    alice = w.users[xq.peer_id]

    made = await write(xq, "POST", "/x/tweets", 200, text="hello from xquik")
    assert made["success"] is True and w.posts[made["tweetId"]].text == "hello from xquik"
    job = await xq.pool.fetchrow("SELECT action, status, amount FROM social_jobs ORDER BY id DESC LIMIT 1")
    assert job is not None and tuple(job) == (
        "post.create",
        "succeeded",
        0,
    )  # a durable social job, paid in credits
    reply = await write(xq, "POST", "/x/tweets", 200, text="a reply", reply_to_tweet_id=made["tweetId"])
    assert w.posts[reply["tweetId"]].in_reply_to_post_id == made["tweetId"]
    r = await xq.client.post(
        xq.url("/x/tweets"), json={"account": "demo", "text": "é" * 281}, headers=xq.auth
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    long = "word " * 100
    r = await xq.client.post(
        xq.url("/x/tweets"), json={"account": "demo", "text": long, "is_note_tweet": True}, headers=xq.auth
    )
    assert r.status_code == 502 and r.json()["error"] == "x_write_failed"  # not a premium account on X
    graph.premium.add(xq.x_user_id)
    note = await write(xq, "POST", "/x/tweets", 200, text=long, is_note_tweet=True)
    assert w.posts[note["tweetId"]].text == long
    r = await xq.client.post(xq.url("/x/tweets"), json={"account": "demo", "text": "hello from xquik"},
                             headers=xq.auth)  # fmt: skip
    assert r.status_code == 502 and r.json()["error"] == "x_write_failed"  # X: duplicate content
    r = await xq.client.post(xq.url("/x/tweets"), json={"account": "ghost", "text": "x"}, headers=xq.auth)
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    left = await spent(xq, left, 30)

    upload = await xq.client.post(
        xq.url("/x/media"), data={"account": "demo"}, files={"file": ("a.png", PNG, "image/png")},
        headers=xq.auth,
    )  # fmt: skip
    assert upload.status_code == 200, upload.text
    media_id = upload.json()["mediaId"]
    pic = await write(xq, "POST", "/x/tweets", 200, text="with a picture", media_ids=[media_id])
    assert len(w.posts[pic["tweetId"]].media) == 1
    left = await spent(xq, left, 20)

    target = made["tweetId"]
    assert await write(xq, "POST", f"/x/tweets/{target}/like", 200) == {"success": True}
    assert xq.x_user_id in w.posts[target].liked_by
    assert await write(xq, "DELETE", f"/x/tweets/{target}/like", 200) == {"success": True}
    assert await write(xq, "POST", f"/x/tweets/{target}/retweet", 200) == {"success": True}
    assert xq.x_user_id in w.posts[target].retweeted_by
    assert await write(xq, "DELETE", f"/x/tweets/{target}", 200) == {"success": True}
    assert w.posts[target].deleted
    assert await write(xq, "POST", f"/x/users/{alice.id}/follow", 200) == {"success": True}
    assert xq.x_user_id in alice.followers
    r = await xq.client.request(
        "DELETE", xq.url(f"/x/users/{alice.id}/follow"), params={"account": "demo"}, headers=xq.auth
    )
    assert r.status_code == 200 and xq.x_user_id not in alice.followers
    await write(xq, "POST", f"/x/users/{xq.x_user_id}/follow", 502)  # X refuses following oneself
    xq.sim.faults.fail_next(1, status=429, path_prefix="/2/users/")
    assert (await write(xq, "POST", f"/x/users/{alice.id}/follow", 429))["error"] == "x_api_rate_limited"
    left = await spent(xq, left, 60)
    xq.sim.faults.fail_next(1, status=503, path_prefix="/2/tweets")  # the job retries: posted once
    again = await write(xq, "POST", "/x/tweets", 200, text="after a 503")
    assert [p.id for p in w.posts.values() if p.text == "after a 503"] == [again["tweetId"]]
    left = await spent(xq, left, 10)

    sent = await write(xq, "POST", f"/x/dm/{alice.id}", 200, text="hello alice")
    assert sent["success"] is True and w.dms[-1].text == "hello alice"
    alice.accepts_dms = False
    r = await xq.client.post(xq.url(f"/x/dm/{alice.id}"), json={"account": "demo", "text": "again"},
                             headers=xq.auth)  # fmt: skip
    assert r.status_code == 502 and r.json()["error"] == "x_write_failed"
    alice.accepts_dms = True
    left = await spent(xq, left, 10)

    assert await write(xq, "PATCH", "/x/profile", 200, name="Demo Two", location="Earth") == {"success": True}
    assert w.users[xq.x_user_id].name == "Demo Two" and w.users[xq.x_user_id].location == "Earth"
    for path, limit in (("/x/profile/avatar", 700 * 1024), ("/x/profile/banner", 2 * 1024 * 1024)):
        ok = await xq.client.patch(xq.url(path), data={"account": "demo"},
                                   files={"file": ("a.png", PNG, "image/png")}, headers=xq.auth)  # fmt: skip
        assert ok.status_code == 200, ok.text
        big = PNG + b"\x00" * limit
        for data, status, code in ((big, 400, "invalid_input"), (b"not an image", 422, "invalid_media")):
            files = {"file": ("a.png", data, "image/png")}
            r = await xq.client.patch(xq.url(path), data={"account": "demo"}, files=files, headers=xq.auth)
            assert r.status_code == status and r.json()["error"] == code
    assert graph.profile(xq.x_user_id).profile_image_url and graph.profile(xq.x_user_id).profile_banner_url
    left = await spent(xq, left, 30)

    for method, path, extra in (
        ("POST", f"/x/users/{alice.id}/remove-follower", {}),
        ("POST", "/x/communities", {"name": "Builders", "description": "we build"}),
        ("POST", "/x/communities/123/join", {}),
        ("DELETE", "/x/communities/123", {"community_name": "Builders"}),
    ):
        body = await write(xq, method, path, 502, **extra)
        assert body["error"] == "x_write_failed" and "not offered by the X API" in body["message"]
    left = await spent(xq, left, 0)

    bob = await _connect(xq, "bob2")
    w.revoke("bob2")
    w.expire_access_tokens("bob2")
    r = await xq.client.post(xq.url("/x/tweets"), json={"account": "bob2", "text": "hi"}, headers=xq.auth)
    assert r.status_code == 403 and r.json()["error"] == "account_needs_reauth"
    r = await xq.client.post(
        xq.url(f"/x/users/{alice.id}/follow"), json={"account": str(bob)}, headers=xq.auth
    )
    assert r.status_code == 403 and r.json()["error"] == "account_needs_reauth"
    await spent(xq, left, 0)
    await xq.ledger_ok()


async def test_drafts_styles_and_compose(xq: Xq) -> None:
    made = [
        await xq.call("POST", "/drafts", 201, json={"text": f"draft {i}", "goal": "engagement"})
        for i in range(3)
    ]
    assert made[0]["topic"] is None and made[0]["createdAt"].endswith("Z") and made[0]["id"].isdigit()
    first = await xq.call("GET", "/drafts", 200, params={"limit": 2})
    assert [d["text"] for d in first["drafts"]] == ["draft 2", "draft 1"] and first["hasMore"] is True
    rest = await xq.call("GET", "/drafts", 200, params={"limit": 2, "afterCursor": first["afterCursor"]})
    assert [d["text"] for d in rest["drafts"]] == ["draft 0"] and rest == {
        **rest,
        "hasMore": False,
        "afterCursor": None,
    }
    assert await xq.call("GET", f"/drafts/{made[0]['id']}", 200) == made[0]
    assert (await xq.client.delete(xq.url(f"/drafts/{made[0]['id']}"), headers=xq.auth)).status_code == 204
    for path, status, code in (
        (f"/drafts/{made[0]['id']}", 404, "draft_not_found"),
        ("/drafts/x1", 400, "invalid_id"),
    ):
        for method in ("GET", "DELETE"):
            r = await xq.client.request(method, xq.url(path), headers=xq.auth)
            assert r.status_code == status and r.json()["error"] == code
    r = await xq.client.post(xq.url("/drafts"), json={"goal": "fame"}, headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"

    w = xq.sim.world
    for i in range(3):
        w.create_post(xq.peer_id, f"alice post {i}?")
    await xq.grant(100)
    await xq.call("PUT", "/account/x-identity", 200, json={"username": "alice"})
    left = await balance(xq)
    style = await xq.call("POST", "/styles", 201, json={"username": "@Alice"})
    assert style["xUsername"] == "alice" and style["isOwnAccount"] is True
    assert style["tweetCount"] >= 3 and style["tweets"][0]["authorUsername"] == "alice"
    left = await spent(xq, left, style["tweetCount"])  # 1 credit a tweet fetched
    custom = await xq.call(
        "PUT", "/styles/mine", 200, json={"label": "Mine", "tweets": [{"text": "short and sweet"}]}
    )
    assert custom["label"] == "Mine" and custom["isOwnAccount"] is False and custom["tweetCount"] == 1
    r = await xq.client.put(xq.url("/styles/mine"), json={"label": "Mine", "tweets": []}, headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    listed = await xq.call("GET", "/styles", 200)
    assert [s["xUsername"] for s in listed["styles"]] == ["Mine", "alice"] and "tweets" not in listed[
        "styles"
    ][0]
    both = await xq.call("GET", "/styles/compare", 200, params={"username1": "alice", "username2": "mine"})
    assert both["style1"]["xUsername"] == "alice" and both["style2"]["tweets"][0]["text"] == "short and sweet"
    r = await xq.client.get(xq.url("/styles/compare"), params={"username1": "alice"}, headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "missing_params"
    perf = await xq.call("GET", "/styles/alice/performance", 200)
    assert perf["tweetCount"] == style["tweetCount"] and {"likeCount", "viewCount", "bookmarkCount"} <= set(
        perf["tweets"][0]
    )
    left = await spent(xq, left, style["tweetCount"])
    assert (await xq.client.delete(xq.url("/styles/Mine"), headers=xq.auth)).status_code == 204
    for method, path in (
        ("GET", "/styles/mine"),
        ("DELETE", "/styles/mine"),
        ("GET", "/styles/mine/performance"),
    ):
        r = await xq.client.request(method, xq.url(path), headers=xq.auth)
        assert r.status_code == 404 and r.json()["error"] == "style_not_found"

    composed = await xq.call(
        "POST", "/compose", 200, json={"step": "compose", "goal": "conversation", "styleUsername": "alice"}
    )
    keys = {
        "contentRules",
        "scorerWeights",
        "followUpQuestions",
        "algorithmInsights",
        "engagementMultipliers",
    }
    assert keys | {"topPenalties"} <= set(composed)
    assert set(composed["scorerWeights"].values()) == {1} and composed["styleExamples"]
    refined = await xq.call(
        "POST", "/compose", 200, json={"step": "refine", "topic": "SMS", "tone": "dry", "mediaType": "photo"}
    )
    assert refined["compositionGuidance"] and refined["examplePatterns"][0].startswith("SMS")
    good = await xq.call(
        "POST",
        "/compose",
        200,
        json={"step": "score", "draft": "Which SMS route do you trust?", "hasMedia": True},
    )
    assert good["passedCount"] == good["totalChecks"] == 9 and good["topSuggestion"] is None
    bad = await xq.call(
        "POST", "/compose", 200, json={"step": "score", "draft": "BUY THIS GREAT DEAL #a #b #c https://x.io"}
    )
    failed = {c["factor"] for c in bad["checklist"] if not c["passed"]}
    assert failed == {"link", "hashtags", "question", "media", "caps"} and bad["passedCount"] == 4
    assert bad["topSuggestion"] == next(c["suggestion"] for c in bad["checklist"] if not c["passed"])
    r = await xq.client.post(xq.url("/compose"), json={"step": "score"}, headers=xq.auth)
    assert r.status_code == 400 and r.json()["error"] == "invalid_input"
    await spent(xq, left, 0)  # compose, drafts and custom styles are free
    await xq.ledger_ok()
