"""Message ids: 63-bit integers, unique across engine processes, ordered by time, shown as 16 hex digits.

    | 41 bits: milliseconds since 2025-01-01 | 10 bits: node | 12 bits: sequence |

The node number is given by the caller (each engine process takes one from a PostgreSQL sequence at
start), so ids never collide between processes sharing a database. 4,096 ids per millisecond per
process; beyond that the generator borrows from the next millisecond rather than block. The id is what
customers see in submit_sm_resp, in the HTTP API and in receipts: one format everywhere.
"""

from __future__ import annotations

import time

EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
NODE_BITS = 10
SEQUENCE_BITS = 12
MAX_NODE = (1 << NODE_BITS) - 1


class MessageIdGenerator:
    __slots__ = ("_last_ms", "_node", "_sequence")

    def __init__(self, node: int) -> None:
        if not 0 <= node <= MAX_NODE:
            raise ValueError(f"node must be 0..{MAX_NODE}")
        self._node = node
        self._last_ms = 0
        self._sequence = 0

    @property
    def node(self) -> int:
        return self._node

    def next_id(self) -> int:
        now = int(time.time() * 1000) - EPOCH_MS
        if now > self._last_ms:
            self._last_ms, self._sequence = now, 0
        else:
            self._sequence += 1
            if self._sequence >> SEQUENCE_BITS:  # this millisecond is used up: borrow the next one
                self._last_ms += 1
                self._sequence = 0
        return (self._last_ms << (NODE_BITS + SEQUENCE_BITS)) | (self._node << SEQUENCE_BITS) | self._sequence

    def ceiling(self, ahead_ms: int) -> int:
        """The largest id this generator can hand out within the next `ahead_ms` milliseconds."""
        ms = max(int(time.time() * 1000) - EPOCH_MS, self._last_ms) + ahead_ms
        return (
            (ms << (NODE_BITS + SEQUENCE_BITS)) | (self._node << SEQUENCE_BITS) | ((1 << SEQUENCE_BITS) - 1)
        )


def format_id(message_id: int) -> str:
    return f"{message_id:016x}"


def parse_id(text: str) -> int | None:
    """The id in a customer-supplied string (any case, with or without leading zeros), or None."""
    text = text.strip()
    if not 0 < len(text) <= 16:
        return None
    try:
        value = int(text, 16)
    except ValueError:
        return None
    return value if value < 1 << 63 else None
