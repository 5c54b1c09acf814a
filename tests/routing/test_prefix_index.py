"""Longest-prefix match and the merged per-prefix ranking, against brute-force references."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from routing.model import RouteChoice
from routing.prefix_index import PrefixMap, build_ranked_index, nearest_ancestors, rank_key

digits = st.text(alphabet="0123", min_size=1, max_size=7)  # a small alphabet makes prefixes collide
prefix_sets = st.dictionaries(digits, st.integers(0, 1000), max_size=40)


def brute_longest(items: dict[str, int], number: str) -> tuple[str, int] | None:
    matches = [(p, v) for p, v in items.items() if number.startswith(p)]
    return max(matches, key=lambda m: len(m[0])) if matches else None


def test_longest_prefix_wins() -> None:
    table = PrefixMap({"44": "uk", "447": "uk-mobile", "4477009": "range"})
    assert table.longest("447700900123") == "range"
    assert table.longest("447712345678") == "uk-mobile"
    assert table.longest("4477009001") == "range"
    assert table.longest("441234") == "uk"
    assert table.longest("331234") is None
    assert table.longest_item("4471") == ("447", "uk-mobile")


def test_a_prefix_longer_than_the_number_does_not_match() -> None:
    assert PrefixMap({"4477": 1}).longest("447") is None


@given(prefix_sets, digits)
def test_longest_matches_brute_force(items: dict[str, int], number: str) -> None:
    table = PrefixMap(items)
    expected = brute_longest(items, number)
    assert table.longest_item(number) == expected
    assert table.longest(number) == (expected[1] if expected else None)
    assert table.all_matches(number) == sorted(
        [(p, v) for p, v in items.items() if number.startswith(p)], key=lambda m: -len(m[0])
    )


@given(st.sets(digits, max_size=40))
def test_nearest_ancestors_lists_parents_before_children(prefixes: set[str]) -> None:
    parents = nearest_ancestors(prefixes)
    order = list(parents)
    for prefix, parent in parents.items():
        proper = [p for p in prefixes if prefix.startswith(p) and p != prefix]
        assert parent == (max(proper, key=len) if proper else None)
        if parent is not None:
            assert order.index(parent) < order.index(prefix)


def _choice(carrier: str, cost: int) -> RouteChoice:
    return RouteChoice(carrier=carrier, cost_micro=cost, currency="EUR", matched="", reason="least cost")


cards = st.dictionaries(st.sampled_from("abcde"), st.dictionaries(digits, st.integers(0, 50), max_size=15))


@given(cards, digits)
def test_ranked_index_is_each_carriers_longest_match_sorted_by_cost(
    per_carrier: dict[str, dict[str, int]], number: str
) -> None:
    own: dict[str, dict[str, RouteChoice]] = {}
    for carrier, card in per_carrier.items():
        for prefix, cost in card.items():
            own.setdefault(prefix, {})[carrier] = _choice(carrier, cost)
    index = PrefixMap(build_ranked_index(own))
    expected = []
    for carrier, card in per_carrier.items():
        match = brute_longest(card, number)
        if match is not None:
            expected.append(_choice(carrier, match[1]))
    expected.sort(key=rank_key)
    assert list(index.longest(number) or ()) == expected
