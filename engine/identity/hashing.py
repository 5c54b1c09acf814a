"""Argon2id for everything a person or a client proves by knowing it: passwords and API secrets.

One parameter set (OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane; about 25 ms here) for both.
Hashing and verifying are slow on purpose, so the async helpers run them on a small thread pool of their
own (argon2-cffi releases the GIL): the event loop, and with it every SMPP bind, never waits for one, and
at most `_WORKERS` run at once however many wrong passwords arrive.

API secrets stored before Argon2id (an HMAC-SHA256 under a fixed pepper, 64 hex digits) still verify;
`verify_secret` says when a stored hash should be replaced, and the caller re-hashes on success.

This module must never log, return or store a password or a secret in clear.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from concurrent.futures import ThreadPoolExecutor

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = argon2.PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, type=argon2.Type.ID)
_WORKERS = 2
_pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="argon2")

# The format before Argon2id: HMAC-SHA256(pepper, secret) in hex. Kept only to verify such hashes.
LEGACY_PEPPER = b"smsengine-api-key-v1"

# Verified against when there is no stored hash (unknown key or user), so the answer takes as long.
_DUMMY = _HASHER.hash("smsengine-dummy-secret")


def hash_secret(secret: str) -> str:
    """An Argon2id hash ($argon2id$v=19$...) of a password or an API secret, with a fresh salt."""
    return _HASHER.hash(secret)


def legacy_secret_hash(secret: str) -> str:
    return hmac.new(LEGACY_PEPPER, secret.encode(), hashlib.sha256).hexdigest()


def verify_secret(secret: str, stored: str | None) -> tuple[bool, bool]:
    """(matches, should_rehash). `stored` None: a dummy verification, always (False, False)."""
    if stored is None:
        _verify_argon2(secret, _DUMMY)
        return False, False
    if not stored.startswith("$argon2"):
        return hmac.compare_digest(legacy_secret_hash(secret), stored), True
    if not _verify_argon2(secret, stored):
        return False, False
    return True, _HASHER.check_needs_rehash(stored)


def _verify_argon2(secret: str, stored: str) -> bool:
    try:
        return _HASHER.verify(stored, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_secret_async(secret: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_secret, secret)


async def verify_secret_async(secret: str, stored: str | None) -> tuple[bool, bool]:
    return await asyncio.get_running_loop().run_in_executor(_pool, verify_secret, secret, stored)
