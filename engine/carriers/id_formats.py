"""Carrier message ids, normalised so a receipt finds its message whatever shape the id takes.

Carriers answer submit_sm_resp with an id in one format and often send the receipt with the same id in
another: hex in the response and decimal in the receipt text is the classic; case and leading zeros vary
too. Each carrier connection says how its response ids and its receipt ids are written ('text', 'hex',
'dec'); both sides are turned into one key here. 'hex' and 'dec' ids become the decimal string of their
value (so 00FF, ff and 255 meet); 'text' ids are compared case-insensitively with leading zeros removed.
"""

from __future__ import annotations


def normalise(carrier_id: str, fmt: str) -> str:
    raw = carrier_id.strip()
    if fmt == "hex":
        try:
            return str(int(raw, 16))
        except ValueError:
            pass  # not hex after all: fall back to the text key rather than lose the receipt
    elif fmt == "dec":
        if raw.isdigit():
            return str(int(raw))
    key = raw.lower().lstrip("0")
    return key or "0"
