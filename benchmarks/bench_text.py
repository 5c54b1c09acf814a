"""Throughput of the outgoing text path: choose the encoding, encode, cut into segments, build short_messages.

Run: .venv/bin/python -m benchmarks.bench_text  (prints texts/s per kind of message; target >= 200,000
short GSM-7 texts/s on the 2-core development machine). Pure CPU, one process, no I/O.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from smpp.text import ConcatReferenceAllocator, build_segments, plan_text

SHORT_GSM7 = [
    "Your verification code is 482913. It expires in 10 minutes.",
    "Hi Anna, your parcel 7731-AB will arrive today between 14:00 and 16:00.",
    "Reminder: dentist appointment tomorrow at 09:30. Reply STOP to opt out.",
    "Payment of EUR 25.00 received. Thank you! Balance: EUR 112.50",
]
LONG_GSM7 = [
    (
        "Dear customer, your monthly statement is ready. Total due: 42.17 EUR by 28/02. "
        "Pay online at https://example.com/pay or reply HELP for assistance. "
        "Late payments incur a fee of 5 EUR [see terms]. Thank you for choosing us! "
    )
    * 2,
]
UCS2_EMOJI = [
    "Happy birthday! 🎉🎂 Enjoy your day 😀",
    "Ваш код подтверждения: 4821. Никому не сообщайте его. 🔒",
    "お荷物は本日配達予定です。📦 ありがとうございます！",
]


def _pipeline(texts: list[str]) -> Callable[[int], None]:
    allocator = ConcatReferenceAllocator()

    def run(count: int) -> None:
        n = len(texts)
        for index in range(count):
            plan = plan_text(texts[index % n])
            reference = allocator.allocate("447700900123") if plan.needs_reference else 0
            build_segments(plan, reference)

    return run


def measure(name: str, texts: list[str], count: int) -> float:
    run = _pipeline(texts)
    run(min(count, 2_000))  # warm the caches (codec tables, regexes)
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        run(count)
        elapsed = time.perf_counter() - started
        best = max(best, count / elapsed)
    sys.stdout.write(f"{name:<22} {best:>12,.0f} texts/s\n")
    return best


def main() -> None:
    # `--scale 0.01` runs a hundredth of the texts (the test suite checks the script still works)
    scale = float(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1.0
    measure("short GSM-7", SHORT_GSM7, max(1000, int(200_000 * scale)))
    measure("long GSM-7 (2 parts)", LONG_GSM7, max(1000, int(50_000 * scale)))
    measure("UCS-2 with emoji", UCS2_EMOJI, max(1000, int(100_000 * scale)))


if __name__ == "__main__":
    main()
