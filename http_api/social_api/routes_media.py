"""Seed 004 Media Library: files kept in PostgreSQL (`social_media`, engine/migrations/0140), within the
workspace plan's storage quota (413 storage.quota_exceeded beyond it).

    POST   /v1/media/upload?filename=      the file itself as the body (its Content-Type): 201 ready
    GET    /v1/media/upload-url            ?filename&content_type&size_bytes: 200 {media_id, upload_url,
                                           method: PUT, expires_at}; the quota counts it from now
    PUT    /v1/media/{id}/content?token=   the bytes, to the upload_url (the token is the credential)
    POST   /v1/media/{id}/verifyUpload     200 ready once the bytes came, of the announced size
    GET    /v1/media                       {data, next_cursor}
    GET    /v1/media/storage               {plan, used_bytes, quota_bytes, remaining_bytes, file_count}
    DELETE /v1/media/{id}                  204

Why PostgreSQL and not the data dir: every node of `run --workers N` (and of several hosts) sees the same
files with no shared disk, and they are in the database's backups; the body limit (http.max_body_bytes)
bounds one file.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from http_api.operations import Call, Operation, Reply
from http_api.social_api.common import (
    DIALECT,
    Cursor,
    Limit,
    decode_cursor,
    fail,
    operation,
    page,
    rfc3339,
)
from http_api.social_api.routes_brands import owned_brand

GIB = 1024**3
PLAN_QUOTAS = {"free": 1 * GIB, "pro": 25 * GIB, "business": 250 * GIB}
UPLOAD_URL_TTL = timedelta(hours=1)
ContentType = Annotated[
    str, Meta(pattern=r"^(image|video|audio)/[a-z0-9.+-]{1,64}$|^application/(pdf|octet-stream)$")
]
FileName = Annotated[str, Meta(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f/\\]+$")]


BrandId = Annotated[int, Meta(ge=1, le=2**63 - 1)]


class UploadQuery(msgspec.Struct, frozen=True, kw_only=True):
    filename: FileName
    brand_id: BrandId | None = None


class UploadUrlQuery(msgspec.Struct, frozen=True, kw_only=True):
    filename: FileName
    content_type: ContentType
    size_bytes: Annotated[int, Meta(ge=1, le=2**40)]
    brand_id: BrandId | None = None


class ContentQuery(msgspec.Struct, frozen=True, kw_only=True):
    token: Annotated[str, Meta(min_length=10, max_length=100)]


class MediaListing(msgspec.Struct, frozen=True, kw_only=True):
    limit: Limit = 20
    cursor: Cursor | None = None
    brand_id: BrandId | None = None


_COLUMNS = (
    "id, brand_id, filename, content_type, size_bytes, sha256, status, created_at, expires_at, verified_at"
)


def _view(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "brand_id": r["brand_id"],
        "filename": r["filename"],
        "content_type": r["content_type"],
        "size_bytes": r["size_bytes"],
        "sha256": r["sha256"] or None,
        "status": r["status"],
        "created_at": rfc3339(r["created_at"]),
        "verified_at": rfc3339(r["verified_at"]),
    }


async def storage_of(conn: Any, account_id: int) -> dict[str, Any]:
    ws = await conn.fetchrow(
        "SELECT plan, storage_quota_bytes FROM social_workspaces WHERE account_id = $1", account_id
    )
    plan = ws["plan"] if ws is not None else "free"
    quota = (
        ws["storage_quota_bytes"]
        if ws is not None and ws["storage_quota_bytes"] is not None
        else PLAN_QUOTAS.get(plan, PLAN_QUOTAS["free"])
    )
    row = await conn.fetchrow(
        """SELECT coalesce(sum(size_bytes), 0) AS used, count(*) FILTER (WHERE status = 'ready') AS files
           FROM social_media WHERE account_id = $1 AND (status = 'ready' OR expires_at > now())""",
        account_id,
    )
    used = int(row["used"])
    return {
        "plan": plan,
        "used_bytes": used,
        "quota_bytes": quota,
        "remaining_bytes": max(0, quota - used),
        "file_count": row["files"],
    }


async def _reserve(conn: Any, account_id: int, size: int) -> None:
    """Refuse (413) a file the quota has no room for; call inside the transaction that stores it, after
    taking the workspace's lock, so two uploads cannot both take the last room."""
    await conn.execute(
        "INSERT INTO social_workspaces (account_id) VALUES ($1) ON CONFLICT DO NOTHING", account_id
    )
    await conn.execute("SELECT 1 FROM social_workspaces WHERE account_id = $1 FOR UPDATE", account_id)
    await conn.execute(  # uploads announced and never finished in time hold no room and are swept here
        "DELETE FROM social_media WHERE account_id = $1 AND status = 'pending' AND expires_at <= now()",
        account_id,
    )
    s = await storage_of(conn, account_id)
    if s["used_bytes"] + size > s["quota_bytes"]:
        raise fail(
            413,
            "storage.quota_exceeded",
            "the file does not fit in the plan's storage quota",
            plan=s["plan"],
            quota_bytes=s["quota_bytes"],
            used_bytes=s["used_bytes"],
            size_bytes=size,
        )


