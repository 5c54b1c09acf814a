"""Prometheus metrics of the engine: what hot code observes, and what is read off the engine at scrape.

Two kinds, so that the message path carries as little of it as possible:

- Observations that only hot code can make (an outcome, a latency, a batch) are module-level counters
  and histograms here, fed by one marked line each in the code that sees them (`# metrics:`):
  `accepted`, `refused`, `finalised`, `submit_answered`, `commit_batch`, `http_request`. They are
  `_Counter` / `_Histogram`: a dict increment or a bisect per observation, turned into Prometheus
  families only at scrape (prometheus_client's own metrics cost a lock and a label lookup each time,
  ~5 % of the engine's CPU per message when they were used here).
- Everything the engine already counts or holds (queue depths, binds, pool, webhook and delivery
  outcomes, group-commit totals) is read at scrape time by `EngineCollector`; nothing is kept twice.

`render(engine)` is what GET /metrics answers (text format 0.0.4). Account labels are account ids
(names can change and may be personal); carrier labels are carrier names.

This module must never block or do I/O in the functions hot code calls.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from engine.app import Engine

REGISTRY = CollectorRegistry(auto_describe=True)
_CLIENT_STATES = ("bound", "binding", "connecting", "disconnected")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Counter(Collector):
    """A counter by label values, kept as a dict; `inc(*labels)` from hot code."""

    def __init__(self, name: str, doc: str, labels: Sequence[str], *, registry: CollectorRegistry) -> None:
        self.name, self.doc, self.labels = name, doc, list(labels)
        self.values: dict[tuple[str, ...], float] = {}
        registry.register(self)

    def inc(self, *labels: str) -> None:
        values = self.values
        values[labels] = values.get(labels, 0.0) + 1.0

    def collect(self) -> Iterator[Any]:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for labels, value in list(self.values.items()):
            family.add_metric(list(labels), value)
        yield family


class _Histogram(Collector):
    """A histogram by label values: per label set, the count in each bucket, the sum and the count."""

    def __init__(
        self, name: str, doc: str, labels: Sequence[str] = (), *, buckets: Sequence[float],
        registry: CollectorRegistry,
    ) -> None:  # fmt: skip
        self.name, self.doc, self.labels = name, doc, list(labels)
        self.bounds = sorted(float(b) for b in buckets)
        self.series: dict[tuple[str, ...], list[float]] = {}  # bucket counts (+Inf last), sum
        registry.register(self)

    def observe(self, value: float, *labels: str) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0.0] * (len(self.bounds) + 2)
        series[bisect.bisect_left(self.bounds, value)] += 1.0
        series[-1] += value

    def collect(self) -> Iterator[Any]:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for labels, series in list(self.series.items()):
            cumulative, buckets = 0.0, []
            for bound, count in zip([*self.bounds, float("inf")], series[:-1], strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric(list(labels), buckets, series[-1])
        yield family


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_RECEIPT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 86400.0)

MESSAGES_ACCEPTED = _Counter(
    "smsengine_messages_accepted", "Messages durably accepted (HTTP 202 / submit_sm_resp ROK)",
    ["account", "carrier"], registry=REGISTRY,
)  # fmt: skip
MESSAGES_FINAL = _Counter(
    "smsengine_messages_final", "Messages that reached a final status (delivered, undeliverable, expired, "
    "rejected, failed)", ["account", "carrier", "status"], registry=REGISTRY,
)  # fmt: skip
SUBMITS = _Counter(
    "smsengine_carrier_submits", "submit_sm answered by a carrier, by command_status class",
    ["carrier", "outcome"], registry=REGISTRY,
)  # fmt: skip
SUBMIT_LATENCY = _Histogram(
    "smsengine_submit_sm_resp_seconds", "Time from submit_sm to its submit_sm_resp", ["carrier"],
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
RECEIPT_LATENCY = _Histogram(
    "smsengine_receipt_latency_seconds", "Time from accept to the final status (the carrier's receipt)",
    buckets=_RECEIPT_BUCKETS, registry=REGISTRY,
)  # fmt: skip
BATCH_SIZE = _Histogram(
    "smsengine_group_commit_batch_size", "Items per group-commit transaction", ["committer"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000), registry=REGISTRY,
)  # fmt: skip
BATCH_LATENCY = _Histogram(
    "smsengine_group_commit_seconds", "Duration of a group-commit transaction", ["committer", "result"],
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip
HTTP_REQUESTS = _Counter(
    "smsengine_http_requests", "HTTP API requests by route template and status",
    ["method", "route", "status"], registry=REGISTRY,
)  # fmt: skip
HTTP_LATENCY = _Histogram(
    "smsengine_http_request_seconds", "HTTP API request duration", ["method", "route"],
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)  # fmt: skip


REFUSALS = _Counter(
    "smsengine_messages_refused", "Messages refused at accept, by channel and reason",
    ["channel", "reason"], registry=REGISTRY,
)  # fmt: skip


class Refusal(msgspec.Struct, frozen=True):
    at: float  # unix time
    channel: str
    account: str
    reason: str  # the Reject's name
    detail: str


RECENT_REFUSALS: deque[Refusal] = deque(maxlen=50)  # the dashboard's "recent refusals", newest last


# ------------------------------------------------------------------------------ called from hot code


def refused(channel: str, account: int | str, reason: str, detail: str) -> None:
    """A message refused at accept (any Reject), on SMPP or HTTP."""
    REFUSALS.inc(channel, reason)
    RECENT_REFUSALS.append(Refusal(time.time(), channel, str(account), reason, detail[:200]))


def accepted(items: Iterable[Any]) -> None:
    """After an accept commit: the items accepted. SMS (PreparedMessage: request.account_id, route) are
    counted; other job kinds (social posts) have their own figures."""
    for m in items:
        request = getattr(m, "request", None)
        route = getattr(m, "route", None)
        if request is not None and route is not None:
            MESSAGES_ACCEPTED.inc(str(request.account_id), route[0] if route else "")


def finalised(rows: Iterable[Any]) -> None:
    """After a lifecycle commit: the messages made final (account_id, carrier, status, created_at,
    final_at)."""
    for r in rows:
        MESSAGES_FINAL.inc(str(r.account_id), r.carrier or "", str(r.status))
        created: datetime | None = r.created_at
        final: datetime | None = r.final_at
        if created is not None and final is not None:
            RECEIPT_LATENCY.observe(max(0.0, (final - created).total_seconds()))


def submit_answered(carrier: str, status: int | None, seconds: float) -> None:
    """A carrier answered a submit_sm (status None: no answer) after `seconds`."""
    outcome = "no_answer" if status is None else ("ok" if status == 0 else f"0x{status:08X}")
    SUBMITS.inc(carrier, outcome)
    if status is not None:
        SUBMIT_LATENCY.observe(seconds, carrier)


def commit_batch(committer: str, size: int, seconds: float, ok: bool) -> None:
    BATCH_SIZE.observe(size, committer)
    BATCH_LATENCY.observe(seconds, committer, "ok" if ok else "failed")


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.inc(method, route, str(status))
    HTTP_LATENCY.observe(seconds, method, route)


# ------------------------------------------------------------------------------ read at scrape time

Values = Iterable[tuple[Sequence[str], float]]


def _gauge(name: str, doc: str, labels: Sequence[str], values: Values) -> Any:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    for label_values, value in values:
        family.add_metric(list(label_values), value)
    return family


def _counter(
    name: str, doc: str, labels: Sequence[str], values: Iterable[tuple[Sequence[str], float]]
) -> Any:
    family = CounterMetricFamily(name, doc, labels=list(labels))
    for label_values, value in values:
        family.add_metric(list(label_values), value)
    return family


class EngineCollector(Collector):
    """Reads the running engine's own counters and gauges when Prometheus scrapes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        e = self.engine
        yield _gauge(
            "smsengine_queue_depth", "Items waiting in each stage", ["queue"],
            [(("dispatch_backlog",), e.dispatcher.backlog), (("accept_uncommitted",), e.acceptor.pending),
             (("lifecycle_uncommitted",), e.lifecycle.pending),
             (("customer_deliveries_in_flight",), len(e.forwarder._in_flight)),
             (("webhook_attempts_in_flight",), len(e.webhooks._attempts) if e.webhooks else 0)],
        )  # fmt: skip
        committers: list[tuple[str, Any]] = [("accept", e.acceptor.committer)]
        committers += [(lane._name, lane) for lane in e.lifecycle.lanes]
        yield _counter(
            "smsengine_group_commit_batches", "Group-commit transactions committed", ["committer"],
            [((name, ), c.batches) for name, c in committers],
        )  # fmt: skip
        yield _counter(
            "smsengine_group_commit_items", "Items committed by group commit", ["committer"],
            [((name,), c.committed) for name, c in committers],
        )  # fmt: skip
        yield _gauge(
            "smsengine_carrier_binds", "Carrier binds by state", ["carrier", "state"],
            [((name, state), sum(1 for c in link.clients if c.state.value == state))
             for name, link in e.links.items() for state in _CLIENT_STATES],
        )  # fmt: skip
        yield _gauge(
            "smsengine_carrier_error_rate", "Moving error rate of each carrier's submits", ["carrier"],
            [((name,), link.error_rate) for name, link in e.links.items()],
        )  # fmt: skip
        per_system: dict[tuple[str, str], int] = {}
        for conn, bind in e.customers._binds.items():
            key = (bind.system_id, conn.state.name.lower())
            per_system[key] = per_system.get(key, 0) + 1
        yield _gauge(
            "smsengine_customer_binds", "Customer SMPP binds by system_id and state", ["system_id", "state"],
            [(k, v) for k, v in per_system.items()],
        )  # fmt: skip
        pool = e.pool
        yield _gauge(
            "smsengine_db_pool_connections", "PostgreSQL pool connections", ["state"],
            [(("open",), pool.get_size()), (("idle",), pool.get_idle_size()),
             (("max",), pool.get_max_size())],
        )  # fmt: skip
        yield _counter(
            "smsengine_receipts_received", "Delivery receipts received from carriers", [],
            [((), e.inbound.receipts)],
        )  # fmt: skip
        yield _counter(
            "smsengine_customer_deliveries", "Receipts and MO delivered to customers (bind or callback)",
            ["outcome"],
            [(("delivered",), e.forwarder.delivered), (("failed",), e.forwarder.failed_attempts)],
        )  # fmt: skip
        if e.webhooks is not None:
            yield _counter(
                "smsengine_webhook_deliveries", "Webhook delivery attempts by outcome", ["outcome"],
                [(("delivered",), e.webhooks.delivered), (("failed",), e.webhooks.failed_attempts)],
            )  # fmt: skip


class _Global(Collector):
    def collect(self) -> Iterator[Any]:
        for collector in list(REGISTRY._collector_to_names):
            yield from collector.collect()


def registry_for(engine: Engine) -> CollectorRegistry:
    """The registry /metrics renders for this engine: its live state and the process-wide observations."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine))
    registry.register(_Global())
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
