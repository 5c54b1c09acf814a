"""One opt-out record per person across SMS and social DMs (record.py)."""

from engine.consent.record import (
    START_WORDS,
    STOP_WORDS,
    OptOutRow,
    address_of_phone,
    keyword_of,
    opt_in,
    opt_out,
    opted_out,
    social_address,
)

__all__ = [
    "START_WORDS", "STOP_WORDS", "OptOutRow", "address_of_phone", "keyword_of", "opt_in", "opt_out",
    "opted_out", "social_address",
]  # fmt: skip