async def _brand(call: Call, brand_id: int | None) -> int | None:
    if brand_id is not None:
        await owned_brand(call, brand_id)  # 404 brand.not_found
    return brand_id


def _content_type(call: Call) -> str:
    value = call.request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
    try:
        return msgspec.convert(value, ContentType)
    except msgspec.ValidationError:
        raise fail(
            415,
            "media.unsupported_type",
            f"{value!r} is not a media type the library keeps",
            field="content_type",
        ) from None


async def upload(call: Call) -> Reply:
    q = call.query_as(UploadQuery)
    kind = _content_type(call)
    data = call.raw
    if not data:
        raise fail(400, "validation.invalid_request", "the file is the request body", field="body")
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await _reserve(conn, call.account_id, len(data))
        row = await conn.fetchrow(
            f"""INSERT INTO social_media (account_id, filename, content_type, size_bytes, sha256, status,
                                         content, verified_at, brand_id)
                VALUES ($1, $2, $3, $4, $5, 'ready', $6, now(), $7) RETURNING {_COLUMNS}""",
            call.account_id,
            q.filename,
            kind,
            len(data),
            hashlib.sha256(data).hexdigest(),
            data,
            await _brand(call, q.brand_id),
        )
    return Reply(201, _view(row))


async def upload_url(call: Call) -> Reply:
    q = call.query_as(UploadUrlQuery)
    limit = call.ctx.settings.max_body_bytes
    if q.size_bytes > limit:  # the PUT is read within the same body limit as every request
        raise fail(413, "media.too_large", f"a file is at most {limit} bytes", limit=limit)
    token = secrets.token_urlsafe(24)
    expires = datetime.now(UTC) + UPLOAD_URL_TTL
    async with call.ctx.pool.acquire() as conn, conn.transaction():
        await _reserve(conn, call.account_id, q.size_bytes)
        media_id = await conn.fetchval(
            """INSERT INTO social_media (account_id, filename, content_type, size_bytes, status,
                                        upload_token_hash, expires_at, brand_id)
               VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7) RETURNING id""",
            call.account_id,
            q.filename,
            q.content_type,
            q.size_bytes,
            hashlib.sha256(token.encode()).digest(),
            expires,
            await _brand(call, q.brand_id),
        )
    base = str(call.request.base_url).rstrip("/")
    return Reply(
        200,
        {
            "media_id": media_id,
            "upload_url": f"{base}/v1/media/{media_id}/content?token={token}",
            "method": "PUT",
            "headers": {"Content-Type": q.content_type},
            "expires_at": rfc3339(expires),
        },
    )


async def put_content(call: Call) -> Reply:
    """The upload URL's PUT: the token (not a bearer) says which pending file the bytes are."""
    q = call.query_as(ContentQuery)
    raw = call.path("id")
    row = await call.ctx.pool.fetchrow(
        "SELECT id, size_bytes FROM social_media WHERE id = $1 AND status = 'pending'"
        " AND upload_token_hash = $2",
        int(raw) if raw.isdigit() and len(raw) < 19 else -1,
        hashlib.sha256(q.token.encode()).digest(),
    )
    if row is None:
        raise fail(404, "media.not_found", "no upload waits at this URL")
    if len(call.raw) != row["size_bytes"]:
        status = 413 if len(call.raw) > row["size_bytes"] else 400
        raise fail(
            status,
            "media.size_mismatch",
            "the body is not the announced size",
            size_bytes=row["size_bytes"],
            received=len(call.raw),
        )
    await call.ctx.pool.execute(
        "UPDATE social_media SET content = $2, sha256 = $3 WHERE id = $1",
        row["id"],
        call.raw,
        hashlib.sha256(call.raw).hexdigest(),
    )
    return Reply(200, {"media_id": row["id"], "received_bytes": len(call.raw)})


