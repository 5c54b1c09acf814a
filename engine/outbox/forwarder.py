"""Receipts and MO out to customers: on one of their RX/TRX binds, or to their callback URL.

What is owed is written by `store` in the same transaction as the receipt or MO that caused it:
- a receipt for a customer with a receiving bind on this node is **held**: no row of its own, but one
  `receipt_batches` row per account and commit naming those messages (migration 0160). `push` sends it
  from memory after the commit; once every receipt of the row is acknowledged (deliver_sm_resp ROK) or
  has been written as a `deliveries` row of its own (refused, no answer, the bind gone: then retried like
  any row), the batch row is deleted — a row written and deleted per account and commit instead of per
  receipt. A batch row left by a node that stopped or died is turned into `deliveries` rows by
  recovery (engine/core/recovery.py, `receipts_taker`): those receipts go out again, at least once;
- anything else is a row of `deliveries` (engine/outbox/deliveries.py), sent by the node holding its lease:
- the node that wrote it leases it to itself when it can deliver it (a callback URL, or a receiving bind
  while too many receipts are held already), and `push` sends it at once after the commit;
- otherwise the row is left unleased and `NOTIFY smsengine_deliveries` names the account: the node where
  the customer is bound claims it (UPDATE ... FOR UPDATE SKIP LOCKED, a lease) and sends it — so a
  receipt that reached another node's carrier bind still goes out once, from the customer's own node;
- a sweeper claims what is due: retries, leases that ran out (a node died), anything a restart left; a
  receipt's notice is read back off its message row; an account's receiving bind coming up sweeps it.
A delivery counts as done only on deliver_sm_resp ROK or a 2xx callback; then its row is deleted (in
batches). Failures back off (5 s, 30 s, 5 min, then every 15 min); nothing is dropped.

On a bind, deliveries go out with the connection's callback API (no task per delivery): while the
customer's window is full they wait in a per-account queue, in order, and go as answers free slots.
Callback URLs are POSTed by a bounded number of tasks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import msgspec
import structlog

from engine.core.group_commit import CommitQueueFull, GroupCommitter, Policy
from engine.core.ids import format_id
from engine.core.recovery import UNHOLD
from engine.core.status import message_state
from engine.outbox.deliveries import Delivery, ReceiptNotice, receipt_notice
from engine.outbox.url_guard import TargetPolicy, guarded_client
from smpp.connection import RequestFailedError, SmppConnection
from smpp.constants import CommandStatus, EsmClass, Tag
from smpp.errors import SmppError
from smpp.pdu import DeliverSm, NetworkErrorCode, Pdu, TlvValue
from smpp.receipt import format_receipt
from smpp.text import plan_text

log = structlog.get_logger("engine.outbox.forwarder")

BACKOFF = (5.0, 30.0, 300.0, 900.0)
# Claim what is due for accounts this node can deliver to: unleased rows, leases run out, and this node's
# own rows that are not in flight here ($2). $4: this node, $5: the lease in seconds.
_DUE = """
WITH claimed AS (
    UPDATE deliveries d SET lease_node = $4, lease_until = now() + make_interval(secs => $5)
    WHERE d.id IN (
        SELECT id FROM deliveries
        WHERE status = 'pending' AND next_attempt <= now() AND account_id = ANY($1::bigint[])
          AND (lease_until IS NULL OR lease_until < now() OR lease_node = $4)
          AND NOT (id = ANY($2::bigint[]))
        ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
    RETURNING d.id, d.account_id, d.kind, d.message_id, d.body
)
SELECT c.id AS delivery_id, c.account_id AS delivery_account, c.kind, c.message_id, c.body,
       m.id, m.status, m.final_at, m.registered_delivery, m.source, m.destination, m.created_at,
       m.client_ref, m.channel, m.system_id, m.receipt_err, m.receipt_stat, m.network_error, m.segments
FROM claimed c LEFT JOIN messages m ON c.kind = 'receipt' AND m.id = c.message_id
ORDER BY c.id
"""
_ACCOUNTS_DUE = """
SELECT DISTINCT account_id FROM deliveries
WHERE status = 'pending' AND next_attempt <= now()
  AND (lease_until IS NULL OR lease_until < now() OR lease_node = $1)
"""
DELIVERY_COLUMNS = ("id", "account_id", "kind", "message_id", "body", "lease_node", "lease_until")
CHANNEL = "smsengine_deliveries"
_NOTIFY = "SELECT pg_notify($1, a::text) FROM unnest($2::bigint[]) AS a"
_JSON = msgspec.json.Encoder()
_DELIVERED = "DELETE FROM deliveries WHERE id = ANY($1::bigint[])"
# One batch row per account of the commit (its id: the account's first delivery id), so that one slow
# customer keeps only its own receipts owed; $1 delivery ids (ascending), $3 their accounts, $4 messages.
_HOLD = """
INSERT INTO receipt_batches (id, node, message_ids)
SELECT min(d), $2, array_agg(m ORDER BY d)
FROM unnest($1::bigint[], $3::bigint[], $4::bigint[]) AS t(d, a, m) GROUP BY a
"""
_FORGET = "DELETE FROM receipt_batches WHERE id = ANY($1::bigint[])"
# a held receipt that did not go through becomes a row like any other (unleased: any node may send it)
_HELD_ROW_COLUMNS = (*DELIVERY_COLUMNS, "attempts", "next_attempt", "last_error")
# $2: the backoff table; the n-th failure waits BACKOFF[n] (the last one repeats)
_RETRY_LATER = """
UPDATE deliveries d SET attempts = d.attempts + 1, last_error = u.err,
    next_attempt = now() + make_interval(secs => ($2::float8[])[least(d.attempts + 1, $3)])
FROM unnest($1::bigint[], $4::text[]) AS u(id, err) WHERE d.id = u.id
"""


_RECEIPT_ESM = int(EsmClass.DELIVERY_RECEIPT)


def receipt_pdu(notice: ReceiptNotice) -> DeliverSm:
    """The deliver_sm a customer receives for one of its messages: our id, Appendix B text, TLVs."""
    state = message_state(notice.status)
    our_id = format_id(notice.message_id)
    text = format_receipt(
        our_id,
        state,
        submit_date=notice.submitted_at,
        done_date=notice.done_at,
        err=int(notice.err) if notice.err.isdigit() else 0,
        submitted=1,
    )
    tlvs: dict[int, TlvValue] = {Tag.RECEIPTED_MESSAGE_ID: our_id, Tag.MESSAGE_STATE: int(state)}
    if notice.network_error is not None:
        tlvs[Tag.NETWORK_ERROR_CODE] = NetworkErrorCode(3, notice.network_error)
    return DeliverSm(
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr=notice.destination,
        destination_addr=notice.source,
        esm_class=_RECEIPT_ESM,
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


def delivery_pdu(delivery: Delivery) -> DeliverSm:
    if delivery.notice is not None:
        return receipt_pdu(delivery.notice)
    return mo_pdu(delivery.body or {})


def delivery_of_row(row: asyncpg.Record) -> Delivery | None:
    """A delivery read back from the table; None for a receipt whose message is gone."""
    if row["kind"] != "receipt":
        return Delivery(row["delivery_id"], row["delivery_account"], row["kind"], None, _json(row["body"]))
    if row["id"] is None or row["final_at"] is None:
        return None
    return Delivery(
        row["delivery_id"], row["delivery_account"], "receipt", row["id"], notice=receipt_notice(row)
    )


class Forwarder:
    LEASE = 60.0  # seconds a node holds a delivery it is sending before another may take it
    ORPHAN_AFTER = 30.0  # seconds a batch row of this node may stand with nothing in memory owing it

    def __init__(
        self,
        pool: asyncpg.Pool,
        receiver: Callable[[int], SmppConnection | None],
        *,
        node: int = 0,
        http: httpx.AsyncClient | None = None,
        sweep_interval: float = 2.0,
        max_in_flight: int = 20_000,
        max_callbacks: int = 64,
        targets: TargetPolicy | None = None,
    ) -> None:
        self._pool = pool
        self._receiver = receiver
        self._node = node
        # callback URLs are the customer's choice: only through the SSRF guard (engine/outbox/url_guard.py)
        self._http = http or guarded_client(targets or TargetPolicy(), timeout=10.0)
        self._sweep_interval = sweep_interval
        self._max_in_flight = max_in_flight
        self._callbacks: dict[int, str] = {}
        self._in_flight: set[int] = set()
        self._queued: dict[int, deque[Delivery]] = {}  # per account: waiting for a window slot
        self._wake = asyncio.Event()
        self._woken: set[int] = set()  # accounts to sweep now: a receiver bound here, or a node notified us
        self._tasks: list[asyncio.Task[None]] = []
        self._attempts: set[asyncio.Task[None]] = set()
        self._http_slots = asyncio.Semaphore(max_callbacks)
        self._done: GroupCommitter[tuple[int, bool, str], None] = GroupCommitter(
            self._record, concurrency=1, policy=Policy.RETRY, name="deliveries"
        )
        # Held receipts (no row of their own): per batch row, how many are neither acknowledged nor
        # written as rows yet; per delivery, its batch row. Staged: stored in a transaction not yet
        # committed (registered by push, after the commit).
        self._held: dict[int, int] = {}
        self._held_in: dict[int, tuple[int, Delivery]] = {}
        self._staged: dict[int, tuple[float, list[Delivery]]] = {}
        self._held_done: GroupCommitter[_HeldDone, None] = GroupCommitter(
            self._record_held, concurrency=1, policy=Policy.RETRY, name="receipt-batches"
        )
        self._closing = False
        self.delivered = 0
        self.failed_attempts = 0
        self._progress = asyncio.Event()

    def start(self) -> None:
        self._done.start()
        self._held_done.start()
        self._tasks.append(asyncio.get_running_loop().create_task(self._sweeper()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._attempts:
            await asyncio.wait(self._attempts, timeout=5.0)
        await self._done.close()
        await self._held_done.close()
        self._closing = True
        await self._unhold()
        await self._http.aclose()

    async def _unhold(self) -> None:
        """Stopping: held receipts still unanswered become rows and the batch rows go, so the next start
        owes exactly those (not the acknowledged ones of their batches). If the database is away, the batch
        rows stay and the next start owes them whole."""
        if not self._held:
            return
        now = datetime.now(UTC)
        rows = [_held_row(d, now, 0, "") for _, d in self._held_in.values()]
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if rows:
                    await conn.copy_records_to_table("deliveries", records=rows, columns=_HELD_ROW_COLUMNS)
                await conn.execute(_FORGET, sorted(self._held))
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("held receipts left to recovery", batches=len(self._held), error=repr(exc))
        self._held.clear()
        self._held_in.clear()

    @property
    def pending(self) -> int:
        """Deliveries being attempted or waiting for a window slot, and acknowledgements not yet recorded."""
        return len(self._in_flight) + self._done.pending + self._held_done.pending

    @property
    def held(self) -> int:
        """Receipts sent from memory (no row of their own) and not acknowledged yet."""
        return len(self._held_in)

    async def refresh_callbacks(self) -> None:
        rows = await self._pool.fetch("SELECT id, callback_url FROM accounts WHERE callback_url <> ''")
        self._callbacks = {r["id"]: r["callback_url"] for r in rows}

    def wake(self, account_id: int) -> None:
        """A receiving bind of this account came up: deliver what waits for it now."""
        self._drain(account_id)
        self._woken.add(account_id)
        self._wake.set()

    def notified(self, payload: str) -> None:
        """Another node stored a delivery for an account it cannot reach (LISTEN smsengine_deliveries)."""
        if payload.isdigit() and self._reachable(int(payload)):
            self._woken.add(int(payload))
            self._wake.set()

    def sweep_soon(self) -> None:
        """Look at the whole table now (notifications may have been missed)."""
        self._wake.set()

    # ------------------------------------------------------------------------------- DeliveryOutbox

    async def store(self, conn: Any, deliveries: list[Delivery]) -> None:
        """Write deliveries in the caller's transaction: receipts for customers bound here are held (one
        batch row); the rest are rows, leased to this node when it can send them from here, the other
        nodes told about the others."""
        lease_until = datetime.now(UTC) + timedelta(seconds=self.LEASE)
        remote: set[int] = set()
        rows: list[tuple[object, ...]] = []
        held: list[Delivery] = []
        room = self._max_in_flight - len(self._held_in)
        receiver = self._receiver
        for d in deliveries:
            if d.notice is not None and len(held) < room and receiver(d.account_id) is not None:
                held.append(d)
                continue
            body = None if d.notice is not None else _JSON.encode(d.body or {}).decode()
            if self._reachable(d.account_id):
                rows.append((d.id, d.account_id, d.kind, d.message_id, body, self._node, lease_until))
            else:
                rows.append((d.id, d.account_id, d.kind, d.message_id, body, None, None))
                remote.add(d.account_id)
        if held:
            held.sort(key=_by_id)
            await conn.execute(_HOLD, [d.id for d in held], self._node, [d.account_id for d in held],
                               [d.message_id for d in held])  # fmt: skip
            now = time.monotonic()
            if len(self._staged) > 64:  # stored by transactions that were rolled back (then retried)
                self._staged = {k: v for k, v in self._staged.items() if now - v[0] < 60.0}
            groups: dict[int, list[Delivery]] = {}
            for d in held:
                groups.setdefault(d.account_id, []).append(d)
            for group in groups.values():
                self._staged[group[0].id] = (now, group)
        if rows:
            await conn.copy_records_to_table("deliveries", records=rows, columns=DELIVERY_COLUMNS)
        if remote:
            await conn.execute(_NOTIFY, CHANNEL, sorted(remote))

    def push(self, deliveries: Sequence[Delivery]) -> None:
        """After the commit that stored `deliveries`: send them."""
        if self._staged:
            for delivery in deliveries:
                staged = self._staged.pop(delivery.id, None)
                if staged is not None:  # the batch's held receipts: committed, so now owed from memory
                    held = staged[1]
                    self._held[delivery.id] = len(held)
                    for d in held:
                        self._held_in[d.id] = (delivery.id, d)
        held_in = self._held_in
        for delivery in deliveries:
            if delivery.id in held_in:
                self._start(delivery)  # no row to fall back on: always started
            elif len(self._in_flight) < self._max_in_flight:
                self._start(delivery)  # else the sweeper will find it in the table

    # ----------------------------------------------------------------------------------- attempts

    def _reachable(self, account_id: int) -> bool:
        return account_id in self._callbacks or self._receiver(account_id) is not None

    def _start(self, delivery: Delivery) -> None:
        if delivery.id in self._in_flight:
            return
        account = delivery.account_id
        conn = self._receiver(account)
        if conn is None and account not in self._callbacks:
            if delivery.id in self._held_in:  # the bind went between the commit and now: a row after all
                self._finish(delivery, False, "", attempt=False)
            return  # stays pending until a bind comes up (wake) or the sweeper retries
        self._in_flight.add(delivery.id)
        if conn is None:
            task = asyncio.get_running_loop().create_task(self._post(delivery))
            self._attempts.add(task)
            task.add_done_callback(self._attempts.discard)
            return
        queued = self._queued.get(account)
        if queued:  # others of this account wait for a slot: keep their order
            queued.append(delivery)
        elif not self._send(conn, delivery):
            self._queued.setdefault(account, deque()).append(delivery)

    def _send(self, conn: SmppConnection, delivery: Delivery) -> bool:
        try:
            pdu = delivery_pdu(delivery)
        except (KeyError, ValueError, TypeError) as exc:  # a body we cannot turn into a PDU: retry later
            self._finish(delivery, False, f"cannot build deliver_sm: {exc!r}")
            return True
        try:
            return conn.send(pdu, lambda resp: self._answered(delivery, resp))
        except SmppError as exc:
            self._finish(delivery, False, repr(exc))
            return True

    def _answered(self, delivery: Delivery, resp: Pdu | RequestFailedError) -> None:
        if isinstance(resp, RequestFailedError):
            self._finish(delivery, False, repr(resp))
        else:
            ok = resp.command_status == CommandStatus.ESME_ROK
            self._finish(delivery, ok, "" if ok else f"deliver_sm_resp 0x{resp.command_status:08X}")
        self._drain(delivery.account_id)

    def _drain(self, account_id: int) -> None:
        queued = self._queued.get(account_id)
        if not queued:
            return
        conn = self._receiver(account_id)
        while queued:
            if conn is None:  # the account's binds are gone: the sweeper tries again later
                for delivery in queued:
                    if delivery.id in self._held_in:
                        self._finish(delivery, False, "", attempt=False)  # a row, due at once
                    else:
                        self._in_flight.discard(delivery.id)
                queued.clear()
                break
            if not self._send(conn, queued[0]):
                break  # window full again: the next answer drains more
            queued.popleft()
        if not queued:
            self._queued.pop(account_id, None)

    async def _post(self, delivery: Delivery) -> None:
        ok, error = False, ""
        url = self._callbacks.get(delivery.account_id)
        try:
            if url is not None:
                async with self._http_slots:
                    response = await self._http.post(
                        url, json={"event": _event_name(delivery), "data": delivery.payload()}
                    )
                ok = 200 <= response.status_code < 300
                error = "" if ok else f"callback answered {response.status_code}"
        except (httpx.HTTPError, OSError) as exc:
            error = repr(exc)
        self._finish(delivery, ok, error)

    def _finish(self, delivery: Delivery, ok: bool, error: str, *, attempt: bool = True) -> None:
        if self._closing:
            return  # stopped: what is not recorded is owed again at the next start
        held = self._held_in.get(delivery.id)
        if held is not None:
            self._finish_held(delivery, held[0], ok, error, attempt)
            return

        def recorded(_: None, failure: BaseException | None) -> None:
            self._in_flight.discard(delivery.id)
            if failure is not None:
                return
            if ok:
                self.delivered += 1
            else:
                self.failed_attempts += 1
            self._progress.set()

        self._done.post((delivery.id, ok, error), recorded)

    def _finish_held(self, delivery: Delivery, batch: int, ok: bool, error: str, attempt: bool) -> None:
        if ok:  # acknowledged: nothing to write for it
            del self._held_in[delivery.id]
            self._in_flight.discard(delivery.id)
            self.delivered += 1
            self._progress.set()
            self._release(batch)
            return

        def recorded(_: None, failure: BaseException | None) -> None:
            if failure is not None:
                return  # RETRY: only for an item refused for its data; the batch row keeps it owed
            self._held_in.pop(delivery.id, None)
            self._in_flight.discard(delivery.id)
            if attempt:
                self.failed_attempts += 1
            self._progress.set()
            self._release(batch)  # its row is durable: the batch row no longer needs to name it

        try:
            self._held_done.post(_HeldDone(delivery, error, attempt), recorded)
        except CommitQueueFull:  # stopping: _unhold writes it as a row
            pass

    def _release(self, batch: int) -> None:
        left = self._held.get(batch, 0) - 1
        if left > 0:
            self._held[batch] = left
            return
        if batch not in self._held:
            return
        try:
            self._held_done.post(_HeldDone(None, "", False, batch))
        except CommitQueueFull:  # stopping: _unhold deletes it
            self._held[batch] = 0
            return
        del self._held[batch]

    async def _record_held(self, batch: Sequence[_HeldDone]) -> list[None]:
        now = datetime.now(UTC)
        rows = [_held_row(h.delivery, now, int(h.attempt), h.error) for h in batch if h.delivery is not None]
        forget = [h.batch for h in batch if h.delivery is None]
        if not rows:  # the common case: one statement, its own transaction
            await self._pool.execute(_FORGET, forget)
            return [None] * len(batch)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table("deliveries", records=rows, columns=_HELD_ROW_COLUMNS)
            if forget:
                await conn.execute(_FORGET, forget)
        return [None] * len(batch)

    async def wait_delivered(self, count: int) -> None:
        """Until `count` deliveries have been acknowledged by customers and recorded as such."""
        while self.delivered < count:
            self._progress.clear()
            await self._progress.wait()

    async def _record(self, batch: Sequence[tuple[int, bool, str]]) -> list[None]:
        ok = [i for i, success, _ in batch if success]
        failed = [(i, e) for i, success, e in batch if not success]
        if not failed:  # the common case: one statement, its own transaction
            await self._pool.execute(_DELIVERED, ok)
            return [None] * len(batch)
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
        rounds = 0
        while True:
            try:
                if rounds % 5 == 0:
                    await self.refresh_callbacks()
                    await self._reclaim_orphans()
                rounds += 1
                woken, self._woken = self._woken, set()
                await self.sweep(only=woken or None)
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("delivery sweep failed", error=repr(exc))
            try:
                async with asyncio.timeout(self._sweep_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def _reclaim_orphans(self) -> None:
        """This node's batch rows that nothing in memory owes become rows the sweeper sends. A lifecycle
        commit whose answer was lost (the connection gone at COMMIT) may have committed all the same; its
        retry finds the messages final and owes nothing again, so the receipts the first attempt held
        would otherwise wait for the next restart. At least once, like every receipt after a failure."""
        status = await self._pool.execute(UNHOLD, self._node, list(self._held), self.ORPHAN_AFTER)
        if owed := int(status.split()[-1]):
            log.warning("receipts of a commit whose answer was lost are owed again", count=owed)
            self._wake.set()

    async def sweep(self, *, only: set[int] | None = None) -> int:
        """Claim and attempt every due delivery of an account reachable from here; how many were started.

        `only` limits the sweep to some accounts."""
        accounts = [a for a in await self._accounts_with_pending() if self._reachable(a)]
        if only is not None:
            accounts = [a for a in accounts if a in only]
        if not accounts or len(self._in_flight) >= self._max_in_flight:
            return 0
        rows = await self._pool.fetch(
            _DUE,
            accounts,
            list(self._in_flight),
            self._max_in_flight - len(self._in_flight),
            self._node,
            self.LEASE,
        )
        orphans = []
        for row in rows:
            delivery = delivery_of_row(row)
            if delivery is None:
                orphans.append(row["delivery_id"])
            else:
                self._start(delivery)
        if orphans:  # receipts of messages that no longer exist: nothing left to tell anyone
            await self._pool.execute(_DELIVERED, orphans)
        return len(rows)

    async def _accounts_with_pending(self) -> list[int]:
        rows = await self._pool.fetch(_ACCOUNTS_DUE, self._node)
        return [r["account_id"] for r in rows]


def _by_id(delivery: Delivery) -> int:
    return delivery.id


class _HeldDone(msgspec.Struct, frozen=True, gc=False):
    """For the receipt-batches committer: a held receipt to write as a row, or (delivery None) a batch
    row to delete."""

    delivery: Delivery | None
    error: str
    attempt: bool  # a failed attempt (counted, backed off); False: not tried (no bind), due at once
    batch: int = 0


def _held_row(delivery: Delivery, now: datetime, attempts: int, error: str) -> tuple[object, ...]:
    due = now + timedelta(seconds=BACKOFF[0]) if attempts else now
    return (delivery.id, delivery.account_id, delivery.kind, delivery.message_id, None, None, None, attempts,
            due, error[:500])  # fmt: skip


def _event_name(delivery: Delivery) -> str:
    if delivery.kind == "mo":
        return "message.received"
    status = delivery.notice.status.value if delivery.notice is not None else None
    return {"delivered": "message.delivered", "expired": "message.expired"}.get(str(status), "message.failed")


def _json(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else dict(json.loads(value))
