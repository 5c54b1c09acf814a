"""Destination normalisation with a memo: phonenumbers costs ~40 µs a number, too much per message.

The memo keys on the exact address and its ton/npi/region, and holds a bounded number of entries: a bulk
campaign repeats few numbers, SMPP traffic many, and either way no number is looked up twice in a row.
"""

from __future__ import annotations

from functools import lru_cache

from routing.numbers import InvalidDestination, normalise_destination


@lru_cache(maxsize=200_000)
def _normalise(address: str, ton: int, npi: int, region: str | None) -> str | InvalidDestination:
    try:
        return normalise_destination(address, ton=ton, npi=npi, default_region=region)
    except InvalidDestination as exc:
        return exc


def normalise_cached(address: str, ton: int, npi: int, region: str | None) -> str:
    result = _normalise(address, ton, npi, region)
    if isinstance(result, InvalidDestination):
        raise result
    return result
