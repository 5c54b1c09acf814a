"""The SMPP server customers bind to: authentication, per-bind throughput, and message intake.

Every bind attempt is written to smpp_bind_audit; failed ones from one address are slowed and then
refused for a while (engine/customers/bind_guard.py, settings in [security]).

Implements smpp.server.SmscHandler for the engine. A submit_sm (or data_sm, submit_multi) is turned into
a `SubmitRequest`, prepared by the shared intake, and committed by the acceptor; its submit_sm_resp goes
out from the commit's callback, so ESME_ROK is only ever sent for a durable message. Every refusal is
answered with the command_status of its `Reject` and logged with its reason. Receiving binds (RX/TRX)
are registered per account for the delivery of receipts and MO.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
import structlog

from engine.core.accept import Acceptor
from engine.core.ids import format_id, parse_id
from engine.core.intake import Intake, SubmitRequest
from engine.core.rejections import Reject, Rejected
from engine.core.throttle import TokenBucket
from engine.customers.bind_budget import BindBudget
from engine.customers.bind_guard import BindGuard
from engine.customers.credentials import SmppCredential, check_bind
from engine.customers.smpp_time import InvalidSmppTime, parse_smpp_time
from engine.infra import metrics
from smpp.connection import SmppConnection
from smpp.constants import CommandStatus, EsmClass, Tag
from smpp.pdu import DataSm, Pdu, QuerySm, SmeAddress, SubmitMulti, SubmitSm, UnsuccessSme
from smpp.session_table import State
from smpp.text import decode_short_message

log = structlog.get_logger("engine.smpp")
_UDHI = int(EsmClass.UDHI)  # a plain int: IntFlag arithmetic builds a Flag object per operation

_RECEIVING = {State.BOUND_RX, State.BOUND_TRX}
_STATE_OF_STATUS = {
    "queued": 1, "sending": 1, "submitted": 1, "delivered": 2, "expired": 3, "rejected": 8,
    "undeliverable": 5, "failed": 5,
}  # fmt: skip


class _Bind:
    __slots__ = ("account_id", "bucket", "system_id")

    def __init__(self, account_id: int, system_id: str, bucket: TokenBucket) -> None:
        self.account_id = account_id
        self.system_id = system_id
        self.bucket = bucket  # shared by every bind of the customer on this node (bind_budget.py)


class CustomerSmpp:
    def __init__(
        self,
        pool: asyncpg.Pool,
        intake: Intake,
        acceptor: Acceptor,
        *,
        budget: BindBudget,
        backlog: Callable[[], int],
        max_backlog: int = 500_000,
        on_receiver_bound: Callable[[int], None] = lambda _: None,
        bind_guard: BindGuard | None = None,
        throttle_hold: float = 1.0,
    ) -> None:
        self._pool = pool
        self._budget = budget
        self.bind_guard = bind_guard or BindGuard()
        self._throttle_hold = throttle_hold
        self._intake = intake
        self._acceptor = acceptor
        self._backlog = backlog
        self._max_backlog = max_backlog
        self.on_receiver_bound = on_receiver_bound
        self._binds: dict[SmppConnection, _Bind] = {}
        self._releasing: set[asyncio.Task[None]] = set()
        self._receivers: dict[int, list[SmppConnection]] = defaultdict(list)
        self._next: dict[int, int] = defaultdict(int)
        self.accepting = True

    # ------------------------------------------------------------------------------- registry

    def receiver(self, account_id: int) -> SmppConnection | None:
        """A bound RX/TRX connection of the account (round robin), or None."""
        conns = [c for c in self._receivers.get(account_id, ()) if c.state in _RECEIVING]
        if not conns:
            return None
        self._next[account_id] += 1
        return conns[self._next[account_id] % len(conns)]

    def live_binds(self, system_id: str) -> int:
        return sum(1 for b in self._binds.values() if b.system_id == system_id)

    # ------------------------------------------------------------------------------- SmscHandler

    async def authenticate(self, conn: SmppConnection, bind: Pdu) -> tuple[int, str]:
        system_id = getattr(bind, "system_id", "")
        password = getattr(bind, "password", "")
        bind_type = bind.name.removeprefix("bind_")
        peer_ip = conn.peername[0] if conn.peername else ""
        blocked = self.bind_guard.blocked(peer_ip, time.monotonic())
        if blocked:  # refused without looking: no password check, no database work beyond the audit row
            reason = f"address blocked for {blocked:.0f} s after repeated failed binds"
            await self._audit(peer_ip, system_id, bind_type, None, CommandStatus.ESME_RBINDFAIL, reason)
            log.warning("bind refused", system_id=system_id, peer=peer_ip, reason=reason)
            return CommandStatus.ESME_RBINDFAIL, "smsengine"
        row = await self._pool.fetchrow(
            "SELECT c.*, a.enabled AS account_enabled FROM smpp_credentials c "
            "JOIN accounts a ON a.id = c.account_id WHERE c.system_id = $1",
            system_id,
        )
        credential = None
        if row is not None:
            credential = SmppCredential(
                row["account_id"], row["system_id"], row["password_hash"], tuple(row["allowed_ips"]),
                row["max_binds"], row["throughput"], row["enabled"] and row["account_enabled"],
            )  # fmt: skip
        # scrypt is slow on purpose: keep it off the event loop
        status, reason = await asyncio.to_thread(
            check_bind, credential, password, peer_ip, self.live_binds(system_id)
        )
        if status == CommandStatus.ESME_ROK and credential is not None:
            if await self._budget.admit(system_id, credential.max_binds) is None:  # counted on all nodes
                status, reason = CommandStatus.ESME_RBINDFAIL, f"already {credential.max_binds} binds"
        account_id = credential.account_id if credential is not None else None
        await self._audit(peer_ip, system_id, bind_type, account_id, status, reason)
        if status != CommandStatus.ESME_ROK or credential is None:
            now = time.monotonic()
            now_blocked = self.bind_guard.failed(peer_ip, now)
            failures = self.bind_guard.failures(peer_ip, now)
            log.warning("bind refused", system_id=system_id, peer=peer_ip, reason=reason, failures=failures,
                        blocked=now_blocked)  # fmt: skip
            delay = self.bind_guard.delay(peer_ip, now)
            if delay:  # slows a guesser down; a customer with a typo hardly notices
                await asyncio.sleep(delay)
            return status, "smsengine"
        bucket = self._budget.bucket(system_id, credential.throughput)
        self._binds[conn] = _Bind(credential.account_id, system_id, bucket)
        return CommandStatus.ESME_ROK, "smsengine"

    async def _audit(
        self, peer_ip: str, system_id: str, bind_type: str, account_id: int | None, status: int, reason: str
    ) -> None:
        """One smpp_bind_audit row per attempt; a failure to write it is logged, never fatal to the bind."""
        try:
            await self._pool.execute(
                "INSERT INTO smpp_bind_audit (peer_ip, system_id, bind_type, account_id, ok, command_status,"
                " reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                peer_ip, system_id, bind_type, account_id, status == CommandStatus.ESME_ROK, int(status),
                reason,
            )  # fmt: skip
        except (asyncpg.PostgresError, OSError) as exc:
            log.error("bind not audited", system_id=system_id, peer=peer_ip, error=repr(exc))

    def on_bound(self, conn: SmppConnection) -> None:
        bind = self._binds.get(conn)
        if bind is None:
            return
        log.info("customer bound", system_id=bind.system_id, state=conn.state.name)
        if conn.state in _RECEIVING:
            self._receivers[bind.account_id].append(conn)
            self.on_receiver_bound(bind.account_id)

    def on_closed(self, conn: SmppConnection, reason: str) -> None:
        bind = self._binds.pop(conn, None)
        if bind is not None:
            task = asyncio.get_running_loop().create_task(self._budget.release(bind.system_id))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)
            receivers = self._receivers.get(bind.account_id)
            if receivers and conn in receivers:
                receivers.remove(conn)
            log.info("customer unbound", system_id=bind.system_id, reason=reason)

    def on_request(self, conn: SmppConnection, pdu: Pdu) -> None:
        bind = self._binds.get(conn)
        if bind is None:
            conn.respond(pdu, CommandStatus.ESME_RINVBNDSTS)
            return
        if isinstance(pdu, SubmitSm | DataSm):
            self._submit(conn, bind, pdu)
        elif isinstance(pdu, SubmitMulti):
            self._submit_multi(conn, bind, pdu)
        elif isinstance(pdu, QuerySm):
            asyncio.get_running_loop().create_task(self._query(conn, bind, pdu))
        else:  # cancel_sm, replace_sm: messages are handed to carriers at once, nothing to cancel or replace
            status = {
                "cancel_sm": CommandStatus.ESME_RCANCELFAIL,
                "replace_sm": CommandStatus.ESME_RREPLACEFAIL,
            }
            conn.respond(pdu, status.get(pdu.name, CommandStatus.ESME_RINVCMDID))

    # ------------------------------------------------------------------------------- intake

    def _request(
        self, bind: _Bind, pdu: SubmitSm | DataSm | SubmitMulti, destination: SmeAddress
    ) -> SubmitRequest:
        now = datetime.now(UTC)
        payload = pdu.tlvs.get(Tag.MESSAGE_PAYLOAD)
        short_message = pdu.short_message if not isinstance(pdu, DataSm) else b""
        if isinstance(payload, bytes) and payload:
            if short_message:
                raise Rejected(Reject.INVALID_TEXT, "both short_message and message_payload are set")
            content = payload
        elif isinstance(payload, bytes | None):
            content = short_message
        else:
            raise Rejected(Reject.INVALID_TEXT, "message_payload is malformed")
        udhi = bool(pdu.esm_class & _UDHI)
        try:
            expires = parse_smpp_time(getattr(pdu, "validity_period", ""), now)
        except InvalidSmppTime as exc:
            raise Rejected(Reject.INVALID_VALIDITY, str(exc)) from None
        try:
            scheduled = parse_smpp_time(getattr(pdu, "schedule_delivery_time", ""), now)
        except InvalidSmppTime as exc:
            raise Rejected(Reject.INVALID_SCHEDULE, str(exc)) from None
        text: str | None = None
        octets: bytes | None = None
        if udhi:
            octets = content
        else:
            decoded = decode_short_message(content, pdu.data_coding)
            text, octets = (decoded.text, None) if decoded.text is not None else (None, content)
        return SubmitRequest(
            account_id=bind.account_id,
            channel="smpp",
            system_id=bind.system_id,
            source=pdu.source_addr,
            source_ton=pdu.source_addr_ton,
            source_npi=pdu.source_addr_npi,
            destination=destination.address,
            dest_ton=destination.ton,
            dest_npi=destination.npi,
            text=text,
            octets=octets,
            data_coding=pdu.data_coding,
            esm_class=pdu.esm_class & 0x80,  # keep reply-path; the message type and UDHI are ours to set
            udh_passthrough=udhi,
            registered_delivery=pdu.registered_delivery,
            scheduled_at=scheduled,
            expires_at=expires,
        )

    def _admit(self, bind: _Bind, *, may_hold: bool = True) -> float:
        """Seconds to hold this submit before taking it in (0.0: now); Rejected when it may not come in.

        A bind over its throughput is paced, not refused, while the wait stays within throttle_hold:
        its answers come later and a windowed client slows down to its rate by itself. ESME_RTHROTTLED
        is only for a client that is far over it: Kannel, like many ESMEs, puts a throttled message
        back in its queue for sms-resend-freq (60 s by default), so refusing a short burst delayed a
        few messages of it by a minute or more (issue 14: "early messages never got a final receipt")."""
        if not self.accepting:
            raise Rejected(Reject.QUEUE_FULL, "the engine is shutting down")
        now = time.monotonic()
        wait = bind.bucket.delay(now)
        if wait > (self._throttle_hold if may_hold else 0.0):
            raise Rejected(Reject.THROTTLED, f"over {bind.bucket.rate:g} messages/s for this customer here")
        if self._backlog() >= self._max_backlog:
            raise Rejected(Reject.QUEUE_FULL, "dispatch backlog full")
        return bind.bucket.take(now)  # the token is ours now: later submits queue behind it, in order

    def _submit(self, conn: SmppConnection, bind: _Bind, pdu: SubmitSm | DataSm) -> None:
        try:
            hold = self._admit(bind)
        except Rejected as exc:
            self._refuse(conn, bind, pdu, exc)
            return
        if hold > 0:
            asyncio.get_running_loop().call_later(hold, self._take_in, conn, bind, pdu)
        else:
            self._take_in(conn, bind, pdu)

    def _take_in(self, conn: SmppConnection, bind: _Bind, pdu: SubmitSm | DataSm) -> None:
        try:
            destination = SmeAddress(pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr)
            prepared = self._intake.prepare(self._request(bind, pdu, destination), time.time())
        except Rejected as exc:
            self._refuse(conn, bind, pdu, exc)
            return

        def answer(result: Rejected | None, error: BaseException | None) -> None:
            if error is not None:
                result = Rejected(Reject.SYSTEM_ERROR, f"commit failed: {error!r}")
            if result is None:
                conn.respond(pdu, CommandStatus.ESME_ROK, message_id=format_id(prepared.id))
            else:
                self._refuse(conn, bind, pdu, result)

        try:
            self._acceptor.post(prepared, answer)
        except Rejected as exc:
            self._refuse(conn, bind, pdu, exc)

    def _refuse(self, conn: SmppConnection, bind: _Bind, pdu: Pdu, rejected: Rejected) -> None:
        log.info(
            "submit refused", system_id=bind.system_id, code=rejected.reject.name, reason=rejected.reason
        )
        metrics.refused("smpp", bind.account_id, rejected.reject.name, rejected.reason)  # metrics
        conn.respond(pdu, rejected.reject.smpp_status)

    def _submit_multi(self, conn: SmppConnection, bind: _Bind, pdu: SubmitMulti) -> None:
        """One message per SME destination; the response carries the first id and each failure."""
        futures: list[tuple[SmeAddress, asyncio.Future[Rejected | None] | Rejected, int]] = []
        for dest in pdu.dest_addresses:
            if not isinstance(dest, SmeAddress):
                futures.append(
                    (SmeAddress(0, 0, dest.name), Rejected(Reject.INVALID_DESTINATION, "lists"), 0)
                )
                continue
            try:
                self._admit(bind, may_hold=False)
                prepared = self._intake.prepare(self._request(bind, pdu, dest), time.time())
                futures.append((dest, self._acceptor.submit(prepared), prepared.id))
            except Rejected as exc:
                futures.append((dest, exc, 0))

        async def answer() -> None:
            first = ""
            failures = []
            for dest, outcome, message_id in futures:
                result: Rejected | None
                if isinstance(outcome, Rejected):
                    result = outcome
                else:
                    try:
                        result = await outcome
                    except Exception as exc:
                        result = Rejected(Reject.SYSTEM_ERROR, repr(exc))
                if result is None:
                    first = first or format_id(message_id)
                else:
                    failures.append(UnsuccessSme(dest.ton, dest.npi, dest.address, result.reject.smpp_status))
            status = CommandStatus.ESME_ROK if first else CommandStatus.ESME_RSUBMITFAIL
            conn.respond(pdu, status, message_id=first, unsuccess_smes=failures)

        asyncio.get_running_loop().create_task(answer())

    async def _query(self, conn: SmppConnection, bind: _Bind, pdu: QuerySm) -> None:
        message_id = parse_id(pdu.message_id)
        row = None
        if message_id is not None:
            row = await self._pool.fetchrow(
                "SELECT status, final_at, error_code FROM messages WHERE id = $1 AND account_id = $2",
                message_id,
                bind.account_id,
            )
        if row is None:  # unknown, or another account's: the same answer, nothing leaks
            conn.respond(pdu, CommandStatus.ESME_RQUERYFAIL)
            return
        final = row["final_at"].strftime("%y%m%d%H%M%S000+") if row["final_at"] else ""
        conn.respond(
            pdu,
            CommandStatus.ESME_ROK,
            message_id=pdu.message_id,
            final_date=final,
            message_state=_STATE_OF_STATUS.get(row["status"], 7),
            error_code=min(255, row["error_code"] or 0),
        )
