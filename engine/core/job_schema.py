"""What a job kind tells the accept path: its table, its row, its price, and the job it becomes.

The group commit of accept (engine/core/accept.py) stores items of every kind in the same transaction:
each kind's rows go to its own table by COPY, every item that costs money is held by one ledger call for
the whole batch (billing.items), and after the commit each item becomes a `Job` of the dispatch loop.
A new kind (a social post, a DM) is this schema, its connector (a `Target`), and its outcome sink; it
brings no second accept path, no second dispatcher, no second ledger.

Every kind's table carries the same money columns (amount, money, reserve_batch, settle_batch,
refund_batch, country and the carriers of its groups) so that `smsengine ledger check` reconciles every
item of every kind against the batched postings (engine/admin/ledger.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from billing.items import ItemHold
from engine.dispatch.job import Job

T_contra = TypeVar("T_contra", contravariant=True)


class JobSchema(Protocol[T_contra]):
    kind: str  # the job kind, as dispatch knows it ("sms")
    table: str  # where its rows live
    columns: Sequence[str]  # what `row` returns, in order (COPY columns)

    def item_id(self, item: T_contra) -> int: ...

    def row(self, item: T_contra, now: datetime, batch: int) -> tuple[object, ...]:
        """The item's row as accept writes it (money 'reserved' with reserve_batch = batch when charged)."""

    def hold(self, item: T_contra) -> ItemHold | None:
        """What the item costs, and the group it is counted in; None when it is never charged (sandbox)."""

    def job(self, item: T_contra) -> Job | None:
        """The dispatch job of a committed item; None when nothing goes out (sandbox: final at once)."""
