"""Idempotency-Key on POST endpoints: the same key and body within 24 hours answers what the first did.

The key is claimed before the request runs (`INSERT ... ON CONFLICT DO NOTHING`), so of several requests
racing with one key exactly one runs; the others wait for its answer (in this process, on a future) and
return it. Its response (status and body) is stored with the claim. Rules:

- same key, same method, path and body, within 24 h: the stored response, byte for byte;
- same key, another body (or endpoint): 409 IDEMPOTENCY_KEY_REUSED (the document's 409 is "duplicate
  resource or state conflict": the key is bound to another request; its 422s are about money and numbers);
- same key while the first request still runs on another engine process: 409 CONFLICT (retry shortly);
- the first request failed with a 5xx or 429 (nothing happened, or we cannot say it did): the claim is
  dropped so that a retry runs again; any other answer, 4xx included, is kept.

Keys are per account. This module must never interpret the body; it hashes it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

import asyncpg
import msgspec

from http_api.errors import ApiError

TTL_HOURS = 24
MAX_KEY_LENGTH = 255

_CLAIM = """
INSERT INTO http_idempotency (account_id, key, request_hash) VALUES ($1, $2, $3)
ON CONFLICT (account_id, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, status = NULL, body = NULL, created_at = now()
    WHERE http_idempotency.created_at < now() - make_interval(hours => $4)
RETURNING true
"""
_READ = "SELECT request_hash, status, body FROM http_idempotency WHERE account_id = $1 AND key = $2"
_COMPLETE = "UPDATE http_idempotency SET status = $3, body = $4 WHERE account_id = $1 AND key = $2"
_RELEASE = "DELETE FROM http_idempotency WHERE account_id = $1 AND key = $2 AND status IS NULL"


class StoredResponse(msgspec.Struct, frozen=True):
    status: int
    body: bytes
    replayed: bool = False  # answered from the store, not by running the request


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _keeps(status: int) -> bool:
    return status < 500 and status != 429


class IdempotencyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._running: dict[tuple[int, str], asyncio.Future[StoredResponse | None]] = {}

    async def run(
        self,
        account_id: int,
        key: str,
        fingerprint: str,
        work: Callable[[], Awaitable[StoredResponse]],
    ) -> StoredResponse:
        """The stored answer for (account, key), or run `work` once and store its answer."""
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise ApiError(400, "VALIDATION_ERROR", f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} characters")
        slot = (account_id, key)
        while True:
            local = self._running.get(slot)
            if local is not None:  # the first request runs here: wait for it, then read what it stored
                await asyncio.shield(local)
            else:
                # Registered before the database claim, so a second request in this process always finds
                # it and waits, even when its own statements overtake the first request's coroutine.
                done: asyncio.Future[StoredResponse | None] = asyncio.get_running_loop().create_future()
                self._running[slot] = done
                claimed = False
                try:
                    claimed = bool(await self._pool.fetchval(_CLAIM, account_id, key, fingerprint, TTL_HOURS))
                    if claimed:
                        return await self._run_claimed(slot, fingerprint, work)
                finally:
                    del self._running[slot]
                    done.set_result(None)
            row = await self._pool.fetchrow(_READ, account_id, key)
            if row is None:  # released by a failed first request between our two statements: claim again
                continue
            if row["request_hash"] != fingerprint:
                raise ApiError(
                    409,
                    "IDEMPOTENCY_KEY_REUSED",
                    "this Idempotency-Key was used with another request body or endpoint",
                    {"idempotency_key": key},
                )
            if row["status"] is None:
                if slot in self._running:
                    continue
                raise ApiError(
                    409,
                    "CONFLICT",
                    "a request with this Idempotency-Key is still being processed; retry shortly",
                    {"idempotency_key": key},
                    headers={"Retry-After": "1"},
                )
            return StoredResponse(int(row["status"]), bytes(row["body"]), replayed=True)

    async def _run_claimed(
        self,
        slot: tuple[int, str],
        fingerprint: str,
        work: Callable[[], Awaitable[StoredResponse]],
    ) -> StoredResponse:
        try:
            response = await work()
            if _keeps(response.status):
                await self._pool.execute(_COMPLETE, *slot, response.status, response.body)
            else:
                await self._pool.execute(_RELEASE, *slot)
            return response
        except BaseException:
            await asyncio.shield(self._pool.execute(_RELEASE, *slot))
            raise
