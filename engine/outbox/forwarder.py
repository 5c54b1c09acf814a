"""Receipts and MO out to customers: on one of their RX/TRX binds, or to their callback URL.

Deliveries are rows of `deliveries`, written in the same transaction as the receipt or MO that caused
them. Fresh ones are pushed here in memory and attempted at once; a sweeper picks up what is due from
the table (retries, anything left by a restart), and an account's receiving bind coming up triggers a
sweep for that account. A delivery counts as done only on deliver_sm_resp ROK or a 2xx callback; then
it is marked delivered. Failures back off (5 s, 30 s, 5 min, then every 15 min); nothing is dropped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import structlog

from engine.core.group_commit import GroupCommitter
from engine.core.lifecycle import Delivery
from smpp.connection import RequestFailedError, SmppConnection
from smpp.constants import CommandStatus, EsmClass, MessageState, Tag
from smpp.errors import SmppError
from smpp.pdu import DeliverSm, NetworkErrorCode, TlvValue
from smpp.receipt import format_receipt
from smpp.text import plan_text

log = structlog.get_logger("engine.outbox.forwarder")

BACKOFF = (5.0, 30.0, 300.0, 900.0)
_DUE = """
SELECT id, account_id, kind, message_id, body FROM deliveries
WHERE status = 'pending' AND next_attempt <= now() AND account_id = ANY($1::bigint[])
  AND NOT (id = ANY($2::bigint[]))
ORDER BY id LIMIT $3
"""
_DELIVERED = """
UPDATE deliveries SET status = 'delivered', delivered_at = now(), attempts = attempts + 1
WHERE id = ANY($1::bigint[])
"""
# $2: the backoff table; the n-th failure waits BACKOFF[n] (the last one repeats)
_RETRY_LATER = """
UPDATE deliveries d SET attempts = d.attempts + 1, last_error = u.err,
    next_attempt = now() + make_interval(secs => ($2::float8[])[least(d.attempts + 1, $3)])
