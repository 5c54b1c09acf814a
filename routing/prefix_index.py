"""Longest-prefix match over E.164 digit strings, and the merged per-prefix ranking of every carrier.

A plain dict keyed by prefix, probed from the longest prefix length present down to the shortest, beats a
trie in CPython: a 100,000-prefix table has only a dozen distinct lengths, so a lookup is at most a dozen
slices and hash probes, all in C. The merged index (`build_ranked_index`) goes further: for every prefix in
the union of all rate cards it precomputes the cost-ordered tuple of every carrier's own longest match, so
a selection is one lookup instead of one per carrier. Pure: no I/O, never mutated after construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

from routing.model import RouteChoice

T = TypeVar("T")


class PrefixMap(Generic[T]):
    """An immutable map from digit prefixes to values, answering longest-prefix-match queries."""

    __slots__ = ("_lengths", "_map")

    def __init__(self, items: Mapping[str, T] | Iterable[tuple[str, T]]) -> None:
        self._map: dict[str, T] = dict(items)
        self._lengths: tuple[int, ...] = tuple(sorted({len(p) for p in self._map}, reverse=True))

    def __len__(self) -> int:
        return len(self._map)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self._map

    def items(self) -> Iterable[tuple[str, T]]:
        return self._map.items()

    def get(self, prefix: str) -> T | None:
        """The value stored at exactly this prefix."""
        return self._map.get(prefix)

    def longest(self, digits: str) -> T | None:
        """The value of the longest stored prefix of `digits`, or None."""
        get = self._map.get
        for n in self._lengths:
            value = get(digits[:n])
            if value is not None:
                return value
        return None

    def longest_item(self, digits: str) -> tuple[str, T] | None:
        """(prefix, value) of the longest stored prefix of `digits`, or None."""
        get = self._map.get
        for n in self._lengths:
            key = digits[:n]
            value = get(key)
            if value is not None:
                return key, value
        return None

    def all_matches(self, digits: str) -> list[tuple[str, T]]:
        """Every stored prefix of `digits` with its value, longest first."""
        out: list[tuple[str, T]] = []
        for n in self._lengths:
            if n <= len(digits):
                key = digits[:n]
                value = self._map.get(key)
                if value is not None:
                    out.append((key, value))
        return out


def rank_key(choice: RouteChoice) -> tuple[int, str]:
    """Least cost first; the carrier id breaks ties so equal costs rank the same way every time."""
    return (choice.cost_micro if choice.cost_micro is not None else 2**63, choice.carrier)


def nearest_ancestors(prefixes: Iterable[str]) -> dict[str, str | None]:
    """Each prefix's longest proper prefix within the set (None for a root), shortest prefixes first.

    Iterating the result visits every ancestor before its descendants, which is what inheritance
    (ranking, plan prices) needs.
    """
    parents: dict[str, str | None] = {}
    lengths: list[int] = []
    for prefix in sorted(set(prefixes), key=lambda p: (len(p), p)):
        if not lengths or lengths[-1] != len(prefix):
            lengths.append(len(prefix))
        parent = None
        for n in reversed(lengths):
            if n < len(prefix) and prefix[:n] in parents:
                parent = prefix[:n]
                break
        parents[prefix] = parent
    return parents


def build_ranked_index(
    own: Mapping[str, Mapping[str, RouteChoice]], parents: Mapping[str, str | None] | None = None
) -> dict[str, tuple[RouteChoice, ...]]:
    """For each prefix, every carrier's longest-matching rate, ranked by cost.

    `own` maps prefix -> {carrier: its choice at exactly that prefix}; `parents` (nearest_ancestors of a
    superset of own's keys, computed here when omitted) also gives the order. A prefix inherits its
    nearest ancestor's ranking and overrides the carriers that have their own, more specific rate: the
    per-carrier longest-prefix match, computed once here instead of per message.
    """
    if parents is None:
        parents = nearest_ancestors(own)
    ranked: dict[str, tuple[RouteChoice, ...]] = {}
    for prefix, parent in parents.items():
        inherited = ranked[parent] if parent is not None else ()
        mine = own.get(prefix)
        if not mine:
            ranked[prefix] = inherited  # shared, not copied: most prefixes of a union add nothing
            continue
        merged = [c for c in inherited if c.carrier not in mine]
        merged.extend(mine.values())
        merged.sort(key=rank_key)
        ranked[prefix] = tuple(merged)
    return ranked