async def _owned(call: Call) -> Any:
    raw = call.path("id")
    row = await call.ctx.pool.fetchrow(
        f"SELECT {_COLUMNS}, content IS NOT NULL AS uploaded FROM social_media"
        " WHERE id = $1 AND account_id = $2",
        int(raw) if raw.isdigit() and len(raw) < 19 else -1,
        call.account_id,
    )
    if row is None:
        raise fail(404, "media.not_found", "no such media file")
    return row


async def verify_upload(call: Call) -> Reply:
    row = await _owned(call)
    if row["status"] == "ready":
        return Reply(200, _view(row))
    if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
        raise fail(410, "media.upload_expired", "the upload URL expired before the file came")
    if not row["uploaded"]:
        raise fail(409, "media.not_uploaded", "nothing was uploaded to the upload URL yet")
    done = await call.ctx.pool.fetchrow(
        f"""UPDATE social_media SET status = 'ready', verified_at = now(), expires_at = NULL,
                upload_token_hash = NULL
            WHERE id = $1 RETURNING {_COLUMNS}""",
        row["id"],
    )
    return Reply(200, _view(done))


async def list_media(call: Call) -> Reply:
    q = call.query_as(MediaListing)
    rows = await call.ctx.pool.fetch(
        f"""SELECT {_COLUMNS} FROM social_media WHERE account_id = $1 AND status = 'ready'
            AND ($2::bigint IS NULL OR id < $2) AND ($4::bigint IS NULL OR brand_id = $4)
            ORDER BY id DESC LIMIT $3""",
        call.account_id,
        decode_cursor(q.cursor),
        q.limit + 1,
        q.brand_id,
    )
    out = page(list(rows), q.limit, key=lambda r: r["id"])
    out["data"] = [_view(r) for r in out["data"]]
    return Reply(200, out)


async def storage(call: Call) -> Reply:
    async with call.ctx.pool.acquire() as conn:
        return Reply(200, await storage_of(conn, call.account_id))


async def delete_media(call: Call) -> Reply:
    row = await _owned(call)
    await call.ctx.pool.execute("DELETE FROM social_media WHERE id = $1", row["id"])
    return Reply(204, b"")


def _op(method: str, path: str, handler: Any, summary: str, permission: str, **more: Any) -> Operation:
    return operation(method, path, handler, summary, permission, "Media Library", **more)


_W, _R = "social.write", "social.read"
_BINARY = {"type": "string", "format": "binary"}
_FILE = {
    kind: _BINARY for kind in ("image/*", "video/*", "audio/*", "application/pdf", "application/octet-stream")
}
OPERATIONS = [
    _op(
        "POST",
        "/v1/media/upload",
        upload,
        "Upload a file",
        _W,
        query=UploadQuery,
        content=_FILE,
        ok=201,
    ),
    _op(
        "GET", "/v1/media/upload-url", upload_url, "A URL to upload a large file to", _W, query=UploadUrlQuery
    ),
    _op("GET", "/v1/media/storage", storage, "Storage used and the plan's quota", _R),
    _op("GET", "/v1/media", list_media, "List media files", _R, query=MediaListing),
    _op("DELETE", "/v1/media/{id}", delete_media, "Delete a media file", _W, ok=204),
    _op("POST", "/v1/media/{id}/verifyUpload", verify_upload, "Verify an upload", _W),
]
PUBLIC = Operation(
    "PUT",
    "/v1/media/{id}/content",
    put_content,
    "The upload URL (its token is the credential)",
    None,
    "Media Library",
    query=ContentQuery,
    content=_FILE,
    public=True,
    idempotent=False,
    dialect=DIALECT,
)

OPERATIONS.append(PUBLIC)
