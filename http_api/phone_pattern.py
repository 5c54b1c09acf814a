"""The E.164 pattern of the API's schemas, written from the numbering plans themselves (phonenumbers).

A number is accepted when its country code exists and its national number has a length that country's
plan allows (routing.numbers: a *possible* number). That is a finite list, so it is a regular
expression: `+`, a country code, then one of its lengths of digits. The schema states it whole, so a
client (or schemathesis) that follows the schema never sends a number the API refuses for its shape.
This module must never do I/O; it reads phonenumbers' bundled metadata once, at import.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneMetadata


def _plans() -> dict[int, list[int]]:
    """Country code -> the lengths its national numbers may have (local-only lengths excluded)."""
    plans: dict[int, list[int]] = {}
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        # a number written with its country code is judged by that code's main region (as parse does)
        region = phonenumbers.region_code_for_country_code(code)
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        if metadata is None or metadata.general_desc is None:
            continue
        desc = metadata.general_desc
        local_only = set(desc.possible_length_local_only or ())
        lengths = sorted({n for n in desc.possible_length or () if n > 0 and n not in local_only})
        if lengths:
            plans[code] = lengths
    return plans


def _lengths(lengths: list[int]) -> str:
    runs: list[str] = []
    start = prev = lengths[0]
    for n in [*lengths[1:], -1]:
        if n == prev + 1:
            prev = n
            continue
        runs.append(f"[0-9]{{{start}}}" if start == prev else f"[0-9]{{{start},{prev}}}")
        start = prev = n
    return runs[0] if len(runs) == 1 else "(?:" + "|".join(runs) + ")"


PLANS = _plans()
E164_POSSIBLE = "^\\+(?:" + "|".join(f"{code}{_lengths(lengths)}" for code, lengths in PLANS.items()) + ")$"
E164_POSSIBLE_RE = re.compile(E164_POSSIBLE)
