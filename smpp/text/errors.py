"""Errors raised by the SMS text functions, kept apart so the engine can map each to one SMPP status.

    ValueError
    └── TextError                      base of everything smpp.text raises on bad input
        ├── UnencodableTextError       text holds characters the requested alphabet cannot carry
        │                              (engine: ESME_RINVDCS for an explicit data_coding)
        ├── BinaryPayloadRequiredError a binary / unknown data_coding was asked to carry text
        └── MalformedUdhError          a received user data header is truncated or inconsistent
                                       (engine: keep the bytes, never drop the message)

This module must never import anything from the rest of smpp; it only names the failures.
"""

from __future__ import annotations


class TextError(ValueError):
    """Base class: bad input to an smpp.text function."""


class UnencodableTextError(TextError):
    """The text cannot be carried in the requested alphabet; `positions` says which characters and where."""

    def __init__(self, alphabet: str, positions: tuple[tuple[int, str], ...]) -> None:
        shown = ", ".join(f"{char!r}@{index}" for index, char in positions[:10])
        more = f" and {len(positions) - 10} more" if len(positions) > 10 else ""
        super().__init__(f"text not encodable in {alphabet}: {shown}{more}")
        self.alphabet = alphabet
        self.positions = positions


class BinaryPayloadRequiredError(TextError):
    """A data_coding that carries octets (binary, or a value we do not know) was given text, not bytes."""

    def __init__(self, data_coding: int) -> None:
        super().__init__(f"data_coding 0x{data_coding:02x} carries bytes, not text")
        self.data_coding = data_coding


class MalformedUdhError(TextError):
    """A user data header whose lengths do not add up."""


class MessageTooLongError(TextError):
    """The message needs more segments than concatenation can carry (255)."""
