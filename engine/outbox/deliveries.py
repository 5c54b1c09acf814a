"""What the engine owes a customer: a receipt for one of its messages, or an MO — the model and its outbox.

A `Delivery` is a row of `deliveries` until the customer acknowledges it (deliver_sm_resp ROK on one of its
receiving binds, or a 2xx from its callback URL); then the row is deleted. A receipt for a customer bound
on the node is held instead: sent from memory, its batch's `receipt_batches` row standing for it until then
(engine/outbox/forwarder.py). A receipt refers to its message (its `ReceiptNotice` is read off the message
row, never stored twice); an MO carries its body.

`DeliveryOutbox` is what the stages that owe deliveries (the lifecycle for receipts, carrier inbound for
MO) see of the forwarder (engine/outbox/forwarder.py): `store` in their transaction, `push` after it.
This module holds types only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
import msgspec

from engine.core.ids import format_id
from engine.core.status import Status, message_state

if TYPE_CHECKING:
    from billing.db import Connection


class ReceiptNotice(msgspec.Struct, frozen=True, gc=False):
    """What a customer is told about its message's end: on its bind, its callback or its webhooks."""

    message_id: int
    status: Status
    err: str
    network_error: int | None
    carrier_status: str
    source: str
    destination: str
    segments: int
    submitted_at: datetime
    done_at: datetime
    client_ref: str
    channel: str
    system_id: str

    def body(self) -> dict[str, Any]:
        """The JSON shape of callbacks and webhooks."""
        return {
            "message_id": format_id(self.message_id),
            "status": self.status.value,
            "message_state": int(message_state(self.status)),
            "err": self.err,
            "network_error": self.network_error,
            "carrier_status": self.carrier_status,
            "source": self.source,
            "destination": self.destination,
            "segments": self.segments,
            "submitted_at": self.submitted_at.isoformat(),
            "done_at": self.done_at.isoformat(),
            "client_ref": self.client_ref,
            "channel": self.channel,
            "system_id": self.system_id,
        }


class Delivery(msgspec.Struct, frozen=True):
    """Something owed to a customer (a receipt or an MO), as stored in `deliveries`.

    A receipt refers to its message row and is not stored with a body: `notice` is read off the row (by
    the commit that finalised it, or by the forwarder's sweeper); an MO carries its `body`."""

    id: int
    account_id: int
    kind: str
    message_id: int | None
    body: dict[str, Any] | None = None
    notice: ReceiptNotice | None = None

    def payload(self) -> dict[str, Any]:
        if self.notice is not None:
            return self.notice.body()
        return self.body or {}


class DeliveryOutbox(Protocol):
    async def store(self, conn: Connection, deliveries: list[Delivery]) -> None:
        """Write what is owed in the caller's transaction: held receipts' batch rows, deliveries rows (with
        this node's lease where it can deliver)."""

    def push(self, deliveries: list[Delivery]) -> None:
        """After the caller's commit (always called after a `store` that committed): deliver now what can be
        delivered from here."""


_STATUS = {s.value: s for s in Status}


def receipt_notice(row: asyncpg.Record) -> ReceiptNotice:
    """A final message row (as _APPLY returns it, or the forwarder's sweep reads it) as its notice."""
    return ReceiptNotice(
        row["id"], _STATUS[row["status"]], row["receipt_err"] or "000", row["network_error"],
        row["receipt_stat"] or "", row["source"], row["destination"], row["segments"], row["created_at"],
        row["final_at"] or datetime.now(UTC), row["client_ref"], row["channel"], row["system_id"],
    )  # fmt: skip
