"""engine/identity/ parts that need no HTTP: the credential cache, the signing key, hashing, and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from engine.identity.cache import ExpiringCache
from engine.identity.hashing import hash_secret, legacy_secret_hash, verify_secret
from engine.identity.mailer import MailSender, queue_mail
from engine.identity.service import Identity
from engine.identity.signing_keys import SigningKeyError, load_signing_key
from engine.infra.settings import MailSettings, load_settings
from engine.simulation.mail_sink import MailSink


def test_the_cache_is_bounded_and_forgets_the_least_recently_used_and_the_expired() -> None:
    now = [0.0]
    cache: ExpiringCache[str, int] = ExpiringCache(max_size=2, ttl=10.0, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    now[0] = 10.0
    assert cache.get("a") is None
    cache.put("d", 4)
    cache.drop_where(lambda key, value: value == 4)
    assert cache.get("d") is None


def test_the_signing_key_is_made_once_per_data_directory_and_read_back(tmp_path: Path) -> None:
    first = load_signing_key("", tmp_path)
    again = load_signing_key("", tmp_path)
    assert first.kid == again.kid and first.jwk()["alg"] == "RS256" and "d" not in first.jwk()
    assert (tmp_path / "auth" / "jwt-signing-key.pem").stat().st_mode & 0o077 == 0
    assert load_signing_key("", tmp_path / "other").kid != first.kid


def test_a_configured_key_must_be_a_readable_rsa_private_key(tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    assert (
        load_signing_key(str(pem), tmp_path).public_key.public_numbers() == key.public_key().public_numbers()
    )
    with pytest.raises(SigningKeyError, match="cannot read"):
        load_signing_key(str(tmp_path / "missing.pem"), tmp_path)
    pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(SigningKeyError, match="RSA"):
        load_signing_key(str(pem), tmp_path)


def test_argon2id_hashes_verify_and_legacy_hashes_ask_to_be_replaced() -> None:
    stored = hash_secret("sk_live_secret")
    assert stored.startswith("$argon2id$") and verify_secret("sk_live_secret", stored) == (True, False)
    assert verify_secret("sk_live_other", stored) == (False, False)
    assert verify_secret("sk_live_secret", legacy_secret_hash("sk_live_secret")) == (True, True)
    assert verify_secret("sk_live_other", legacy_secret_hash("sk_live_secret"))[0] is False
    assert verify_secret("anything", None) == (False, False)
    assert verify_secret("anything", "$argon2id$garbage") == (False, False)


async def test_prune_forgets_expired_tokens_and_old_sent_mail(database_url: str, tmp_path: Path) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        settings = load_settings(None, env={}, data_dir=str(tmp_path))
        async with Identity.start(settings, pool) as identity:
            signed = await identity.register("ada@example.com", "a good password", "Ada", "", None)
            await pool.execute(
                "INSERT INTO mail_outbox (to_address, subject, body, discard_after, sent_at, created_at) "
                "VALUES ('x@y.z', 's', '', now(), now(), now() - interval '8 days')"
            )
            await pool.execute("UPDATE refresh_tokens SET expires_at = now() - interval '2 days'")
            await pool.execute("UPDATE user_tokens SET expires_at = now() - interval '2 days'")
            await identity.prune()
            assert await pool.fetchval("SELECT count(*) FROM refresh_tokens") == 0
            assert await pool.fetchval("SELECT count(*) FROM user_tokens") == 0
            assert await pool.fetchval("SELECT count(*) FROM mail_outbox WHERE to_address = 'x@y.z'") == 0
            # The session is kept while it was used recently (its access tokens may still be live).
            assert (
                await pool.fetchval(
                    "SELECT count(*) FROM user_sessions WHERE id = $1::uuid", signed.tokens.session_id
                )
                == 1
            )
    finally:
        await pool.close()


async def test_mail_the_smtp_server_refuses_is_retried_then_given_up_when_its_link_expires(
    database_url: str,
) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        async with MailSink() as gone:
            closed_port = gone.port  # nothing listens there once this sink has stopped
        async with pool.acquire() as conn:
            await queue_mail(
                conn, "ada@example.com", "Hello", "the body", datetime.now(UTC) + timedelta(hours=1)
            )
            await queue_mail(
                conn, "bob@example.com", "Late", "stale", datetime.now(UTC) - timedelta(seconds=1)
            )
        down = MailSender(pool, MailSettings(host="127.0.0.1", port=closed_port, timeout_seconds=5))
        assert await down.send_due() == 2
        row = await pool.fetchrow("SELECT * FROM mail_outbox WHERE to_address = 'ada@example.com'")
        assert row["sent_at"] is None and row["attempts"] == 1 and "Connection" in row["last_error"]
        assert row["next_attempt_at"] > datetime.now(UTC)  # backed off, not dropped
        given_up = await pool.fetchrow("SELECT * FROM mail_outbox WHERE to_address = 'bob@example.com'")
        assert given_up["sent_at"] is None and given_up["body"] == "" and "given up" in given_up["last_error"]
        async with MailSink() as sink:
            await pool.execute("UPDATE mail_outbox SET next_attempt_at = now() WHERE sent_at IS NULL "
                               "AND to_address = 'ada@example.com'")  # fmt: skip
            up = MailSender(pool, MailSettings(host="127.0.0.1", port=sink.port))
            assert await up.send_due() == 1
            message = sink.mails[0]
            assert message["To"] == "ada@example.com" and message.get_content().strip() == "the body"
            assert sink.recipients == [["ada@example.com"]]  # the stale one was never sent
        row = await pool.fetchrow("SELECT * FROM mail_outbox WHERE to_address = 'ada@example.com'")
        assert row["sent_at"] is not None and row["body"] == ""
    finally:
        await pool.close()
