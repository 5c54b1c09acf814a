"""The one status vocabulary of a message (and of every job kind): its states, and how they map to the wire.

    queued ──> submitted ──> delivered | undeliverable | expired | rejected | failed
       │  (sending: only after a restart or for a scheduled job, see engine/dispatch/marks.py)
       └─> scheduled ──> queued (when due)

A job is *final* in the last five states; its money is settled by then (captured, released or refunded).
`MoneyState` is where a job's own amount stands in the ledger: every job row carries it, and the ledger's
batched postings are reconciled against these rows (billing.items). Everything outside this module refers
to these enums and mappings, never to the strings or the SMPP numbers themselves.
"""

from __future__ import annotations

from enum import StrEnum

from smpp.constants import MessageState


class Status(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in FINAL

    @property
    def severity(self) -> int:
        """How bad a final state is: the worst part decides a multipart message's final state."""
        return _SEVERITY.index(self) if self in _SEVERITY else -1


FINAL = frozenset({Status.DELIVERED, Status.UNDELIVERABLE, Status.EXPIRED, Status.REJECTED, Status.FAILED})
OPEN = frozenset(Status) - FINAL
_SEVERITY = (Status.DELIVERED, Status.EXPIRED, Status.REJECTED, Status.FAILED, Status.UNDELIVERABLE)


class MoneyState(StrEnum):
    NONE = "none"  # never charged (sandbox)
    RESERVED = "reserved"
    CAPTURED = "captured"
    RELEASED = "released"
    REFUNDED = "refunded"


# A carrier receipt's message_state -> the part's final status (None: an intermediate receipt).
_OF_STATE = {
    MessageState.DELIVERED: Status.DELIVERED,
    MessageState.EXPIRED: Status.EXPIRED,
    MessageState.DELETED: Status.REJECTED,
    MessageState.UNDELIVERABLE: Status.UNDELIVERABLE,
    MessageState.REJECTED: Status.REJECTED,
    MessageState.UNKNOWN: Status.FAILED,
}
# Our status -> the message_state a customer is told (receipts we send, query_sm_resp).
_TO_STATE = {
    Status.QUEUED: MessageState.ENROUTE,
    Status.SCHEDULED: MessageState.ENROUTE,
    Status.SENDING: MessageState.ENROUTE,
    Status.SUBMITTED: MessageState.ENROUTE,
    Status.DELIVERED: MessageState.DELIVERED,
    Status.EXPIRED: MessageState.EXPIRED,
    Status.UNDELIVERABLE: MessageState.UNDELIVERABLE,
    Status.REJECTED: MessageState.REJECTED,
    Status.FAILED: MessageState.UNDELIVERABLE,
}
_EVENT = {
    Status.DELIVERED: "message.delivered",
    Status.EXPIRED: "message.expired",
}


def status_of_receipt(state: int | None) -> Status | None:
    """The final status a receipt's message_state reports, None for an intermediate (or unknown) one."""
    if state is None:
        return None
    try:
        return _OF_STATE.get(MessageState(state))
    except ValueError:
        return None


def message_state(status: Status) -> MessageState:
    return _TO_STATE[status]


def webhook_event(status: Status) -> str:
    """The webhook event of a final status."""
    return _EVENT.get(status, "message.failed")


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=_SEVERITY.index)


def wants_receipt(registered_delivery: int, status: Status) -> bool:
    """SMPP 3.4 5.2.17: bits 1-0 = 01 receipt on any final outcome, 10 on failure only."""
    wanted = registered_delivery & 0x03
    return wanted == 1 or (wanted == 2 and status is not Status.DELIVERED)
