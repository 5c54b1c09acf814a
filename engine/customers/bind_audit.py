"""Reading the SMPP bind audit trail (smpp_bind_audit, written by the SMPP front at every bind attempt).

Used by `smsengine binds log` and the operator dashboard; this module only reads.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec


class BindAttempt(msgspec.Struct, frozen=True):
    at: datetime
    peer_ip: str
    system_id: str
    bind_type: str
    account_id: int | None
    ok: bool
    command_status: int
    reason: str


async def recent_binds(
    pool: asyncpg.Pool,
    *,
    peer: str | None = None,
    system_id: str | None = None,
    failed_only: bool = False,
    limit: int = 50,
) -> list[BindAttempt]:
    """Newest first."""
    where: list[str] = ["true"]
    args: list[object] = []
    if peer:
        args.append(peer)
        where.append(f"peer_ip = ${len(args)}")
    if system_id:
        args.append(system_id)
        where.append(f"system_id = ${len(args)}")
    if failed_only:
        where.append("NOT ok")
    args.append(max(1, min(limit, 10_000)))
    rows = await pool.fetch(
        "SELECT at, peer_ip, system_id, bind_type, account_id, ok, command_status, reason"
        f" FROM smpp_bind_audit WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ${len(args)}",
        *args,
    )
    return [BindAttempt(**dict(r)) for r in rows]
