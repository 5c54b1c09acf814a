"""Concatenation references, rotating per destination, so that two long messages in flight to the same
handset never share one (the handset would mix their parts).

In memory and pure: the engine owns one allocator per process. The first reference for a destination is
derived from the destination and a per-process seed rather than 0, so that a restart or a second process
does not start every destination at the same reference. Memory is bounded: the least recently used
destinations are forgotten (their next reference starts again from the derived value; a collision needs
another long message to the same handset still in flight after that many others, which the bound makes
negligible). This module must never block, sleep or persist anything.
"""

from __future__ import annotations

import zlib


class ConcatReferenceAllocator:
    """Next concatenation reference per destination, modulo 2**reference_bits."""

    __slots__ = ("_max_destinations", "_modulus", "_next", "_seed")

    def __init__(self, reference_bits: int = 8, *, seed: int = 0, max_destinations: int = 100_000) -> None:
        if reference_bits not in (8, 16):
            raise ValueError("reference_bits must be 8 or 16")
        if max_destinations < 1:
            raise ValueError("max_destinations must be positive")
        self._modulus = 1 << reference_bits
        self._seed = seed & 0xFFFFFFFF
        self._max_destinations = max_destinations
        self._next: dict[str, int] = {}

    def allocate(self, destination: str) -> int:
        """A reference for a new long message to `destination`; successive calls rotate through all values."""
        table = self._next
        current = table.pop(destination, None)
        if current is None:
            current = zlib.crc32(destination.encode("utf-8", "surrogatepass"), self._seed) % self._modulus
            if len(table) >= self._max_destinations:
                del table[next(iter(table))]  # dicts keep insertion order: the first key is the stalest
        table[destination] = (current + 1) % self._modulus
        return current

    def __len__(self) -> int:
        return len(self._next)
