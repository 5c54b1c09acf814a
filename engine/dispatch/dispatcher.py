"""Dispatch: accepted messages out to their carriers, in order per destination, with retry and failover.

Each carrier gets `binds × window` workers: as many messages in flight as its windows hold, and no task
per message. A destination has at most one message in flight (its "lane"): a message waiting on a
throttle backoff is never overtaken by a later one to the same number. Before a message is sent it is
durably marked 'sending' (so a crash resends it once, flagged possible_duplicate).

Outcomes, per part:
- ROK: the carrier id is kept; when every part is in, the message is recorded submitted (capture).
- ESME_RTHROTTLED / ESME_RMSGQFUL, or no answer: back off and retry the same carrier (a message that
  got no answer is flagged possible_duplicate); after `max_retries`, fail over.
- An error that says the carrier, not the message, is at fault (system error, submit failed, bind
  problems, vendor codes): fail over to the next carrier of the route.
- Anything else (bad destination, bad source, bad length): the message is rejected, its money released.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import structlog

from engine.carriers.id_formats import normalise
from engine.carriers.link import CarrierLink
from engine.core.intake import PartSpec
from engine.core.lifecycle import Failed, Lifecycle, PartSubmitted, SendingMark, Submitted
from smpp.client import NotBound
from smpp.connection import RequestFailedError
from smpp.constants import CommandStatus as S
from smpp.constants import Tag
from smpp.errors import LocalProtocolError
from smpp.pdu import SubmitSm, SubmitSmResp, TlvValue

log = structlog.get_logger("engine.dispatch.dispatcher")

RETRY_SAME_CARRIER = {S.ESME_RTHROTTLED, S.ESME_RMSGQFUL}
# The message itself is wrong: another carrier would refuse it too.
PERMANENT = {
    S.ESME_RINVDSTADR, S.ESME_RINVSRCADR, S.ESME_RINVMSGLEN, S.ESME_RINVDSTTON, S.ESME_RINVDSTNPI,
    S.ESME_RINVSRCTON, S.ESME_RINVSRCNPI, S.ESME_RINVESMCLASS, S.ESME_RINVPARLEN, S.ESME_RINVOPTPARAMVAL,
    S.ESME_RINVEXPIRY, S.ESME_RINVSCHED,
}  # fmt: skip


class DispatchJob(msgspec.Struct, kw_only=True):
    """A message on its way out; lives in memory between accept (or recovery) and its outcome."""

    message_id: int
    source: str
    source_ton: int
    source_npi: int
    destination: str
    segments: int
    route: tuple[str, ...]
    route_costs: tuple[int, ...]
    parts: tuple[PartSpec, ...]
    route_index: int = 0
    submitted: dict[int, PartSubmitted] = {}
    possible_duplicate: bool = False
    expires_at: datetime | None = None
    scheduled_at: datetime | None = None

    @property
    def carrier(self) -> str:
        return self.route[self.route_index]


class _CarrierQueue:
    def __init__(self, link: CarrierLink) -> None:
        self.link = link
        self.queue: asyncio.Queue[DispatchJob] = asyncio.Queue()
        self.lanes: dict[str, deque[DispatchJob]] = {}


class Dispatcher:
    def __init__(
        self,
        links: dict[str, CarrierLink],
        lifecycle: Lifecycle,
        *,
        max_retries: int = 8,
        bind_wait: float = 5.0,
        backoff: tuple[float, float] = (0.05, 5.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._carriers = {name: _CarrierQueue(link) for name, link in links.items()}
        self._lifecycle = lifecycle
        self._max_retries = max_retries
        self._bind_wait = bind_wait
        self._backoff = backoff
        self._clock = clock
        self._workers: list[asyncio.Task[None]] = []
        self._scheduled: list[asyncio.TimerHandle] = []
        self.backlog = 0  # jobs accepted and not yet finished with

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for name, cq in self._carriers.items():
            config = cq.link.config
            for i in range(min(1000, config.binds * config.window_size)):
                self._workers.append(loop.create_task(self._worker(cq), name=f"dispatch-{name}-{i}"))

    async def close(self) -> None:
        for handle in self._scheduled:
            handle.cancel()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    def enqueue(self, job: DispatchJob) -> None:
        self.backlog += 1
        self._route(job)

    def _route(self, job: DispatchJob) -> None:
        if job.scheduled_at is not None:
            delay = (job.scheduled_at - datetime.now(UTC)).total_seconds()
            if delay > 0:
                job.scheduled_at = None
                self._scheduled.append(asyncio.get_running_loop().call_later(delay, self._route, job))
                return
        while job.route_index < len(job.route) and job.carrier not in self._carriers:
            job.route_index += 1  # a carrier without a connection configured: skip it
        if job.route_index >= len(job.route):
            self._finish(job, Failed(job.message_id, "failed", "no carrier of the route is connected"))
            return
        self._carriers[job.carrier].queue.put_nowait(job)

    def _finish(self, job: DispatchJob, outcome: Submitted | Failed) -> None:
        self.backlog -= 1
        self._lifecycle.submit(outcome).add_done_callback(_log_failure)

    # ---------------------------------------------------------------------------------------- worker

    async def _worker(self, cq: _CarrierQueue) -> None:
        while True:
            job = await cq.queue.get()
            lane = cq.lanes.get(job.destination)
            if lane is not None:  # a message to this number is in flight: wait behind it
                lane.append(job)
                continue
            destination = job.destination
            lane = cq.lanes[destination] = deque()
            try:
                while True:
                    try:
                        await self._send(cq.link, job)
                    except Exception as exc:  # never lose the worker, nor the message: try it again later
                        log.error("dispatch error", message=job.message_id, error=repr(exc))
                        asyncio.get_running_loop().call_later(1.0, self._route, job)
                    if not lane:
                        break
                    job = lane.popleft()
            finally:
                del cq.lanes[destination]

    async def _send(self, link: CarrierLink, job: DispatchJob) -> None:
        if job.expires_at is not None and job.expires_at <= datetime.now(UTC):
            self._finish(job, Failed(job.message_id, "expired", "validity period passed before sending"))
            return
        await self._lifecycle.submit(SendingMark(job.message_id, link.name))
        for index, part in enumerate(job.parts):
            if index in job.submitted:
                continue
            verdict = await self._send_part(link, job, index, part)
            if verdict == "failover":
                job.route_index += 1
                if job.route_index < len(job.route):
                    self._route(job)
                else:
                    self._fail(job, "failed", "every carrier of the route failed", None)
                return
            if verdict != "ok":
                return  # _send_part recorded the failure
        cost = job.route_costs[job.route_index] * job.segments
        self._finish(
            job,
            Submitted(
                job.message_id, job.route_index, cost, link.name, tuple(job.submitted.values()),
                job.possible_duplicate,
            ),
        )  # fmt: skip

    def _fail(self, job: DispatchJob, status: str, reason: str, error: int | None) -> None:
        # parts already accepted by a carrier went out: charge them, at that carrier's cost
        sent = list(job.submitted.values())
        charge = None
        if sent:
            charge = sum(job.route_costs[job.route.index(p.carrier)] for p in sent)
        self._finish(job, Failed(job.message_id, status, reason, error, charge))

    async def _send_part(self, link: CarrierLink, job: DispatchJob, index: int, part: PartSpec) -> str:
        pdu = _submit_sm(job, part)
        delay = self._backoff[0]
        for _attempt in range(self._max_retries + 1):
            wait = link.bucket.take(self._clock())
            if wait > 0:
                await asyncio.sleep(wait)
            client = link.pick()
            if client is None:
                if await link.wait_bound(self._bind_wait):
                    continue
                if job.route_index + 1 < len(job.route):
                    return "failover"
                # the last carrier of the route: the message waits for it rather than fail
                await link.wait_bound(3600.0)
                continue
            try:
                resp = await client.request(pdu)
            except (NotBound, RequestFailedError) as exc:
                # no answer: the carrier may have the message; if we send it again it is a possible duplicate
                if isinstance(exc, RequestFailedError):
                    job.possible_duplicate = True
                link.note(False)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            except LocalProtocolError as exc:
                self._fail(job, "rejected", f"cannot be sent: {exc}", None)
                return "rejected"
            status = resp.command_status
            if status == S.ESME_ROK and isinstance(resp, SubmitSmResp):
                link.note(True)
                carrier_id = resp.message_id
                job.submitted[index] = PartSubmitted(
                    index, link.name, carrier_id, normalise(carrier_id, link.config.resp_id_format)
                )
                return "ok"
            if status in RETRY_SAME_CARRIER:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            link.note(False)
            if status in PERMANENT:
                self._fail(job, "rejected", f"carrier {link.name} refused it: 0x{status:08X}", status)
                return "rejected"
            return "failover"
        return "failover"


def _submit_sm(job: DispatchJob, part: PartSpec) -> SubmitSm:
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


def _log_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("lifecycle write failed", error=repr(future.exception()))
