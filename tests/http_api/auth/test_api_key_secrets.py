"""API secrets at rest are Argon2id ("Secrets hashed Argon2id at rest"); keys hashed the old way keep working
and are upgraded; the in-memory cache of verified keys forgets a revoked key on every process within a
second."""

from __future__ import annotations

from typing import Any

from engine.identity.hashing import legacy_secret_hash
from tests.http_api.auth.conftest import status_within
from tests.http_api.conftest import Api


async def test_new_keys_follow_the_documented_prefixes_and_store_only_an_argon2id_hash(api: Api) -> None:
    r = await api.client.post("/v1/settings/api-keys", json={"live": False}, headers=api.headers())
    created = r.json()["data"]
    assert created["key"].startswith("bsms_test_") and created["secret"].startswith("sk_test_")
    row = await api.stack.pool.fetchrow("SELECT secret_hash FROM api_keys WHERE key = $1", created["key"])
    assert row["secret_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert created["secret"] not in row["secret_hash"]


async def test_a_key_hashed_before_argon2id_still_works_and_is_rehashed_at_first_use(api: Api) -> None:
    secret = "sk_live_" + "legacy-secret-of-an-old-key"
    await api.stack.pool.execute(
        "INSERT INTO api_keys (key, account_id, secret_hash) VALUES ('sk_live_oldstyle', $1, $2)",
        api.stack.account_id,
        legacy_secret_hash(secret),
    )
    old = {"X-API-Key": "sk_live_oldstyle", "X-API-Secret": secret}
    assert (await api.client.get("/v1/billing/balance", headers=old)).status_code == 200
    stored = await api.stack.pool.fetchval("SELECT secret_hash FROM api_keys WHERE key = 'sk_live_oldstyle'")
    assert stored.startswith("$argon2id$")
    # The upgrade dropped the cache entry (the hash changed); the same secret keeps working.
    await status_within(api.client, "/v1/billing/balance", old, 200, 1.0)
    wrong = {"X-API-Key": "sk_live_oldstyle", "X-API-Secret": secret + "x"}
    assert (await api.client.get("/v1/billing/balance", headers=wrong)).status_code == 401
    bearer = {"Authorization": f"Bearer sk_live_oldstyle:{secret}"}
    assert (await api.client.get("/v1/billing/balance", headers=bearer)).status_code == 200


async def test_a_revoked_key_stops_working_on_every_engine_process_within_a_second(
    api: Api, second: Any
) -> None:
    victim = await api.new_key()
    async with second() as other:
        assert (await other.client.get("/v1/billing/balance", headers=victim)).status_code == 200  # cached
        r = await api.client.delete(f"/v1/settings/api-keys/{victim['X-API-Key']}", headers=api.headers())
        assert r.status_code == 200
        assert (await api.client.get("/v1/billing/balance", headers=victim)).status_code == 401
        assert await status_within(other.client, "/v1/billing/balance", victim, 401, 1.0) < 1.0
        # A change made behind the API's back (plain SQL: the operator) reaches the caches too.
        reader = await api.new_key(permissions=["billing.read"])
        assert (await other.client.get("/v1/billing/balance", headers=reader)).status_code == 200
        await api.stack.pool.execute(
            "UPDATE api_keys SET permissions = '{sms.read}' WHERE key = $1", reader["X-API-Key"]
        )
        assert await status_within(other.client, "/v1/billing/balance", reader, 403, 1.0) < 1.0


async def test_a_wrong_secret_for_a_cached_key_is_still_refused(api: Api) -> None:
    assert (await api.client.get("/v1/billing/balance", headers=api.headers())).status_code == 200
    r = await api.client.get("/v1/billing/balance", headers=api.headers(secret="sk_live_guess"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    assert (await api.client.get("/v1/billing/balance", headers=api.headers())).status_code == 200
