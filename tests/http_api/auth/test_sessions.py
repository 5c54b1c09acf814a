"""POST /v1/auth/refresh (rotation, reuse detection), POST /v1/auth/logout (revocation on every process),
and the account lock after 5 failed logins, held across engine processes."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.http_api.auth.conftest import PASSWORD, Second, bearer, login, register, status_within
from tests.http_api.conftest import Api


async def test_refresh_rotates_and_the_old_token_stops_working(api: Api) -> None:
    first = await register(api)
    r = await api.client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()["data"]
    assert second["token_type"] == "Bearer" and second["expires_in"] == 900
    assert (
        second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    )
    assert (await api.client.get("/v1/auth/me", headers=bearer(second["access_token"]))).status_code == 200
    r = await api.client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(api: Api) -> None:
    first = await register(api)
    rotated = (
        await api.client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    successor = rotated["data"]
    # Someone replays the old token (stolen, or a client that failed to store its successor).
    r = await api.client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    # The family is gone: the successor refresh token and the access tokens of the session too.
    r = await api.client.post("/v1/auth/refresh", json={"refresh_token": successor["refresh_token"]})
    assert r.status_code == 401
    assert (await api.client.get("/v1/auth/me", headers=bearer(successor["access_token"]))).status_code == 401
    # Another sign-in of the same user is untouched.
    assert (await login(api)).status_code == 200


async def test_concurrent_refreshes_with_one_token_let_at_most_one_through(api: Api) -> None:
    first = await register(api)
    answers = await asyncio.gather(*[
        api.client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}) for _ in range(4)
    ])  # fmt: skip
    # The first to lock the token's row rotates it; the others find it used: a reuse, the family ends.
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]
    winner = next(a for a in answers if a.status_code == 200).json()["data"]
    assert (await api.client.get("/v1/auth/me", headers=bearer(winner["access_token"]))).status_code == 401


async def test_refresh_refuses_garbage_and_access_tokens(api: Api) -> None:
    first = await register(api)
    for token in ["nope", first["access_token"], first["refresh_token"][:-3] + "abc"]:
        r = await api.client.post("/v1/auth/refresh", json={"refresh_token": token})
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED", token
    assert (await api.client.post("/v1/auth/refresh", json={})).status_code == 400


async def test_logout_revokes_the_session_on_every_engine_process_within_a_second(
    api: Api, second: Any
) -> None:
    data = await register(api)
    headers = bearer(data["access_token"])
    async with second() as other:
        assert isinstance(other, Second)
        assert (await other.client.get("/v1/auth/me", headers=headers)).status_code == 200  # cached there now
        r = await api.client.post("/v1/auth/logout", json={"refresh_token": data["refresh_token"]})
        assert r.status_code == 200 and r.json()["data"]["status"] == "logged_out"
        assert (await api.client.get("/v1/auth/me", headers=headers)).status_code == 401  # here: at once
        took = await status_within(
            other.client, "/v1/auth/me", headers, 401, 1.0
        )  # there: within the poll interval
        assert took < 1.0
    r = await api.client.post("/v1/auth/refresh", json={"refresh_token": data["refresh_token"]})
    assert r.status_code == 401
    # Logging out twice is fine (the document calls it a blacklist: adding again changes nothing).
    r = await api.client.post("/v1/auth/logout", json={"refresh_token": data["refresh_token"]})
    assert r.status_code == 200


async def test_logout_with_only_the_access_token_ends_its_session(api: Api) -> None:
    data = await register(api)
    headers = bearer(data["access_token"])
    r = await api.client.post("/v1/auth/logout", headers=headers)
    assert r.status_code == 200
    assert (await api.client.get("/v1/auth/me", headers=headers)).status_code == 401
    assert (await api.client.post("/v1/auth/logout")).status_code == 401  # nothing to say which session
    r = await api.client.post("/v1/auth/logout", json={"refresh_token": "garbage"})
    assert r.status_code == 401


async def test_five_failed_logins_lock_the_account_on_every_process_until_the_lock_ends(
    api: Api, second: Any
) -> None:
    await register(api)
    for _ in range(4):
        r = await login(api, password="wrong password")
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    r = await login(api, password="wrong password")  # the fifth
    assert r.status_code == 401 and r.json()["error"]["code"] == "ACCOUNT_LOCKED"
    assert r.json()["error"]["details"]["retry_after"] == 15 * 60
    r = await login(api)  # the right password does not get in while locked, and is not even checked
    assert r.status_code == 429 and r.json()["error"]["code"] == "ACCOUNT_LOCKED"
    assert 0 < int(r.headers["retry-after"]) <= 15 * 60
    async with second() as other:
        r = await other.client.post("/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert r.status_code == 429 and r.json()["error"]["code"] == "ACCOUNT_LOCKED"
        # The lock ends (15 minutes, shortened here); then the right password signs in, on any process.
        await api.stack.pool.execute("UPDATE users SET locked_until = now() - interval '1 second'")
        r = await other.client.post("/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert r.status_code == 200


async def test_a_successful_login_resets_the_count(api: Api) -> None:
    await register(api)
    for _ in range(4):
        assert (await login(api, password="wrong password")).status_code == 401
    assert (await login(api)).status_code == 200
    for _ in range(4):
        r = await login(api, password="wrong password")
        assert r.json()["error"]["code"] == "UNAUTHORIZED"
    assert (await login(api)).status_code == 200


async def test_concurrent_wrong_passwords_count_exactly(api: Api) -> None:
    await register(api)
    answers = await asyncio.gather(*[login(api, password=f"wrong {i}") for i in range(8)])
    codes = sorted(a.json()["error"]["code"] for a in answers)
    assert codes.count("UNAUTHORIZED") == 4 and codes.count("ACCOUNT_LOCKED") == 4
    assert sorted(a.status_code for a in answers if a.json()["error"]["code"] == "ACCOUNT_LOCKED") == [
        401, 429, 429, 429,
    ]  # fmt: skip
