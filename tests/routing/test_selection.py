"""Route selection: least cost, health filtering, rules, overrides, failover order, prices and NO_ROUTE."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.explain import explain_route
from routing.model import (
    NO_ROUTE,
    Carrier,
    CarrierHealth,
    HealthSnapshot,
    NoRoute,
    Price,
    PriceListOwner,
    Rate,
    RouteRequest,
    RouteRule,
    RuleAction,
)
from routing.table import RoutingTable

# Monday 2026-11-23 10:00 UTC
MONDAY_10H = datetime(2026, 11, 23, 10, 0, tzinfo=UTC).timestamp()
UK = "447700900123"
CARRIERS = ("alpha", "bravo", "charlie", "delta")


def rate(carrier: str, prefix: str, cost: int, mcc_mnc: str = "") -> Rate:
    return Rate(carrier=carrier, prefix=prefix, mcc_mnc=mcc_mnc, cost_micro=cost, currency="EUR")


def make_table(*rules: RouteRule, **kwargs: object) -> RoutingTable:
    rates = [
        rate("alpha", "44", 30_000),
        rate("alpha", "4477", 12_000),
        rate("bravo", "447", 15_000),
        rate("charlie", "44", 9_000),
        rate("charlie", "33", 8_000),
        # delta has no UK rate at all
        rate("delta", "33", 7_000),
    ]
    return RoutingTable(
        carriers=[Carrier(id=c) for c in CARRIERS],
        rates=rates,
        rules=rules,
        **kwargs,  # type: ignore[arg-type]
    )


def healthy(*down: str, **states: CarrierHealth) -> HealthSnapshot:
    carriers = {c: CarrierHealth(bound=c not in down) for c in CARRIERS}
    carriers.update(states)
    return HealthSnapshot(carriers)


def request(destination: str = UK, now: float = MONDAY_10H, **kwargs: object) -> RouteRequest:
    return RouteRequest(destination=destination, now=now, **kwargs)  # type: ignore[arg-type]


def carriers_of(table: RoutingTable, req: RouteRequest, health: HealthSnapshot) -> list[str]:
    return [c.carrier for c in table.select(req, health).routes]


def test_least_cost_order_uses_each_carriers_longest_prefix() -> None:
    decision = make_table().select(request(), healthy())
    assert [(c.carrier, c.cost_micro) for c in decision.routes] == [
        ("charlie", 9_000),
        ("alpha", 12_000),  # its 4477 rate, not its 44 rate
        ("bravo", 15_000),
    ]
    assert decision.first.matched == "prefix 44"
    assert decision.routes[1].matched == "prefix 4477"


def test_a_carrier_without_a_rate_is_never_chosen() -> None:
    assert "delta" not in carriers_of(make_table(), request(), healthy())


def test_no_rate_anywhere_is_no_route() -> None:
    with pytest.raises(NoRoute) as caught:
        make_table().select(request("15551234567"), healthy())
    assert caught.value.code == NO_ROUTE
    assert "no carrier has a rate" in caught.value.detail


@pytest.mark.parametrize(
    ("state", "why"),
    [
        (CarrierHealth(bound=False), "not bound"),
        (CarrierHealth(bound=True, cooldown_until=MONDAY_10H + 30), "cooldown"),
        (CarrierHealth(bound=True, error_rate=0.5), "error rate"),
    ],
)
def test_unhealthy_carriers_are_skipped(state: CarrierHealth, why: str) -> None:
    table = make_table()
    health = healthy(charlie=state)
    assert carriers_of(table, request(), health) == ["alpha", "bravo"]
    _, trace = table.trace(request(), health)
    assert why in trace.excluded["charlie"]


def test_cooldown_ends_when_its_time_has_passed() -> None:
    health = healthy(charlie=CarrierHealth(bound=True, cooldown_until=MONDAY_10H))
    assert carriers_of(make_table(), request(), health)[0] == "charlie"


def test_a_carrier_missing_from_the_health_snapshot_is_not_used() -> None:
    health = HealthSnapshot({"alpha": CarrierHealth(bound=True)})
    assert carriers_of(make_table(), request(), health) == ["alpha"]


def test_all_unhealthy_is_no_route() -> None:
    with pytest.raises(NoRoute, match="unhealthy"):
        make_table().select(request(), healthy(*CARRIERS))


def test_disabled_carrier_is_never_used_even_when_a_rule_names_it() -> None:
    table = RoutingTable(
        carriers=[Carrier(id="alpha", enabled=False), Carrier(id="bravo")],
        rates=[rate("alpha", "44", 1), rate("bravo", "44", 2)],
        rules=[RouteRule(id=1, action=RuleAction.STATIC, carriers=("alpha", "bravo"))],
    )
    assert carriers_of(table, request(), healthy()) == ["bravo"]


def test_static_rule_routes_exactly_its_carriers_even_without_a_rate() -> None:
    rule = RouteRule(id=7, prefixes=("44",), action=RuleAction.STATIC, carriers=("delta", "bravo"))
    decision = make_table(rule).select(request(), healthy())
    assert [c.carrier for c in decision.routes] == ["delta", "bravo"]
    assert decision.first.cost_micro is None  # routed by rule, no rate
    assert decision.rule_id == 7
    assert decision.first.reason == "static rule #7"


def test_failover_rule_puts_its_carriers_first_then_least_cost() -> None:
    rule = RouteRule(id=3, prefixes=("447",), action=RuleAction.FAILOVER, carriers=("bravo",))
    assert carriers_of(make_table(rule), request(), healthy()) == ["bravo", "charlie", "alpha"]


def test_failover_rule_skips_its_unhealthy_carriers() -> None:
    rule = RouteRule(id=3, action=RuleAction.FAILOVER, carriers=("bravo", "alpha"))
    assert carriers_of(make_table(rule), request(), healthy("bravo")) == ["alpha", "charlie"]


def test_least_cost_rule_restricts_and_excludes() -> None:
    only = RouteRule(id=1, action=RuleAction.LEAST_COST, carriers=("alpha", "bravo"))
    assert carriers_of(make_table(only), request(), healthy()) == ["alpha", "bravo"]
    never = RouteRule(id=1, action=RuleAction.LEAST_COST, exclude=("charlie",))
    assert carriers_of(make_table(never), request(), healthy()) == ["alpha", "bravo"]


def test_block_rule_is_no_route() -> None:
    rule = RouteRule(id=9, destination_pattern=r"4477\d+", action=RuleAction.BLOCK)
    with pytest.raises(NoRoute, match="blocked by block rule #9"):
        make_table(rule).select(request(), healthy())
    assert carriers_of(make_table(rule), request("441234567890"), healthy())[0] == "charlie"


WEIGHTED = RouteRule(id=4, action=RuleAction.WEIGHTED, carriers=("alpha", "bravo"), weights=(3, 1))


@pytest.mark.parametrize(
    ("rand", "expected"),
    [(0.0, "alpha"), (0.7499, "alpha"), (0.75, "bravo"), (0.9999, "bravo")],
)
def test_weighted_split_is_decided_by_the_given_random_value(rand: float, expected: str) -> None:
    routes = carriers_of(make_table(WEIGHTED), request(rand=rand), healthy())
    assert routes[0] == expected
    assert sorted(routes[:2]) == ["alpha", "bravo"]
    assert routes[2:] == ["charlie"]  # the least-cost remainder follows the split


def test_weighted_split_reweighs_over_healthy_members() -> None:
    assert carriers_of(make_table(WEIGHTED), request(rand=0.1), healthy("alpha"))[0] == "bravo"


@given(st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_weighted_split_proportions(rand: float) -> None:
    first = carriers_of(make_table(WEIGHTED), request(rand=rand), healthy())[0]
    assert first == ("alpha" if rand < 0.75 else "bravo")


def test_rule_conditions_account_or_group() -> None:
    rule = RouteRule(
        id=1,
        account_ids=frozenset({7}),
        groups=frozenset({"gold"}),
        action=RuleAction.STATIC,
        carriers=("bravo",),
    )
    table = make_table(rule)
    assert carriers_of(table, request(account_id=7), healthy()) == ["bravo"]
    assert carriers_of(table, request(account_id=8, group="gold"), healthy()) == ["bravo"]
    assert carriers_of(table, request(account_id=8, group="silver"), healthy())[0] == "charlie"


def test_rule_conditions_sender_and_message_type() -> None:
    rule = RouteRule(
        id=1,
        sender_pattern=r"BANK\w*",
        message_types=frozenset({"flash"}),
        action=RuleAction.STATIC,
        carriers=("bravo",),
    )
    table = make_table(rule)
    assert carriers_of(table, request(sender="BANKX", message_type="flash"), healthy()) == ["bravo"]
    assert carriers_of(table, request(sender="BANKX", message_type="sms"), healthy())[0] == "charlie"
    assert carriers_of(table, request(sender="XBANK", message_type="flash"), healthy())[0] == "charlie"


def test_rule_time_window_wraps_midnight_in_its_utc_offset() -> None:
    night = RouteRule(
        id=1,
        window_start_minute=22 * 60,
        window_end_minute=6 * 60,
        utc_offset_minutes=60,
        action=RuleAction.STATIC,
        carriers=("bravo",),
    )
    table = make_table(night)
    at = datetime(2026, 11, 23, 21, 30, tzinfo=UTC).timestamp()  # 22:30 at UTC+1
    assert carriers_of(table, request(now=at), healthy()) == ["bravo"]
    at = datetime(2026, 11, 23, 4, 59, tzinfo=UTC).timestamp()  # 05:59 at UTC+1
    assert carriers_of(table, request(now=at), healthy()) == ["bravo"]
    at = datetime(2026, 11, 23, 5, 0, tzinfo=UTC).timestamp()  # 06:00 at UTC+1: window closed
    assert carriers_of(table, request(now=at), healthy())[0] == "charlie"


def test_rule_weekdays() -> None:
    weekend = RouteRule(id=1, weekdays=frozenset({5, 6}), action=RuleAction.STATIC, carriers=("bravo",))
    table = make_table(weekend)
    assert carriers_of(table, request(), healthy())[0] == "charlie"  # Monday
    sunday = datetime(2026, 11, 29, 12, tzinfo=UTC).timestamp()
    assert carriers_of(table, request(now=sunday), healthy()) == ["bravo"]


def test_lowest_priority_number_wins_among_matching_rules() -> None:
    broad = RouteRule(id=1, priority=50, action=RuleAction.STATIC, carriers=("alpha",))
    narrow = RouteRule(id=2, priority=10, prefixes=("4477",), action=RuleAction.STATIC, carriers=("bravo",))
    table = make_table(broad, narrow)
    assert carriers_of(table, request(), healthy()) == ["bravo"]
    assert carriers_of(table, request("441234567890"), healthy()) == ["alpha"]


def test_rule_prefix_shorter_and_longer_than_rate_prefixes() -> None:
    deep = RouteRule(id=2, prefixes=("44770090",), action=RuleAction.STATIC, carriers=("bravo",))
    table = make_table(deep)
    assert carriers_of(table, request(), healthy()) == ["bravo"]
    decision = table.select(request(), healthy())
    assert decision.first.cost_micro == 15_000  # bravo's 447 rate still found under a rule-only prefix
    assert carriers_of(table, request("447712345678"), healthy())[0] == "charlie"


def test_ported_number_uses_network_rates_first() -> None:
    table = RoutingTable(
        carriers=[Carrier(id=c) for c in CARRIERS],
        rates=[
            rate("alpha", "447", 10_000),
            rate("bravo", "447", 11_000),
            rate("bravo", "", 5_000, mcc_mnc="23415"),
        ],
        ported={UK: "23415"},
    )
    decision = table.select(request(), healthy())
    assert decision.mcc_mnc == "23415"
    assert [(c.carrier, c.cost_micro) for c in decision.routes] == [("bravo", 5_000), ("alpha", 10_000)]
    other = table.select(request("447700900999"), healthy())
    assert other.mcc_mnc is None and other.first.carrier == "alpha"


def test_price_and_margin_from_account_list_then_plan() -> None:
    gold = PriceListOwner(plan="gold")
    mine = PriceListOwner(account_id=7)
    table = make_table(
        prices=[
            Price(owner=gold, prefix="44", price_micro=20_000, currency="EUR"),
            Price(owner=gold, prefix="4477", price_micro=25_000, currency="EUR"),
            Price(owner=mine, prefix="447", price_micro=18_000, currency="EUR"),
        ],
        account_plans={7: "gold", 8: "gold"},
    )
    own = table.select(request(account_id=7), healthy())
    assert (own.price_micro, own.margin_micro) == (18_000, 9_000)
    plan = table.select(request(account_id=8), healthy())
    assert (plan.price_micro, plan.margin_micro) == (25_000, 16_000)
    assert table.select(request("441234567890", account_id=7), healthy()).price_micro == 20_000
    nobody = table.select(request(account_id=9), healthy())
    assert nobody.price_micro is None and nobody.margin_micro is None


def test_rate_for_an_unknown_carrier_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown carrier"):
        RoutingTable(carriers=[], rates=[rate("ghost", "44", 1)])


def test_explain_lists_chosen_ranked_and_excluded_carriers() -> None:
    table = make_table(
        prices=[Price(owner=PriceListOwner(account_id=1), prefix="44", price_micro=20_000, currency="EUR")],
        account_plans={},
    )
    text = explain_route(table, request(account_id=1), healthy("bravo"))
    assert "charlie" in text and "chosen: least cost" in text
    assert "failover 1: least cost" in text
    assert "bravo" in text and "excluded: not bound" in text
    assert "delta" in text and "excluded: no rate for this destination" in text
    assert "Price: 0.02 EUR per segment; margin 0.011 EUR" in text
    blocked = make_table(RouteRule(id=5, action=RuleAction.BLOCK))
    assert "Result: NO_ROUTE: blocked by block rule #5" in explain_route(blocked, request(), healthy())


# --- property: selection without rules equals a brute-force reference ---------------------------

card = st.dictionaries(st.text("0123", min_size=1, max_size=5), st.integers(0, 20), max_size=12)
health_state = st.builds(
    CarrierHealth,
    bound=st.booleans(),
    cooldown_until=st.sampled_from([0.0, MONDAY_10H - 1, MONDAY_10H + 1]),
    error_rate=st.sampled_from([0.0, 0.49, 0.5, 0.9]),
)


@given(
    st.dictionaries(st.sampled_from(CARRIERS), card, min_size=1),
    st.dictionaries(st.sampled_from(CARRIERS), health_state),
    st.text("0123", min_size=1, max_size=8),
)
def test_selection_matches_brute_force(
    cards: dict[str, dict[str, int]], states: dict[str, CarrierHealth], number: str
) -> None:
    table = RoutingTable(
        carriers=[Carrier(id=c) for c in CARRIERS],
        rates=[rate(c, p, cost) for c, prices in cards.items() for p, cost in prices.items()],
    )
    health = HealthSnapshot(states)
    expected = []
    for carrier, prices in cards.items():
        matches = [p for p in prices if number.startswith(p)]
        state = states.get(carrier)
        if not matches or state is None:
            continue
        if state.bound and state.cooldown_until <= MONDAY_10H and state.error_rate < 0.5:
            expected.append((prices[max(matches, key=len)], carrier))
    expected.sort()
    req = request(number)
    outcome, _ = table.trace(req, health)
    if not expected:
        with pytest.raises(NoRoute):
            table.select(req, health)
        assert isinstance(outcome, NoRoute)
        return
    decision = table.select(req, health)
    assert [(c.cost_micro, c.carrier) for c in decision.routes] == expected
    assert outcome == decision  # explain's trace path decides exactly as the fast path
