"""Extraction jobs: a durable job table (xquik_extractions) that every engine node polls, and the runner
that leases a job and reads X one page at a time.

    view = await estimate(pool, reader, account_id, body)     # what create will hold, from the same plan
    view = await create(pool, reader, account_id, body)       # credits held first (InsufficientCredits)
    runner = ExtractionRunner(pool, reads, owner="node-1"); runner.start(); runner.wake(); await runner.stop()

Why a table and not a kind of the dispatch loop: the loop sends one job to one platform target and
settles one outcome; an extraction is a long read of many pages whose progress (the X cursor) must
survive a restart, with no lane, no failover and no send mark. So each page's rows commit in the
transaction that stores the next cursor and the new count (rows keyed by X id, never twice), a job is
leased by one node at a time (lease_owner / lease_until; a restarted node takes its own jobs back at
once, a dead node's are taken once the lease runs out), and the end captures the credits of the rows
stored (engine/xquik/credits.py: idempotent by the job's ref) before the job is marked final.
This module must never charge anything but through engine/xquik/credits.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
import structlog

from engine.xquik import credits
from engine.xquik.extractions.tools import ExtractionError, Plan, credits_for, keeps, plan, rows_of
from engine.xquik.xread import XReader, XReadError, XReads

log = structlog.get_logger(__name__)

KIND = "extraction"
TRANSIENT = {"x_api_rate_limited", "x_api_unavailable"}


def _ref(job_id: uuid.UUID | str) -> str:
    return f"extraction:{job_id}"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError as exc:
        raise ExtractionError("invalid_input", "cursor is not valid") from exc


def _plan_json(p: Plan) -> dict[str, Any]:
    return {"path": p.path, "query": p.query, "token_param": p.token_param, "rows": p.rows,
            "estimated": p.estimated, "source": p.source, "keep": p.keep}  # fmt: skip


def _plan_of(tool_type: str, stored: dict[str, Any]) -> Plan:
    return Plan(tool_type, stored["path"], stored["query"], stored["token_param"], stored["rows"],
                stored["estimated"], stored["source"], stored["keep"])  # fmt: skip


# ----------------------------------------------------------------------------- requests


async def estimate(pool: asyncpg.Pool, reader: XReader, account_id: int, body: object) -> dict[str, Any]:
    """POST /extractions/estimate: free, creates nothing; creditsRequired is what create holds."""
    p = await plan(reader, body)  # type: ignore[arg-type]
    info = await credits.balance(pool, account_id)
    needed = credits_for(p.estimated)
    return {
        "allowed": info.exists and info.balance >= needed,
        "creditsAvailable": str(info.balance),
        "creditsRequired": str(needed),
        "source": p.source,
        "estimatedResults": p.estimated,
    }


async def create(pool: asyncpg.Pool, reader: XReader, account_id: int, body: object) -> dict[str, Any]:
    """POST /extractions: the plan from X, the credits held (402 before any work), the job row."""
    p = await plan(reader, body)  # type: ignore[arg-type]
    job_id = uuid.uuid4()
    hold = await credits.reserve(pool, account_id, credits_for(p.estimated), KIND, _ref(job_id))
    params = {"body": body, "plan": _plan_json(p)}
    try:
        await pool.execute(
            "INSERT INTO xquik_extractions (id, account_id, tool_type, params, status, results_limit,"
            " credits_held, hold_ref) VALUES ($1, $2, $3, $4::jsonb, 'running', $5, $6, $7)",
            job_id, account_id, p.tool_type, msgspec.json.encode(params).decode(), p.estimated,
            hold.credits, hold.ledger_ref,
        )  # fmt: skip
    except BaseException:
        await credits.release(pool, hold)
        raise
    return {"id": str(job_id), "toolType": p.tool_type, "status": "running"}


def _job(row: asyncpg.Record) -> dict[str, Any]:
    body = (
        msgspec.json.decode(row["params"])["body"]
        if isinstance(row["params"], str)
        else row["params"]["body"]
    )
    out: dict[str, Any] = {"id": str(row["id"]), "toolType": row["tool_type"], "status": row["status"]}
    for name in ("targetTweetId", "targetUsername", "targetListId", "searchQuery"):
        if name in body:
            out[name] = body[name]
    out.update(
        {
            "resultsLimit": row["results_limit"],
            "totalResults": row["results_count"],
            "creditsHeld": str(row["credits_held"]),
            "creditsCharged": None if row["credits_charged"] is None else str(row["credits_charged"]),
            "createdAt": _iso(row["created_at"]),
            "completedAt": _iso(row["completed_at"]),
        }
    )
    if row["error_code"]:
        out["errorCode"] = row["error_code"]
    return out


async def list_jobs(
    pool: asyncpg.Pool,
    account_id: int,
    *,
    status: str | None,
    tool_type: str | None,
    after: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; the cursor is the last job's (created_at, id)."""
    since: tuple[datetime, uuid.UUID] | None = None
    if after:
        stamp, _, job_id = decode_cursor(after).partition("|")
        try:
            since = (datetime.fromisoformat(stamp), uuid.UUID(job_id))
        except ValueError as exc:
            raise ExtractionError("invalid_input", "cursor is not valid") from exc
    rows = await pool.fetch(
        "SELECT * FROM xquik_extractions WHERE account_id = $1"
        " AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR tool_type = $3)"
        " AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))"
        " ORDER BY created_at DESC, id DESC LIMIT $6",
        account_id, status, tool_type, since[0] if since else None, since[1] if since else None, limit + 1,
    )  # fmt: skip
    jobs = [_job(r) for r in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        cursor = encode_cursor(f"{last['created_at'].isoformat()}|{last['id']}")
    return jobs, cursor


async def get_job(
    pool: asyncpg.Pool, account_id: int, job_id: str, *, after: str | None, limit: int
) -> dict[str, Any] | None:
    """GET /extractions/{id}: the job and one page of its results (by seq)."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    row = await pool.fetchrow(
        "SELECT * FROM xquik_extractions WHERE id = $1 AND account_id = $2", key, account_id
    )
    if row is None:
        return None
    start = -1
    if after:
        text = decode_cursor(after)
        if not text.lstrip("-").isdigit():
            raise ExtractionError("invalid_input", "cursor is not valid")
        start = int(text)
    results = await pool.fetch(
        "SELECT seq, data FROM xquik_extraction_rows WHERE extraction_id = $1 AND seq > $2"
        " ORDER BY seq LIMIT $3",
        key, start, limit + 1,
    )  # fmt: skip
    from engine.xquik.extractions.tools import api_columns

    page = [api_columns(msgspec.json.decode(r["data"])) for r in results[:limit]]
    more = len(results) > limit
    return {
        "job": _job(row),
        "results": page,
        "hasMore": more,
        "nextCursor": encode_cursor(str(results[limit - 1]["seq"])) if more else None,
        "pollAfterMs": 1000 if row["status"] == "running" else None,
    }


async def export_rows(
    pool: asyncpg.Pool, account_id: int, job_id: str, cap: int
) -> list[dict[str, Any]] | None:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    found = await pool.fetchval(
        "SELECT 1 FROM xquik_extractions WHERE id = $1 AND account_id = $2", key, account_id
    )
    if found is None:
        return None
    rows = await pool.fetch(
        "SELECT data FROM xquik_extraction_rows WHERE extraction_id = $1 ORDER BY seq LIMIT $2", key, cap
    )
    return [msgspec.json.decode(r["data"]) for r in rows]


# ---------------------------------------------------------------------------------- runner

_CLAIM = """
UPDATE xquik_extractions SET lease_owner = $1, lease_until = now() + make_interval(secs => $2),
       updated_at = now()
WHERE id = (SELECT id FROM xquik_extractions
            WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $1)
            ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING *
"""


class ExtractionRunner:
    """Polls the job table, leases one running job at a time and reads it to the end."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        reads: XReads,
        *,
        owner: str,
        lease_seconds: float = 60.0,
        poll_seconds: float = 2.0,
        retry_seconds: float = 5.0,
    ) -> None:
        self.pool = pool
        self.reads = reads
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self._loop(), name="xquik-extractions")
        return self._task

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                busy = await self.run_one()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("xquik extraction runner: database error", error=str(exc))
                busy = False
            except Exception:
                log.exception("xquik extraction runner failed; polling on")
                busy = False
            if not busy:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def claim(self) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(_CLAIM, self.owner, self.lease_seconds)
        return row

    async def run_one(self, *, max_pages: int | None = None) -> bool:
        """Claim a job and read it to its end (or `max_pages` pages); False when none was waiting."""
        job = await self.claim()
        if job is None:
            return False
        pages = 0
        while await self._guarded_step(job):
            pages += 1
            if max_pages is not None and pages >= max_pages:
                break
            job = await self.pool.fetchrow("SELECT * FROM xquik_extractions WHERE id = $1", job["id"])
            if job is None:
                break
        return True

    async def _guarded_step(self, job: asyncpg.Record) -> bool:
        """A step; a failure neither of X nor of the database fails the job (never a loop of retries)."""
        try:
            return await self.step(job)
        except (asyncpg.PostgresError, OSError):
            raise
        except Exception:
            log.exception("xquik extraction step failed", job=str(job["id"]))
            await self._finish(job, "failed", "internal_error")
            return False

    async def step(self, job: asyncpg.Record) -> bool:
        """Read and store one page of the job; True while the job has more to read."""
        params = msgspec.json.decode(job["params"]) if isinstance(job["params"], str) else job["params"]
        p = _plan_of(job["tool_type"], params["plan"])
        count, limit = job["results_count"], job["results_limit"]
        if count >= limit or (job["pages"] > 0 and job["cursor"] is None):  # read to the end before a crash
            await self._finish(job, "completed", None)
            return False
        query = dict(p.query)
        if job["cursor"]:
            query[p.token_param] = job["cursor"]
        try:
            reader = await self.reads.for_account(job["account_id"])
            page = await reader.page(p.path, query)
        except XReadError as exc:
            if exc.code in TRANSIENT:
                await self.pool.execute(
                    "UPDATE xquik_extractions SET lease_owner = NULL,"
                    " lease_until = now() + make_interval(secs => $2) WHERE id = $1 AND lease_owner = $3",
                    job["id"], self.retry_seconds, self.owner,
                )  # fmt: skip
                return False
            await self._finish(job, "failed", exc.code)
            return False
        now = datetime.now(UTC)
        kept = [(i, {k: v for k, v in r.items() if not k.startswith("_")}) for i, r in rows_of(p, page)
                if keeps(p, r, now)][: limit - count]  # fmt: skip
        async with self.pool.acquire() as conn, conn.transaction():
            mine = await conn.fetchrow(
                "SELECT results_count, cursor FROM xquik_extractions WHERE id = $1 AND lease_owner = $2"
                " AND status = 'running' FOR UPDATE",
                job["id"], self.owner,
            )  # fmt: skip
            if mine is None or mine["cursor"] != job["cursor"]:
                return False  # the lease went to another node, which has moved on
            inserted = await conn.fetch(
                "INSERT INTO xquik_extraction_rows (extraction_id, seq, item_id, data)"
                " SELECT $1, $2 + n, item, data::jsonb FROM unnest($3::text[], $4::text[]) WITH ORDINALITY"
                " AS t(item, data, n) ON CONFLICT (extraction_id, item_id) DO NOTHING RETURNING seq",
                job["id"], mine["results_count"], [i for i, _ in kept],
                [msgspec.json.encode(r).decode() for _, r in kept],
            )  # fmt: skip
            new_count = mine["results_count"] + len(inserted)
            await conn.execute(
                "UPDATE xquik_extractions SET cursor = $2, results_count = $3, pages = pages + 1,"
                " lease_until = now() + make_interval(secs => $4), updated_at = now() WHERE id = $1",
                job["id"], page.next_token, new_count, self.lease_seconds,
            )  # fmt: skip
        if page.next_token is None or new_count >= limit:
            fresh = await self.pool.fetchrow("SELECT * FROM xquik_extractions WHERE id = $1", job["id"])
            assert fresh is not None
            await self._finish(fresh, "completed", None)
            return False
        return True

    async def _finish(self, job: asyncpg.Record, status: str, error: str | None) -> None:
        """Capture the credits of the stored rows (once: the hold's own state), then make the job final."""
        count = int(await self.pool.fetchval(
            "SELECT count(*) FROM xquik_extraction_rows WHERE extraction_id = $1", job["id"]
        ))  # fmt: skip
        used = min(credits_for(count), job["credits_held"])
        hold = credits.Hold(job["account_id"], _ref(job["id"]), KIND, job["credits_held"], job["hold_ref"])
        await credits.capture(self.pool, hold, used)
        await self.pool.execute(
            "UPDATE xquik_extractions SET status = $2, error_code = $3, credits_charged = $4,"
            " results_count = $5, completed_at = now(), updated_at = now(), lease_owner = NULL,"
            " lease_until = NULL WHERE id = $1 AND status = 'running'",
            job["id"], status, error, used, count,
        )  # fmt: skip
