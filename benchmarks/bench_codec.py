"""Codec throughput: encode and decode of submit_sm, and of deliver_sm carrying a delivery receipt.

    .venv/bin/python -m benchmarks.bench_codec

Prints PDUs/s, best of several rounds (one core; the machine's other core stays free).
Targets on the 2-core development machine: decode ≥ 250,000 submit_sm/s, encode ≥ 300,000/s.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime

from smpp.codec import PduReader, decode, encode
from smpp.constants import MessageState, Tag
from smpp.pdu import DeliverSm, NetworkErrorCode, SubmitSm
from smpp.receipt import format_receipt

SUBMIT = SubmitSm(
    sequence_number=123456,
    source_addr_ton=5,
    source_addr="Acme",
    dest_addr_ton=1,
    dest_addr_npi=1,
    destination_addr="447700900123",
    registered_delivery=1,
    short_message=b"Your verification code is 492031. It expires in 10 minutes.",
)
RECEIPT = DeliverSm(
    sequence_number=654321,
    source_addr_ton=1,
    source_addr_npi=1,
    source_addr="447700900123",
    destination_addr="Acme",
    esm_class=0x04,
    short_message=format_receipt(
        "8f14e45fceea167a5a36dedd4bea2543",
        MessageState.DELIVERED,
        submit_date=datetime(2026, 11, 23, 8, 0),
        done_date=datetime(2026, 11, 23, 8, 0),
        text="Your verification c",
    ).encode(),
    tlvs={
        Tag.RECEIPTED_MESSAGE_ID: "8f14e45fceea167a5a36dedd4bea2543",
        Tag.MESSAGE_STATE: 2,
        Tag.NETWORK_ERROR_CODE: NetworkErrorCode(3, 0),
    },
)


def rate(fn: Callable[[], object], n: int = 200_000, rounds: int = 5) -> float:
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def stream_rate(frame: bytes, n: int = 200_000, batch: int = 100) -> float:
    """Decode through PduReader, fed `batch` PDUs per chunk as a socket would deliver them."""
    chunk = frame * batch
    reader = PduReader()
    start = time.perf_counter()
    for _ in range(n // batch):
        reader.feed(chunk)
        while reader.next_pdu() is not None:
            pass
    return n / (time.perf_counter() - start)


def main() -> None:
    # `--scale 0.01` runs a hundredth of the iterations (the test suite checks the script still works)
    scale = float(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1.0
    n = max(1000, int(200_000 * scale))
    submit_wire, receipt_wire = encode(SUBMIT), encode(RECEIPT)
    rows = [
        ("submit_sm encode", rate(lambda: encode(SUBMIT), n)),
        ("submit_sm decode", rate(lambda: decode(submit_wire), n)),
        ("submit_sm decode via PduReader", max(stream_rate(submit_wire, n) for _ in range(3))),
        ("deliver_sm receipt encode", rate(lambda: encode(RECEIPT), n)),
        ("deliver_sm receipt decode", rate(lambda: decode(receipt_wire), n)),
    ]
    for name, value in rows:
        print(f"{name:34s} {value:>12,.0f} PDUs/s")


if __name__ == "__main__":
    main()