FROM unnest($1::bigint[], $4::text[]) AS u(id, err) WHERE d.id = u.id
"""


def receipt_pdu(body: dict[str, Any]) -> DeliverSm:
    """The deliver_sm a customer receives for one of its messages: our id, Appendix B text, TLVs."""
    state = MessageState(body["message_state"])
    text = format_receipt(
        body["message_id"],
        state,
        submit_date=datetime.fromisoformat(body["submitted_at"]),
        done_date=datetime.fromisoformat(body["done_at"]),
        err=int(body["err"]) if str(body["err"]).isdigit() else 0,
        submitted=1,
    )
    tlvs: dict[int, TlvValue] = {Tag.RECEIPTED_MESSAGE_ID: body["message_id"], Tag.MESSAGE_STATE: int(state)}
    if body.get("network_error") is not None:
        tlvs[Tag.NETWORK_ERROR_CODE] = NetworkErrorCode(3, int(body["network_error"]))
    return DeliverSm(
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr=body["destination"],
        destination_addr=body["source"],
        esm_class=EsmClass.DELIVERY_RECEIPT,
        short_message=text.encode("ascii", "replace"),
        tlvs=tlvs,
    )


def mo_pdu(body: dict[str, Any]) -> DeliverSm:
    """The deliver_sm carrying an MO: GSM-7 (data_coding 0) when it fits, else UCS-2; long ones in payload."""
    tlvs: dict[int, TlvValue] = {}
    if body.get("text") is not None:
        plan = plan_text(body["text"])
        data_coding = plan.data_coding if plan.data_coding in (0, 8) else 8
        content = (
            b"".join(plan.parts) if data_coding == plan.data_coding else body["text"].encode("utf-16-be")
        )
    else:
        data_coding, content = int(body.get("data_coding", 4)), bytes.fromhex(body.get("body_hex") or "")
    short_message = content
    if len(content) > 254:
        tlvs[Tag.MESSAGE_PAYLOAD], short_message = content, b""
    return DeliverSm(
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr=str(body["from"]).lstrip("+"),
        destination_addr=str(body["to"]),
        data_coding=data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )


class Forwarder:
    def __init__(
        self,
        pool: asyncpg.Pool,
        receiver: Callable[[int], SmppConnection | None],
        *,
        http: httpx.AsyncClient | None = None,
        sweep_interval: float = 2.0,
        max_in_flight: int = 20_000,
    ) -> None:
        self._pool = pool
        self._receiver = receiver
        self._http = http or httpx.AsyncClient(timeout=10.0)
        self._sweep_interval = sweep_interval
        self._max_in_flight = max_in_flight
        self._callbacks: dict[int, str] = {}
        self._in_flight: set[int] = set()
        self._wake = asyncio.Event()
        self._wake_accounts: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._attempts: set[asyncio.Task[None]] = set()
        self._done: GroupCommitter[tuple[int, bool, str], None] = GroupCommitter(
            self._record, concurrency=1, name="deliveries"
        )
        self.delivered = 0
        self.failed_attempts = 0
        self._progress = asyncio.Event()

    def start(self) -> None:
        self._done.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._sweeper()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._attempts:
            await asyncio.wait(self._attempts, timeout=5.0)
        await self._done.close()
        await self._http.aclose()

    async def refresh_callbacks(self) -> None:
        rows = await self._pool.fetch("SELECT id, callback_url FROM accounts WHERE callback_url <> ''")
        self._callbacks = {r["id"]: r["callback_url"] for r in rows}

    def wake(self, account_id: int) -> None:
        """A receiving bind of this account came up: deliver what waits for it now."""
        self._wake_accounts.add(account_id)
        self._wake.set()

    def push(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            if len(self._in_flight) >= self._max_in_flight:
                return  # the sweeper will find the rest in the table
            self._start(delivery)

    # ----------------------------------------------------------------------------------- attempts

    def _reachable(self, account_id: int) -> bool:
        return account_id in self._callbacks or self._receiver(account_id) is not None

    def _start(self, delivery: Delivery) -> None:
        if delivery.id in self._in_flight or not self._reachable(delivery.account_id):
            return  # stays pending until a bind comes up (wake) or the sweeper retries
        self._in_flight.add(delivery.id)
        task = asyncio.get_running_loop().create_task(self._attempt(delivery))
        self._attempts.add(task)
        task.add_done_callback(self._attempts.discard)

    async def _attempt(self, delivery: Delivery) -> None:
        ok, error = False, ""
        try:
            conn = self._receiver(delivery.account_id)
            if conn is not None:
                pdu = receipt_pdu(delivery.body) if delivery.kind == "receipt" else mo_pdu(delivery.body)
                resp = await conn.request(pdu)
                ok = resp.command_status == CommandStatus.ESME_ROK
                error = "" if ok else f"deliver_sm_resp 0x{resp.command_status:08X}"
            elif (url := self._callbacks.get(delivery.account_id)) is not None:
                event = _event_name(delivery)
                response = await self._http.post(url, json={"event": event, "data": delivery.body})
                ok = 200 <= response.status_code < 300
                error = "" if ok else f"callback answered {response.status_code}"
        except (SmppError, RequestFailedError, httpx.HTTPError, OSError) as exc:
            error = repr(exc)
        try:
            await self._done.submit((delivery.id, ok, error))
        finally:
            self._in_flight.discard(delivery.id)
        if ok:
            self.delivered += 1
        else:
            self.failed_attempts += 1
        self._progress.set()

    async def wait_delivered(self, count: int) -> None:
        """Until `count` deliveries have been acknowledged by customers and recorded as such."""
        while self.delivered < count:
            self._progress.clear()
            await self._progress.wait()

    async def _record(self, batch: Sequence[tuple[int, bool, str]]) -> list[None]:
        ok = [i for i, success, _ in batch if success]
        failed = [(i, e) for i, success, e in batch if not success]
        async with self._pool.acquire() as conn, conn.transaction():
            if ok:
                await conn.execute(_DELIVERED, ok)
            if failed:
                await conn.execute(
                    _RETRY_LATER,
                    [i for i, _ in failed],
                    list(BACKOFF),
                    len(BACKOFF),
                    [e[:500] for _, e in failed],
                )
        return [None] * len(batch)

    async def _sweeper(self) -> None:
        await self.refresh_callbacks()
        rounds = 0
        while True:
            try:
                async with asyncio.timeout(self._sweep_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            self._wake_accounts.clear()
            rounds += 1
            try:
                if rounds % 5 == 0:
                    await self.refresh_callbacks()
                await self.sweep()
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("delivery sweep failed", error=repr(exc))

    async def sweep(self) -> int:
        """Attempt every due delivery of a reachable account; return how many were started."""
        accounts = [a for a in await self._accounts_with_pending() if self._reachable(a)]
        if not accounts or len(self._in_flight) >= self._max_in_flight:
            return 0
        rows = await self._pool.fetch(
            _DUE, accounts, list(self._in_flight), self._max_in_flight - len(self._in_flight)
        )
        for row in rows:
            self._start(
                Delivery(row["id"], row["account_id"], row["kind"], row["message_id"], _json(row["body"]))
            )
        return len(rows)

    async def _accounts_with_pending(self) -> list[int]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT account_id FROM deliveries WHERE status = 'pending' AND next_attempt <= now()"
        )
        return [r["account_id"] for r in rows]


def _event_name(delivery: Delivery) -> str:
    if delivery.kind == "mo":
        return "message.received"
    status = delivery.body.get("status")
    return {"delivered": "message.delivered", "expired": "message.expired"}.get(str(status), "message.failed")


def _json(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else dict(json.loads(value))
