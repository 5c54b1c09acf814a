"""Operator actions: accounts, SMPP credentials, carriers and their binds, MO numbers, API keys.

Plain async functions on a pool, used by the CLI, the demo and the tests alike. Money goes through the
ledger (billing), rates and prices through routing's store: this module only ties them together.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import asyncpg.pool

from billing.accounts import open_account, top_up
from engine.carriers.link import CarrierConnection
from engine.customers.credentials import hash_password
from engine.identity.hashing import hash_secret_async
from engine.outbox.url_guard import TargetPolicy, UnsafeTarget
from routing.model import Carrier, PriceListOwner, TariffRow
from routing.storage import PgRoutingStore


async def create_account(
    pool: asyncpg.Pool,
    name: str,
    *,
    currency: str = "EUR",
    credit_limit: int = 0,
    callback_url: str = "",
    low_threshold: int | None = None,
    refund_undeliverable: bool = False,
    targets: TargetPolicy | None = None,
) -> int:
    """A new account; a callback URL must pass the SSRF guard (ValueError says why not)."""
    if callback_url:
        try:
            callback_url = (targets or TargetPolicy()).check_url(callback_url)
        except UnsafeTarget as exc:
            raise ValueError(f"callback URL {callback_url!r} not allowed: {exc.reason}") from None
    async with pool.acquire() as conn, conn.transaction():
        account_id = await open_customer_account(
            conn,
            name,
            currency=currency,
            credit_limit=credit_limit,
            callback_url=callback_url,
            low_threshold=low_threshold,
            refund_undeliverable=refund_undeliverable,
        )
    if account_id is None:
        raise ValueError(f"an account named {name!r} exists already")
    return account_id


async def open_customer_account(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy,
    name: str,
    *,
    currency: str = "EUR",
    credit_limit: int = 0,
    callback_url: str = "",
    low_threshold: int | None = None,
    refund_undeliverable: bool = False,
) -> int | None:
    """An account and its ledger customer, in the caller's transaction; None when the name is taken."""
    account_id = await conn.fetchval(
        "INSERT INTO accounts (name, currency, callback_url) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO NOTHING RETURNING id",
        name,
        currency,
        callback_url,
    )
    if account_id is None:
        return None
    await open_account(
        conn,
        int(account_id),
        currency,
        credit_limit=credit_limit,
        low_threshold=low_threshold,
        refund_undeliverable=refund_undeliverable,
    )
    return int(account_id)


async def account_id_of(pool: asyncpg.Pool, name_or_id: str) -> int:
    row = await pool.fetchrow(
        "SELECT id FROM accounts WHERE name = $1 OR id::text = $1 ORDER BY (name = $1) DESC LIMIT 1",
        name_or_id,
    )
    if row is None:
        raise LookupError(f"no account {name_or_id!r}")
    return int(row["id"])


async def add_funds(pool: asyncpg.Pool, account_id: int, amount: int, key: str | None = None) -> int:
    """Top up (idempotent by key); returns the available balance after it."""
    async with pool.acquire() as conn:
        result = await top_up(conn, account_id, amount, key or f"topup-{secrets.token_hex(8)}")
    return result.available


async def set_smpp_credentials(
    pool: asyncpg.Pool,
    account_id: int,
    system_id: str,
    password: str,
    *,
    allowed_ips: Sequence[str] = (),
    max_binds: int = 4,
    throughput: int = 100,
) -> None:
    if len(password) > 8:
        raise ValueError("an SMPP password is at most 8 characters (SMPP 3.4 5.2.2)")
    await pool.execute(
        """INSERT INTO smpp_credentials
               (system_id, account_id, password_hash, allowed_ips, max_binds, throughput)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (system_id) DO UPDATE SET account_id = EXCLUDED.account_id,
               password_hash = EXCLUDED.password_hash, allowed_ips = EXCLUDED.allowed_ips,
               max_binds = EXCLUDED.max_binds, throughput = EXCLUDED.throughput""",
        system_id,
        account_id,
        hash_password(password),
        list(allowed_ips),
        max_binds,
        throughput,
    )


