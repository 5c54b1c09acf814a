"""Destination normalisation, fast: phonenumbers costs ~40 µs a number, too much per message.

Two memos. International numbers (ton 1, a leading '+', or plain digits with no default region) are
judged by their shape: country code, the first four digits of the national number, and its length,
which is what phonenumbers' parsing and "possible number" rules depend on. One real call per shape says
whether such numbers are kept as written, refused (and why), or rewritten; only the first two use the
memo, rewritten shapes go the general way. A million distinct numbers cost a few thousand phonenumbers
calls. Anything else goes through routing's normalise_destination, memoised per exact input.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from routing.numbers import InvalidDestination, normalise_destination

_COUNTRY_CODES = phonenumbers.COUNTRY_CODE_TO_REGION_CODE


@lru_cache(maxsize=200_000)
def _normalise(address: str, ton: int, npi: int, region: str | None) -> str | InvalidDestination:
    try:
        return normalise_destination(address, ton=ton, npi=npi, default_region=region)
    except InvalidDestination as exc:
        return exc


@lru_cache(maxsize=200_000)
def _shape(country_code: str, lead: str, national_length: int) -> InvalidDestination | bool:
    """What phonenumbers makes of numbers of this shape: True if it keeps them exactly as written,
    the error if it refuses them, False if it rewrites them (national prefix, leading zeros...)."""
    representative = country_code + lead + "5" * (national_length - len(lead))
    result = _normalise(representative, 1, 1, None)
    if isinstance(result, InvalidDestination):
        return result
    return result == representative


def _fast_international(address: str, ton: int, npi: int, region: str | None) -> str | None:
    """E.164 digits for a plainly written international number, or None to take the general path."""
    if npi not in (0, 1):
        return None
    plus = address.startswith("+")
    if not (ton == 1 or plus or (ton == 0 and region is None)):
        return None
    body = address[1:] if plus else address
    if ton == 1 and body.startswith("00"):
        body = body[2:]
    if not (body.isdigit() and body.isascii()) or not 7 <= len(body) <= 15 or body[0] == "0":
        return None  # (a country code never starts with 0; such input gets phonenumbers' own verdict)
    for length in (1, 2, 3):
        if int(body[:length]) in _COUNTRY_CODES:
            # phonenumbers' rules (national prefixes, leading zeros, lengths) depend on the country and the
            # first digits of the national number: learn them once per shape, from one real call
            shape = _shape(body[:length], body[length : length + 4], len(body) - length)
            if isinstance(shape, InvalidDestination):
                raise InvalidDestination(address, shape.reason, "not a possible number for its country")
            return body if shape else None
    return None


def normalise_cached(address: str, ton: int, npi: int, region: str | None) -> str:
    fast = _fast_international(address, ton, npi, region)
    if fast is not None:
        return fast
    result = _normalise(address, ton, npi, region)
    if isinstance(result, InvalidDestination):
        raise result
    return result
