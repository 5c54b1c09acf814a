"""Concatenation references rotate per destination, so two long messages in flight never share one."""

from __future__ import annotations

import pytest

from smpp.text import ConcatReferenceAllocator


def test_references_to_one_destination_rotate_through_all_256_values() -> None:
    allocator = ConcatReferenceAllocator()
    seen = [allocator.allocate("447700900123") for _ in range(256)]
    assert sorted(seen) == list(range(256))
    assert allocator.allocate("447700900123") == seen[0]  # and then wrap


def test_sixteen_bit_references_stay_in_range() -> None:
    allocator = ConcatReferenceAllocator(16)
    values = {allocator.allocate("x") for _ in range(70_000)}
    assert len(values) == 65_536
    assert max(values) == 65_535


def test_destinations_are_independent() -> None:
    allocator = ConcatReferenceAllocator()
    a1, b1, a2, b2 = (allocator.allocate(d) for d in ("a", "b", "a", "b"))
    assert a2 == (a1 + 1) % 256 and b2 == (b1 + 1) % 256


def test_memory_is_bounded() -> None:
    allocator = ConcatReferenceAllocator(max_destinations=100)
    for number in range(1_000):
        allocator.allocate(str(number))
    assert len(allocator) == 100


def test_seed_changes_the_starting_points() -> None:
    first = [ConcatReferenceAllocator(seed=1).allocate(str(n)) for n in range(50)]
    second = [ConcatReferenceAllocator(seed=2).allocate(str(n)) for n in range(50)]
    assert first != second


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        ConcatReferenceAllocator(12)
