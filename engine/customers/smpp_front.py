"""The SMPP server customers bind to: authentication, per-bind throughput, and message intake.

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
from engine.customers.credentials import SmppCredential, check_bind
from engine.customers.smpp_time import InvalidSmppTime, parse_smpp_time
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

    def __init__(self, account_id: int, system_id: str, throughput: int) -> None:
        self.account_id = account_id
        self.system_id = system_id
        self.bucket = TokenBucket(throughput, burst=max(1.0, throughput / 5), now=time.monotonic())


class CustomerSmpp:
    def __init__(
        self,
        pool: asyncpg.Pool,
        intake: Intake,
        acceptor: Acceptor,
        *,
        backlog: Callable[[], int],
        max_backlog: int = 500_000,
        on_receiver_bound: Callable[[int], None] = lambda _: None,
    ) -> None:
        self._pool = pool
        self._intake = intake
        self._acceptor = acceptor
        self._backlog = backlog
        self._max_backlog = max_backlog
        self.on_receiver_bound = on_receiver_bound
        self._binds: dict[SmppConnection, _Bind] = {}
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
        peer_ip = conn.peername[0] if conn.peername else ""
        # scrypt is slow on purpose: keep it off the event loop
        status, reason = await asyncio.to_thread(
            check_bind, credential, password, peer_ip, self.live_binds(system_id)
        )
        if status != CommandStatus.ESME_ROK or credential is None:
            log.warning("bind refused", system_id=system_id, peer=peer_ip, reason=reason)
            return status, "smsengine"
        self._binds[conn] = _Bind(credential.account_id, system_id, credential.throughput)
        return CommandStatus.ESME_ROK, "smsengine"

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

    def _admit(self, bind: _Bind) -> None:
        if not self.accepting:
            raise Rejected(Reject.QUEUE_FULL, "the engine is shutting down")
        if not bind.bucket.try_take(time.monotonic()):
            raise Rejected(Reject.THROTTLED, f"over {bind.bucket.rate:g} messages/s for this bind")
        if self._backlog() >= self._max_backlog:
            raise Rejected(Reject.QUEUE_FULL, "dispatch backlog full")

    def _submit(self, conn: SmppConnection, bind: _Bind, pdu: SubmitSm | DataSm) -> None:
        try:
            self._admit(bind)
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
                self._admit(bind)
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