async def add_carrier(pool: asyncpg.Pool, connection: CarrierConnection, *, currency: str = "EUR") -> None:
    """Register a carrier with routing and say how to bind to it."""
    await PgRoutingStore(pool).upsert_carrier(
        Carrier(id=connection.carrier, name=connection.carrier, currency=currency)
    )
    c = connection
    await pool.execute(
        """INSERT INTO carrier_connections (carrier, host, port, system_id, password, system_type, binds,
               window_size, throughput, long_message, packed_gsm, resp_id_format, dlr_id_format, tls, enabled)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           ON CONFLICT (carrier) DO UPDATE SET host = EXCLUDED.host, port = EXCLUDED.port,
               system_id = EXCLUDED.system_id, password = EXCLUDED.password,
               system_type = EXCLUDED.system_type, binds = EXCLUDED.binds,
               window_size = EXCLUDED.window_size, throughput = EXCLUDED.throughput,
               long_message = EXCLUDED.long_message, packed_gsm = EXCLUDED.packed_gsm,
               resp_id_format = EXCLUDED.resp_id_format, dlr_id_format = EXCLUDED.dlr_id_format,
               tls = EXCLUDED.tls, enabled = EXCLUDED.enabled""",
        c.carrier, c.host, c.port, c.system_id, c.password, c.system_type, c.binds, c.window_size,
        c.throughput, c.long_message, c.packed_gsm, c.resp_id_format, c.dlr_id_format, c.tls, c.enabled,
    )  # fmt: skip


def flat_tariff(prefixes: Sequence[str], amount: int, currency: str = "EUR") -> list[TariffRow]:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    return [
        TariffRow(prefix=p, amount_micro=amount, currency=currency, effective_from=start) for p in prefixes
    ]


async def set_rates(pool: asyncpg.Pool, carrier: str, rows: Sequence[TariffRow]) -> int:
    return await PgRoutingStore(pool).import_rates(carrier, rows, replace=True)


async def set_prices(pool: asyncpg.Pool, account_id: int, rows: Sequence[TariffRow]) -> int:
    store = PgRoutingStore(pool)
    owner = PriceListOwner(account_id=account_id)
    await store.ensure_price_list(owner, rows[0].currency if rows else "EUR")
    return await store.import_prices(owner, rows, replace=True)


async def add_mo_number(pool: asyncpg.Pool, account_id: int, number: str) -> None:
    await pool.execute(
        "INSERT INTO mo_numbers (number, account_id) VALUES ($1, $2) "
        "ON CONFLICT (number) DO UPDATE SET account_id = EXCLUDED.account_id",
        number.lstrip("+"),
        account_id,
    )


# API keys, as the BulkSMSRates document shows them: the key is public and says its mode
# (bsms_live_ / bsms_test_), the secret (sk_live_ / sk_test_ + 32 random bytes) is shown once and stored
# only as an Argon2id hash (engine/identity/hashing.py). Keys made before carry sk_live_/sk_test_ ids and
# an HMAC hash: they keep working, and their hash becomes Argon2id at their first use.
# Single-token keys: `Authorization: Bearer <token>` with no separate secret (the BulkAPIs document's
# bulk_ak_ keys). The row's key is derived from the token (so a request finds its row by one index
# lookup) and its secret_hash is the token's SHA-256, as that document says keys are stored.
# The Xquik document's keys (seed 002) are the same kind of row: `xq_` and 64 hex digits.
TOKEN_PREFIXES = ("bulk_ak_", "xq_")


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def token_key_id(token: str) -> str:
    """The api_keys.key of a single-token key: public, and no way back to the token."""
    return "tok_" + hashlib.sha256(b"key-id:" + token.encode()).hexdigest()[:40]


async def create_token_key(
    pool: asyncpg.Pool,
    account_id: int,
    *,
    prefix: str = "bulk_ak_",
    permissions: Sequence[str] = ("*",),
    name: str = "",
    rate_limit: float | None = None,
    rate_burst: int | None = None,
) -> tuple[str, str]:
    """(key id, token): the token is shown once; only its SHA-256 is stored."""
    assert prefix in TOKEN_PREFIXES, prefix
    token = prefix + (secrets.token_hex(32) if prefix == "xq_" else secrets.token_urlsafe(32))
    key = token_key_id(token)
    await pool.execute(
        "INSERT INTO api_keys (key, account_id, secret_hash, live, permissions, name, rate_limit, rate_burst)"
        " VALUES ($1, $2, $3, true, $4, $5, $6, $7)",
        key, account_id, token_hash(token), list(permissions), name, rate_limit, rate_burst,
    )  # fmt: skip
    return key, token


async def create_api_key(
    pool: asyncpg.Pool,
    account_id: int,
    *,
    live: bool = True,
    permissions: Sequence[str] = ("*",),
    name: str = "",
) -> tuple[str, str]:
    """(key, secret): the secret is shown once and stored only hashed."""
    mode = "live" if live else "test"
    key = f"bsms_{mode}_" + secrets.token_hex(12)
    secret = f"sk_{mode}_" + secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO api_keys (key, account_id, secret_hash, live, permissions, name) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        key,
        account_id,
        await hash_secret_async(secret),
        live,
        list(permissions),
        name,
    )
    return key, secret
