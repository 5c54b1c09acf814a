"""Smart encoding: replace typographic look-alikes with their GSM-7 equivalents, and say what was replaced.

One curly quote pasted from a word processor turns a 160-character GSM-7 message into three UCS-2
segments; replacing it with a straight quote keeps it one. The replacements are visual equivalents only.
This module must never change a letter into another letter (á is not a, ç is not Ç): that changes
words, and only the customer may decide to do it.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

# Every value is plain GSM-7 default alphabet (no escape), so a replacement never costs extra septets.
LOOK_ALIKES: Final[dict[str, str]] = {
    # quotes and primes
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u00b4": "'",
    "\u02bc": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2039": "<",
    "\u203a": ">",
    # dashes and minus signs
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2043": "-",
    # spaces: non-breaking, typographic widths, ideographic
    "\u00a0": " ",
    "\u2000": " ",
    "\u2001": " ",
    "\u2002": " ",
    "\u2003": " ",
    "\u2004": " ",
    "\u2005": " ",
    "\u2006": " ",
    "\u2007": " ",
    "\u2008": " ",
    "\u2009": " ",
    "\u200a": " ",
    "\u202f": " ",
    "\u205f": " ",
    "\u3000": " ",
    # invisible characters that only force UCS-2
    "\u200b": "",
    "\u2060": "",
    "\ufeff": "",
    "\u00ad": "",
    # punctuation
    "\u2026": "...",
    "\u2022": "-",
    "\u00b7": ".",
    "\u2024": ".",
    "\u2044": "/",
    "\u2215": "/",
    "\u02c6": "^",
    "\u02dc": "~",
    "\u00a9": "(c)",
    "\u00ae": "(R)",
    "\u2122": "TM",
}

_LOOK_ALIKE_PATTERN: Final = re.compile("[" + "".join(LOOK_ALIKES) + "]")


class Replacement(msgspec.Struct, frozen=True):
    """One character replaced: where it was in the original text, what it was, what it became."""

    position: int
    original: str
    replacement: str


def replace_look_alikes(text: str) -> tuple[str, tuple[Replacement, ...]]:
    """The text with look-alikes replaced, and the list of replacements (empty when nothing changed)."""
    if _LOOK_ALIKE_PATTERN.search(text) is None:
        return text, ()
    replacements = tuple(
        Replacement(match.start(), match.group(), LOOK_ALIKES[match.group()])
        for match in _LOOK_ALIKE_PATTERN.finditer(text)
    )
    return _LOOK_ALIKE_PATTERN.sub(lambda match: LOOK_ALIKES[match.group()], text), replacements
