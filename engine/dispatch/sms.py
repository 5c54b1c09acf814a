"""The SMS job kind: a message's parts to a carrier's binds, as one `Target` of the dispatch loop.

`SmsJob` is a message on its way out (its parts, addresses, route and costs). `CarrierTarget` sends a
job's parts one after another on the carrier's binds (any bind with a free window slot, round robin),
within the carrier's segments-per-second budget, and turns each answer into an `Attempt`:

- ESME_ROK for every part: Sent (each part's carrier id is kept on the job and handed to the receipt
  matcher, so the receipt can find it in memory);
- ESME_RTHROTTLED / ESME_RMSGQFUL: Retry with the whole carrier paused (it asked us to slow down);
- no answer (timeout, connection lost): Retry, flagged possible_duplicate (the carrier may have it);
- an error that says the message is wrong (bad address, bad length, ...): Reject as rejected;
- any other error (system error, vendor codes): Failover to the next carrier of the route.

This module must never write to the database nor sleep: the loop and the lifecycle do that.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import msgspec
import structlog

from engine.carriers.id_formats import normalise
from engine.carriers.link import CarrierLink
from engine.carriers.receipts import PartRef, ReceiptMatcher
from engine.core.parts import PartSpec
from engine.core.status import Status
from engine.core.throttle import TokenBucket
from engine.dispatch.clock import Clock
from engine.dispatch.job import Done, Failover, Job, Reject, Retry, Sent
from engine.infra import metrics
from smpp.connection import RequestFailedError
from smpp.constants import CommandStatus as S
from smpp.constants import Tag
from smpp.errors import LocalProtocolError
from smpp.pdu import Pdu, SubmitSm, SubmitSmResp, TlvValue

log = structlog.get_logger("engine.dispatch.sms")

KIND = "sms"
RETRY_SAME_CARRIER = frozenset({S.ESME_RTHROTTLED, S.ESME_RMSGQFUL})
# The message itself is wrong: another carrier would refuse it too.
PERMANENT = frozenset({
    S.ESME_RINVDSTADR, S.ESME_RINVSRCADR, S.ESME_RINVMSGLEN, S.ESME_RINVDSTTON, S.ESME_RINVDSTNPI,
    S.ESME_RINVSRCTON, S.ESME_RINVSRCNPI, S.ESME_RINVESMCLASS, S.ESME_RINVPARLEN, S.ESME_RINVOPTPARAMVAL,
    S.ESME_RINVEXPIRY, S.ESME_RINVSCHED,
})  # fmt: skip


class PartSubmitted(msgspec.Struct, frozen=True):
    part: int
    carrier: str
    carrier_message_id: str
    key: str
    ref: PartRef | None = None


class SmsJob(Job, kw_only=True):
    source: str
    source_ton: int
    source_npi: int
    destination: str
    segments: int
    route_costs: tuple[int, ...]
    parts: tuple[PartSpec, ...]
    submitted: dict[int, PartSubmitted] = msgspec.field(default_factory=dict)

    def charge(self) -> int:
        """What the carriers that took parts charge for them (the cost of a message failed half-sent)."""
        return sum(self.route_costs[self.route.index(p.carrier)] for p in self.submitted.values())


class CarrierTarget:
    def __init__(self, link: CarrierLink, matcher: ReceiptMatcher, clock: Clock) -> None:
        self.name = link.name
        self.in_flight_limit = max(1, len(link.clients)) * link.config.window_size
        self._link = link
        self._matcher = matcher
        self._clock = clock
        self._resp_format = link.config.resp_id_format
        rate = link.config.throughput  # segments per second over all the carrier's binds
        self._bucket = TokenBucket(rate, burst=max(1.0, rate / 10), now=clock.now())
        self._waiting: deque[tuple[SmsJob, Done]] = deque()  # next parts of started jobs, no slot yet
        self._wake: Callable[[], None] = lambda: None
        link.add_listener(self._bound_changed)

    # ------------------------------------------------------------------------------ Target

    def up(self) -> bool:
        return self._link.bound > 0

    def capacity(self) -> int:
        return self._link.free_slots() - len(self._waiting)

    def throttle(self, job: Job, now: float) -> float:
        bucket = self._bucket
        wait = bucket.delay(now)
        if wait > 0:
            return wait
        bucket.try_take(now)
        return 0.0

    def set_listener(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def set_rate_share(self, fraction: float) -> None:
        """This node's part of the carrier's segments-per-second (its share of the carrier's binds)."""
        rate = max(1.0, self._link.config.throughput * fraction)
        self._bucket.rate = rate
        self._bucket.burst = max(1.0, rate / 10)

    def reconfigure(self, link: CarrierLink, fraction: float) -> None:
        """The link was reconnected with new settings (window, throughput, id formats)."""
        self._link = link
        self._resp_format = link.config.resp_id_format
        self.in_flight_limit = len(link.clients) * link.config.window_size
        self.set_rate_share(fraction)

    def start(self, job: Job, done: Done) -> None:
        assert isinstance(job, SmsJob)
        self._send_next(job, done)

    # ------------------------------------------------------------------------------ parts

    def _bound_changed(self) -> None:
        self._serve_waiting()
        self._wake()

    def _send_next(self, job: SmsJob, done: Done) -> None:
        index = len(job.submitted)  # parts go one after another: the next is the first not yet accepted
        try:
            pdu = submit_sm(job, job.parts[index])
        except (LocalProtocolError, ValueError) as exc:
            done(job, Reject(Status.REJECTED, f"cannot be sent: {exc}"))
            return
        conn = self._link.pick_with_slot()
        if conn is None:
            self._waiting.append((job, done))  # a slot frees with the next response on any bind
            return
        sent_at = time.monotonic()  # metrics: engine/infra/metrics.py
        try:
            sent = conn.send(pdu, lambda resp: self._answered(job, done, index, resp, sent_at))
        except LocalProtocolError as exc:
            done(job, Reject(Status.REJECTED, f"cannot be sent: {exc}"))
            return
        if not sent:
            self._waiting.append((job, done))

    def _serve_waiting(self) -> None:
        waiting = self._waiting
        while waiting and self._link.free_slots() > 0:
            job, done = waiting.popleft()
            self._send_next(job, done)

    def _answered(
        self, job: SmsJob, done: Done, index: int, resp: Pdu | RequestFailedError, sent_at: float = 0.0
    ) -> None:
        status = None if isinstance(resp, RequestFailedError) else resp.command_status
        metrics.submit_answered(self.name, status, time.monotonic() - sent_at)  # metrics
        try:
            self._serve_waiting()
            self._outcome(job, done, index, resp)
        except Exception as exc:  # never lose a job, nor break the connection's loop, on a bug here
            log.exception("dispatch outcome error", message=job.id)
            done(job, Retry(f"internal error: {exc!r}", possible_duplicate=True))

    def _outcome(self, job: SmsJob, done: Done, index: int, resp: Pdu | RequestFailedError) -> None:
        link = self._link
        if isinstance(resp, RequestFailedError):
            link.note(False)
            done(job, Retry(f"no answer from {self.name}: {resp.reason}", possible_duplicate=True))
            return
        status = resp.command_status
        if status == S.ESME_ROK and isinstance(resp, SubmitSmResp):
            link.note(True)
            carrier_id = resp.message_id
            key = normalise(carrier_id, self._resp_format)
            ref = self._matcher.expect(self.name, key, job.id, index, len(job.parts))
            job.submitted[index] = PartSubmitted(index, self.name, carrier_id, key, ref)
            if len(job.submitted) < len(job.parts):
                self._next_part(job, done)
            else:
                done(job, Sent())
            return
        if status in RETRY_SAME_CARRIER:
            done(job, Retry(f"{self.name} throttled: 0x{status:08X}", pause_target=True))
            return
        link.note(False)
        if status in PERMANENT:
            done(job, Reject(Status.REJECTED, f"carrier {self.name} refused it: 0x{status:08X}", status))
        else:
            done(job, Failover(f"carrier {self.name} answered 0x{status:08X}", status))

    def _next_part(self, job: SmsJob, done: Done) -> None:
        now = self._clock.now()
        wait = self._bucket.take(now)  # every segment counts against the carrier's rate
        if wait > 0:
            self._clock.call_at(now + wait, lambda: self._send_next(job, done))
        else:
            self._send_next(job, done)


def submit_sm(job: SmsJob, part: PartSpec) -> SubmitSm:
    tlvs: dict[int, TlvValue] = {}
    short_message = part.short_message
    if part.sar is not None:
        ref, total, seq = part.sar
        tlvs = {Tag.SAR_MSG_REF_NUM: ref, Tag.SAR_TOTAL_SEGMENTS: total, Tag.SAR_SEGMENT_SEQNUM: seq}
    if part.payload or len(short_message) > 254:
        tlvs[Tag.MESSAGE_PAYLOAD] = short_message
        short_message = b""
    return SubmitSm(
        source_addr_ton=job.source_ton,
        source_addr_npi=job.source_npi,
        source_addr=job.source,
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr=job.destination,
        esm_class=part.esm_class,
        registered_delivery=1,  # always: the engine tracks every message to its end
        data_coding=part.data_coding,
        short_message=short_message,
        tlvs=tlvs,
    )
