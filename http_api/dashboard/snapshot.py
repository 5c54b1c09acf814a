"""What the dashboard shows, as one JSON-able dict, built from the running engine and the database.

Live figures (throughput, queues, binds, receipt latency, recent refusals) are read from memory at every
push; figures that need the database (balances, recent failures, refused binds, campaigns in flight)
are read at most every `db_every` seconds and reused in between, so an open dashboard costs the
database a few small indexed queries every few seconds, whatever the traffic.

This module must never write anything.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from billing.money import format_amount
from engine.core.ids import format_id
from engine.customers.bind_audit import recent_binds
from engine.infra import metrics

if TYPE_CHECKING:
    from engine.app import Engine

_BALANCES = """
SELECT a.id, a.name, a.currency, l.balance AS available
FROM accounts a JOIN billing_customers c ON c.account_id = a.id
JOIN billing_ledger_accounts l ON l.id = c.available_id
ORDER BY a.id LIMIT 50
"""
_FAILURES = """
SELECT id, account_id, destination, status, reason, error_code, final_at FROM messages
WHERE final_at IS NOT NULL AND status <> 'delivered' ORDER BY id DESC LIMIT 10
"""
_CAMPAIGNS = """
SELECT c.id, c.account_id, c.name, c.state, c.send_rate,
       count(r.*) AS total, count(r.*) FILTER (WHERE r.state <> 'pending') AS done
FROM campaigns c LEFT JOIN campaign_recipients r ON r.campaign_id = c.id
WHERE c.state IN ('scheduled', 'sending', 'paused')
GROUP BY c.id ORDER BY c.id LIMIT 20
"""


def _total(counter: Any, **match: str) -> float:
    total = 0.0
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and all(sample.labels.get(k) == v for k, v in match.items()):
                total += sample.value
    return total


def _histogram(histogram: Any) -> tuple[float, float, list[tuple[float, float]]]:
    """(sum, count, [(upper bound, cumulative count)]) over all label sets."""
    total = count = 0.0
    buckets: dict[float, float] = {}
    for family in histogram.collect():
        for s in family.samples:
            if s.name.endswith("_sum"):
                total += s.value
            elif s.name.endswith("_count"):
                count += s.value
            elif s.name.endswith("_bucket"):
                bound = float(s.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + s.value
    return total, count, sorted(buckets.items())


def _quantile(before: list[tuple[float, float]], after: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile of the observations between two histogram readings (upper bucket bound)."""
    was = dict(before)
    deltas = [(bound, cumulative - was.get(bound, 0.0)) for bound, cumulative in after]
    if not deltas or deltas[-1][1] <= 0:
        return None
    wanted = q * deltas[-1][1]
    for bound, cumulative in deltas:
        if cumulative >= wanted:
            return bound if bound != float("inf") else None
    return None


class Snapshotter:
    def __init__(self, engine: Engine, *, db_every: float = 5.0) -> None:
        self.engine = engine
        self.db_every = db_every
        self._db: dict[str, Any] = {}
        self._db_at = 0.0
        self._last: tuple[float, float, float, float, float, list[tuple[float, float]]] | None = None

    def _rates(self, now: float) -> dict[str, Any]:
        accepted = _total(metrics.MESSAGES_ACCEPTED)
        final = _total(metrics.MESSAGES_FINAL)
        delivered = _total(metrics.MESSAGES_FINAL, status="delivered")
        latency_sum, latency_count, buckets = _histogram(metrics.RECEIPT_LATENCY)
        last, self._last = self._last, (now, accepted, final, latency_sum, latency_count, buckets)
        if last is None or now <= last[0]:
            return {"accepted_per_s": 0.0, "final_per_s": 0.0, "receipt_latency_avg_s": None,
                    "receipt_latency_p95_s": None, "accepted_total": accepted, "delivered_total": delivered,
                    "final_total": final}  # fmt: skip
        elapsed = now - last[0]
        receipts = latency_count - last[4]
        return {
            "accepted_per_s": (accepted - last[1]) / elapsed,
            "final_per_s": (final - last[2]) / elapsed,
            "receipt_latency_avg_s": (latency_sum - last[3]) / receipts if receipts else None,
            "receipt_latency_p95_s": _quantile(last[5], buckets, 0.95),
            "accepted_total": accepted,
            "delivered_total": delivered,
            "final_total": final,
        }

    def _binds(self) -> dict[str, Any]:
        e = self.engine
        carriers = [
            {"carrier": name, "bound": link.bound, "binds": len(link.clients),
             "states": [c.state.value for c in link.clients], "error_rate": round(link.error_rate, 3),
             "cooling_down": link.cooldown_until > time.time()}
            for name, link in sorted(e.links.items())
        ]  # fmt: skip
        customers = [
            {"system_id": bind.system_id, "account_id": bind.account_id, "state": conn.state.name,
             "peer": str(conn.peername[0]) if conn.peername else ""}
            for conn, bind in e.customers._binds.items()
        ]  # fmt: skip
        return {"carriers": carriers, "customers": sorted(customers, key=lambda c: c["system_id"])}

    def _queues(self) -> dict[str, int]:
        e = self.engine
        return {
            "dispatch": e.dispatcher.backlog,
            "accept": e.acceptor.pending,
            "lifecycle": e.lifecycle.pending,
            "deliveries": len(e.forwarder._in_flight),
            "webhooks": len(e.webhooks._attempts) if e.webhooks else 0,
        }

    async def _from_database(self, now: float) -> dict[str, Any]:
        if self._db and now - self._db_at < self.db_every:
            return self._db
        pool = self.engine.pool
        balances = [
            {"account_id": r["id"], "name": r["name"], "currency": r["currency"],
             "available": r["available"], "available_amount": format_amount(r["available"], 2)}
            for r in await pool.fetch(_BALANCES)
        ]  # fmt: skip
        failures = [
            {"id": format_id(r["id"]), "account_id": r["account_id"], "to": "+" + r["destination"],
             "status": r["status"], "reason": r["reason"], "error_code": r["error_code"],
             "at": r["final_at"].isoformat()}
            for r in await pool.fetch(_FAILURES)
        ]  # fmt: skip
        binds = [
            {"at": b.at.isoformat(), "peer": b.peer_ip, "system_id": b.system_id, "status": b.command_status,
             "reason": b.reason}
            for b in await recent_binds(pool, failed_only=True, limit=10)
        ]  # fmt: skip
        campaigns = [
            {"id": r["id"], "account_id": r["account_id"], "name": r["name"], "state": r["state"],
             "send_rate": r["send_rate"], "total": r["total"], "done": r["done"]}
            for r in await pool.fetch(_CAMPAIGNS)
        ]  # fmt: skip
        self._db = {
            "balances": balances,
            "failures": failures,
            "refused_binds": binds,
            "campaigns": campaigns,
        }
        self._db_at = now
        return self._db

    async def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        refusals = [
            {"at": r.at, "channel": r.channel, "account": r.account, "reason": r.reason, "detail": r.detail}
            for r in reversed(metrics.RECENT_REFUSALS)
        ][:10]
        return {
            "at": time.time(),
            "node": self.engine.node,
            "throughput": self._rates(now),
            "queues": self._queues(),
            "binds": self._binds(),
            "refusals": refusals,
            **await self._from_database(now),
        }
