"""Connected accounts at rest: secrets sealed under a rotating key ring, bound to their row, against
the real PostgreSQL; BYOK app credentials; OAuth states used at most once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from engine.social.accounts.sealing import KeyRing, Sealed, SealingError, load_key_ring
from engine.social.accounts.store import PendingAuthorization, PgAccountStore, TokenSet
from engine.social.connector import ConnectedAccount
from engine.social.errors import NeedsReauth


def _account(customer: int, user: str = "1234") -> ConnectedAccount:
    return ConnectedAccount(id=0, account_id=customer, platform="x", platform_user_id=user, username="demo",
                            display_name="Demo", scopes=("tweet.read", "offline.access"))  # fmt: skip


TOKENS = TokenSet(access_token="access-SECRET-1", refresh_token="refresh-SECRET-1",
                  expires_at=datetime(2030, 1, 1, tzinfo=UTC), scope="tweet.read")  # fmt: skip


def test_sealed_secrets_open_only_with_their_key_and_context() -> None:
    ring = KeyRing.parse(KeyRing.new_entry("k1"))
    sealed = ring.seal(b"token", context="row-1")
    assert sealed.key_id == "k1" and b"token" not in sealed.blob
    assert ring.unseal(sealed, context="row-1") == b"token"
    with pytest.raises(SealingError):  # copied into another row
        ring.unseal(sealed, context="row-2")
    with pytest.raises(SealingError):
        ring.unseal(Sealed("k1", sealed.blob[:-1] + bytes([sealed.blob[-1] ^ 1])), context="row-1")
    assert ring.seal(b"token", context="row-1").blob != sealed.blob  # a fresh nonce every time


def test_a_rotated_ring_seals_with_the_new_key_and_opens_the_old() -> None:
    k1, k2 = KeyRing.new_entry("k1"), KeyRing.new_entry("k2")
    sealed = KeyRing.parse(k1).seal(b"secret", context="c")
    rotated = KeyRing.parse(f"{k2},{k1}")
    assert rotated.current_id == "k2" and rotated.needs_reseal(sealed)
    assert rotated.unseal(sealed, context="c") == b"secret"
    assert rotated.seal(b"secret", context="c").key_id == "k2"
    with pytest.raises(SealingError, match="no key 'k1'"):
        KeyRing.parse(KeyRing.new_entry("k3")).unseal(sealed, context="c")


@pytest.mark.parametrize(
    "text, why",
    [
        ("", "at least one key"),
        ("k1", "id:base64"),
        ("k1:abcd", "32 bytes"),
        ("bad id!:" + "A" * 43, "invalid key id"),
    ],
)
def test_a_bad_key_ring_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(SealingError, match=why):
        KeyRing.parse(text)


def test_without_configured_keys_a_key_file_is_made_once_and_kept(tmp_path: Path) -> None:
    first = load_key_ring("", "", tmp_path)
    sealed = first.seal(b"x", context="c")
    again = load_key_ring("", "", tmp_path)
    assert again.unseal(sealed, context="c") == b"x"
    assert (tmp_path / "social-keys.txt").stat().st_mode & 0o777 == 0o600
    with pytest.raises(SealingError, match="does not exist"):
        load_key_ring("", str(tmp_path / "missing.txt"), tmp_path)


async def test_tokens_are_stored_sealed_and_read_back(
    store: PgAccountStore, pool: asyncpg.Pool, customer: int
) -> None:
    record = await store.connect_account(_account(customer), TOKENS)
    raw = await pool.fetchrow(
        "SELECT credentials, credentials_key_id FROM social_accounts WHERE id = $1", record.account.id
    )
    assert b"SECRET" not in bytes(raw["credentials"]) and raw["credentials_key_id"] == "k1"
    assert await store.tokens(record.account.id) == TOKENS
    assert record.account.scopes == ("tweet.read", "offline.access") and record.state == "active"
    assert record.access_expires_at == TOKENS.expires_at


async def test_a_reconnect_renews_the_account_and_clears_needs_reauth(
    store: PgAccountStore, customer: int
) -> None:
    first = await store.connect_account(_account(customer), TOKENS)
    await store.set_state(first.account.id, "needs_reauth", "refresh refused")
    renewed = TokenSet(access_token="access-2", refresh_token="refresh-2")
    second = await store.connect_account(_account(customer), renewed)
    assert second.account.id == first.account.id and second.state == "active" and second.state_reason == ""
    assert (await store.tokens(first.account.id)).access_token == "access-2"


async def test_another_customer_never_sees_the_account(
    store: PgAccountStore, pool: asyncpg.Pool, customer: int
) -> None:
    other = await pool.fetchval("INSERT INTO accounts (name) VALUES ('other') RETURNING id")
    record = await store.connect_account(_account(customer), TOKENS)
    assert await store.get(record.account.id, account_id=other) is None
    assert await store.list(other) == []
    assert [r.account.id for r in await store.list(customer, platform="x")] == [record.account.id]


async def test_a_refresh_that_fails_for_good_marks_needs_reauth(store: PgAccountStore, customer: int) -> None:
    record = await store.connect_account(_account(customer), TOKENS)

    async def refused(current: TokenSet) -> TokenSet:
        raise NeedsReauth("invalid_request: Value passed for the token was invalid.", platform="x")

    with pytest.raises(NeedsReauth):
        await store.refresh_tokens(record.account.id, refused, due=lambda t: True)
    after = await store.get(record.account.id)
    assert after is not None and after.state == "needs_reauth" and "invalid" in after.state_reason
    assert await store.tokens(record.account.id) == TOKENS  # nothing half-written


async def test_byok_secrets_are_sealed_per_customer_and_brand(
    store: PgAccountStore, pool: asyncpg.Pool, customer: int
) -> None:
    app = await store.put_app_credentials(customer, "x", "their-client", "their-SECRET")
    brand = await store.put_app_credentials(customer, "x", "brand-client", "brand-SECRET", brand="b1")
    raw = await pool.fetchval("SELECT client_secret FROM social_app_credentials WHERE id = $1", app.id)
    assert b"SECRET" not in bytes(raw)
    assert (await store.find_app_credentials(customer, "x")) == app and app.client_secret == "their-SECRET"
    assert (await store.find_app_credentials(customer, "x", brand="b1")) == brand
    replaced = await store.put_app_credentials(customer, "x", "their-client-2", "new-SECRET")
    assert replaced.id == app.id and replaced.client_secret == "new-SECRET"
    assert await store.delete_app_credentials(customer, "x") and not await store.delete_app_credentials(
        customer, "x"
    )


async def test_an_oauth_state_is_taken_once_and_not_after_it_expires(
    store: PgAccountStore, customer: int
) -> None:
    def pending(state: str, expires_in: float) -> PendingAuthorization:
        return PendingAuthorization(state=state, account_id=customer, platform="x", redirect_uri="https://cb",
                                    scopes=("tweet.read",), code_verifier="verifier-" + state,
                                    expires_at=datetime.now(UTC) + timedelta(seconds=expires_in))  # fmt: skip

    await store.save_authorization(pending("live", 600))
    await store.save_authorization(pending("stale", -1))
    taken = await store.take_authorization("live")
    assert taken is not None and taken.code_verifier == "verifier-live"
    assert await store.take_authorization("live") is None
    assert await store.take_authorization("stale") is None


async def test_reseal_moves_every_secret_to_the_current_key(pool: asyncpg.Pool, customer: int) -> None:
    k1, k2 = KeyRing.new_entry("k1"), KeyRing.new_entry("k2")
    old = PgAccountStore(pool, KeyRing.parse(k1))
    record = await old.connect_account(_account(customer), TOKENS)
    await old.put_app_credentials(customer, "x", "client", "app-secret")
    new = PgAccountStore(pool, KeyRing.parse(f"{k2}\n# the old key, kept until resealed\n{k1}"))
    assert await new.reseal() == 2
    assert await new.reseal() == 0
    ids = await pool.fetch("SELECT credentials_key_id AS k FROM social_accounts UNION ALL "
                           "SELECT client_secret_key_id FROM social_app_credentials")  # fmt: skip
    assert {row["k"] for row in ids} == {"k2"}
    without_k1 = PgAccountStore(pool, KeyRing.parse(k2))  # the old key can now be dropped
    assert await without_k1.tokens(record.account.id) == TOKENS
    assert (await without_k1.find_app_credentials(customer, "x")) is not None
