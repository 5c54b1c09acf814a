"""The routing table: an immutable snapshot of rate cards, rules, prices and ported numbers, and selection.

`RoutingTable.select(request, health)` returns the ordered routes for one message (first choice, then
failovers) or raises NoRoute. It is pure and allocation-light: the cost ranking per prefix is precomputed
(prefix_index.build_ranked_index), rules are indexed (rules.RuleSet), health is an input. The engine swaps
whole tables when the stored data changes (live.LiveRoutingTable); a table is never mutated, so a selection
never sees half an update. This module must never do I/O, read the clock or draw random numbers.

Where the issue left choices open:
- a number in the portability table is priced by each carrier's network rate (MCC-MNC row without a
  prefix) when it has one, else by its longest prefix rate;
- a carrier with no rate is chosen only when a static, failover or weighted rule names it (cost None);
- failover and weighted rules are followed by the least-cost remainder; static rules are not;
- health always applies, even to carriers a rule names: an unbound carrier cannot take a message;
- a customer's own price list wins over its plan's; within a list the longest prefix wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from routing.model import (
    Carrier,
    CarrierHealth,
    HealthSnapshot,
    NoRoute,
    Price,
    Rate,
    RouteChoice,
    RouteDecision,
    RouteRequest,
    RouteRule,
    RuleAction,
)
from routing.prefix_index import PrefixMap, build_ranked_index, nearest_ancestors, rank_key
from routing.rules import CompiledRule, RuleSet

LEAST_COST = "least cost"


def health_exclusion(health: CarrierHealth | None, limit: float, now: float) -> str | None:
    """Why a carrier in this state cannot take traffic now, or None when it can."""
    if health is None:
        return "no health reported"
    if not health.bound:
        return "not bound"
    if health.cooldown_until > now:
        return f"in failover cooldown for {health.cooldown_until - now:.0f}s more"
    if health.error_rate >= limit:
        return f"error rate {health.error_rate:.0%} at or above {limit:.0%}"
    return None


class SelectionTrace:
    """What one selection saw, for `explain`: the candidates, the winning rule and every exclusion."""

    def __init__(self) -> None:
        self.network: str | None = None
        self.candidates: tuple[RouteChoice, ...] = ()
        self.rule: CompiledRule | None = None
        self.excluded: dict[str, str] = {}


class _PriceBook:
    """One account's own price list: longest prefix, or the network for a ported number."""

    __slots__ = ("by_network", "by_prefix")

    def __init__(self, prices: list[Price]) -> None:
        self.by_prefix: PrefixMap[Price] = PrefixMap((p.prefix, p) for p in prices if p.prefix)
        self.by_network = {p.mcc_mnc: p for p in prices if not p.prefix}

    def lookup(self, digits: str, network: str | None) -> Price | None:
        if network is not None:
            found = self.by_network.get(network)
            if found is not None:
                return found
        return self.by_prefix.longest(digits)


class RoutingTable:
    """One immutable snapshot of everything selection needs; build it, select with it, throw it away.

    The core is one prefix index over the union of rate, rule and plan-price prefixes. Each node holds
    (carriers ranked by their own longest-matching rate, the prefixed rules covering it, each plan's
    longest-matching price), so one longest-prefix walk per message answers all three questions. Plans
    are few and shared by many accounts, so they fold in well; an account's own price list is looked up
    separately, and only for accounts that have one.
    """

    def __init__(
        self,
        *,
        carriers: Iterable[Carrier],
        rates: Iterable[Rate],
        rules: Iterable[RouteRule] = (),
        prices: Iterable[Price] = (),
        account_plans: Mapping[int, str] | None = None,
        ported: Mapping[str, str] | None = None,
        version: int = 0,
        expires_at: float | None = None,
    ) -> None:
        self.carriers: dict[str, Carrier] = {c.id: c for c in carriers}
        self.version = version
        self.expires_at = expires_at  # epoch seconds when a future-dated rate or price takes effect
        own: dict[str, dict[str, RouteChoice]] = {}
        by_network: dict[str, dict[str, RouteChoice]] = {}
        rate_count = 0
        for rate in rates:
            carrier = self.carriers.get(rate.carrier)
            if carrier is None:
                raise ValueError(f"rate for unknown carrier {rate.carrier!r}")
            rate_count += 1
            if not carrier.enabled:
                continue
            key = rate.prefix or rate.mcc_mnc
            choice = RouteChoice(
                carrier=rate.carrier,
                cost_micro=rate.cost_micro,
                currency=rate.currency,
                matched=(f"prefix {rate.prefix}" + (f" ({rate.mcc_mnc})" if rate.mcc_mnc else ""))
                if rate.prefix
                else f"network {rate.mcc_mnc}",
                reason=LEAST_COST,
            )
            (own if rate.prefix else by_network).setdefault(key, {})[rate.carrier] = choice
        self.rate_count = rate_count
        self._by_network = by_network
        self._rules = RuleSet(rules)
        self._has_rules = bool(self._rules)
        self._ported: dict[str, str] = dict(ported or {})

        account_books: dict[int, list[Price]] = {}
        plan_own: dict[str, dict[str, Price]] = {}  # prefix -> plan -> price at exactly that prefix
        self._plan_network: dict[str, dict[str, Price]] = {}  # plan -> network -> price
        for price in prices:
            owner = price.owner
            if owner.account_id is not None:
                account_books.setdefault(owner.account_id, []).append(price)
            elif owner.plan is not None:
                if price.prefix:
                    plan_own.setdefault(price.prefix, {})[owner.plan] = price
                else:
                    self._plan_network.setdefault(owner.plan, {})[price.mcc_mnc] = price
        self._account_plans: dict[int, str] = dict(account_plans or {})
        # account -> (its own book, its plan): one probe settles the common "no list, no plan" case.
        self._pricing: dict[int, tuple[_PriceBook | None, str | None]] = {
            account: (
                _PriceBook(account_books[account]) if account in account_books else None,
                self._account_plans.get(account),
            )
            for account in set(account_books) | set(self._account_plans)
        }

        parents = nearest_ancestors([*own, *self._rules.prefixes, *plan_own])
        ranked = build_ranked_index(own, parents)
        plan_prices: dict[str, dict[str, Price] | None] = {}
        for prefix, parent in parents.items():
            inherited = plan_prices[parent] if parent is not None else None
            mine = plan_own.get(prefix)
            plan_prices[prefix] = {**(inherited or {}), **mine} if mine else inherited
        self._nodes: dict[str, _Node] = {
            key: (ranked[key], self._rules.covering(key), plan_prices[key]) for key in parents
        }
        self._lengths = tuple(sorted({len(k) for k in self._nodes}, reverse=True))
        self.prefix_count = len(self._nodes)

    @property
    def rules(self) -> tuple[RouteRule, ...]:
        return tuple(c.rule for c in self._rules.rules)

    def rule_matches(self, request: RouteRequest) -> list[tuple[RouteRule, bool]]:
        """Rules whose prefixes cover the destination, each with whether it matches this request."""
        return [(c.rule, ok) for c, ok in self._rules.explain_matches(request)]

    def network_of(self, digits: str) -> str | None:
        """The MCC-MNC a number was ported to, if the portability table knows it."""
        return self._ported.get(digits)

    def _node(self, digits: str) -> _Node | None:
        get = self._nodes.get
        for n in self._lengths:
            node = get(digits[:n])
            if node is not None:
                return node
        return None

    def candidates(self, digits: str, network: str | None = None) -> tuple[RouteChoice, ...]:
        """Every enabled carrier with a rate for the destination, least cost first (health not applied)."""
        node = self._node(digits)
        ranked = node[0] if node is not None else ()
        if network is not None:
            network_rates = self._by_network.get(network)
            if network_rates:
                merged = {c.carrier: c for c in ranked}
                merged.update(network_rates)
                ranked = tuple(sorted(merged.values(), key=rank_key))
        return ranked

    def price(self, account_id: int | None, digits: str, network: str | None = None) -> Price | None:
        """The account's price for the destination: its own list first, then its plan's."""
        node = self._node(digits)
        return self._price(account_id, digits, network, node[2] if node is not None else None)

    def _price(
        self,
        account_id: int | None,
        digits: str,
        network: str | None,
        plan_prices: dict[str, Price] | None,
    ) -> Price | None:
        pricing = self._pricing.get(account_id) if account_id is not None else None
        if pricing is None:
            return None
        book, plan = pricing
        if book is not None:
            found = book.lookup(digits, network)
            if found is not None:
                return found
        if plan is None:
            return None
        if network is not None:
            found = self._plan_network.get(plan, {}).get(network)
            if found is not None:
                return found
        return plan_prices.get(plan) if plan_prices is not None else None

    def needs_rebuild(self, now: float) -> bool:
        """Whether a future-dated rate or price has taken effect since this table was built."""
        return self.expires_at is not None and now >= self.expires_at

    def select(
        self, request: RouteRequest, health: HealthSnapshot, trace: SelectionTrace | None = None
    ) -> RouteDecision:
        """The ordered routes for one message; raises NoRoute when no carrier may take it.

        `trace`, when given, records every exclusion for explain (slower; live traffic passes none).
        """
        digits = request.destination
        # The longest-prefix walk, inlined: it is the largest single cost of a selection.
        get = self._nodes.get
        node = None
        for n in self._lengths:
            node = get(digits[:n])
            if node is not None:
                break
        candidates, prefixed_rules, plan_prices = node if node is not None else _EMPTY_NODE
        network = self._ported.get(digits) if self._ported else None
        if network is not None:
            candidates = self.candidates(digits, network)
        rule = self._rules.winner(request, prefixed_rules) if self._has_rules else None
        if trace is not None:
            trace.network, trace.candidates, trace.rule = network, candidates, rule
        if rule is not None:
            routes = self._apply_rule(rule, candidates, health, request, trace)
        elif trace is None:
            usable = health.usable_after.get
            now = request.now
            kept = []
            for c in candidates:  # a plain loop: a comprehension costs a frame per call on 3.11
                if usable(c.carrier, _NEVER) <= now:
                    kept.append(c)
            routes = tuple(kept)
        else:
            routes = self._healthy(candidates, health, request.now, trace)
        if not routes:
            raise NoRoute(
                digits,
                f"all {len(candidates)} carriers with a rate are unhealthy"
                if candidates
                else "no carrier has a rate for this destination",
            )
        price = self._price(request.account_id, digits, network, plan_prices) if self._pricing else None
        if price is None:
            return RouteDecision(destination=digits, mcc_mnc=network, routes=routes, rule_id=_rule_id(rule))
        return RouteDecision(
            destination=digits,
            mcc_mnc=network,
            routes=routes,
            rule_id=_rule_id(rule),
            price_micro=price.price_micro,
            price_currency=price.currency,
        )

    def trace(
        self, request: RouteRequest, health: HealthSnapshot
    ) -> tuple[RouteDecision | NoRoute, SelectionTrace]:
        """Like select, but records why each carrier was excluded, and returns NoRoute instead of raising."""
        trace = SelectionTrace()
        try:
            return self.select(request, health, trace), trace
        except NoRoute as no_route:
            return no_route, trace

    def _healthy(
        self,
        choices: Iterable[RouteChoice],
        health: HealthSnapshot,
        now: float,
        trace: SelectionTrace | None,
    ) -> tuple[RouteChoice, ...]:
        if trace is None:
            usable = health.usable_after.get
            return tuple([c for c in choices if usable(c.carrier, _NEVER) <= now])
        kept: list[RouteChoice] = []
        for c in choices:
            why = health_exclusion(health.carriers.get(c.carrier), health.max_error_rate, now)
            if why is None:
                kept.append(c)
            else:
                trace.excluded.setdefault(c.carrier, why)
        return tuple(kept)

    def _named(
        self, rule: RouteRule, by_carrier: Mapping[str, RouteChoice], trace: SelectionTrace | None
    ) -> list[RouteChoice]:
        """The carriers a rule names, in its order, with their rate when they have one."""
        out: list[RouteChoice] = []
        for carrier_id in rule.carriers:
            carrier = self.carriers.get(carrier_id)
            if carrier is None or not carrier.enabled:
                if trace is not None:
                    trace.excluded.setdefault(
                        carrier_id, "unknown carrier" if carrier is None else "disabled"
                    )
                continue
            rated = by_carrier.get(carrier_id)
            out.append(
                rated
                if rated is not None
                else RouteChoice(carrier=carrier_id, cost_micro=None, currency=None, matched="", reason="")
            )
        return out

    def _apply_rule(
        self,
        compiled: CompiledRule,
        candidates: tuple[RouteChoice, ...],
        health: HealthSnapshot,
        request: RouteRequest,
        trace: SelectionTrace | None,
    ) -> tuple[RouteChoice, ...]:
        rule = compiled.rule
        digits = request.destination
        label = f"{rule.action.value} rule #{rule.id}"
        if rule.action is RuleAction.BLOCK:
            raise NoRoute(digits, f"blocked by {label}")
        if rule.action is RuleAction.LEAST_COST:
            allow = set(rule.carriers)
            deny = set(rule.exclude)
            kept = []
            for c in candidates:
                if (allow and c.carrier not in allow) or c.carrier in deny:
                    if trace is not None:
                        trace.excluded.setdefault(c.carrier, f"excluded by {label}")
                else:
                    kept.append(c)
            routes = self._healthy(kept, health, request.now, trace)
            if not routes:
                raise NoRoute(digits, f"no healthy carrier with a rate left by {label}")
            return tuple(_relabel(c, f"least cost ({label})") for c in routes)
        by_carrier = {c.carrier: c for c in candidates}
        named = list(self._healthy(self._named(rule, by_carrier, trace), health, request.now, trace))
        if rule.action is RuleAction.WEIGHTED and named:
            weights = dict(zip(rule.carriers, rule.weights, strict=True))
            named = _weighted_order(named, [weights[c.carrier] for c in named], request.rand)
        head = [_relabel(c, label) for c in named]
        if rule.action is not RuleAction.STATIC:
            chosen = {c.carrier for c in head}
            rest = self._healthy(
                (c for c in candidates if c.carrier not in chosen), health, request.now, trace
            )
            head.extend(_relabel(c, f"least cost after {label}") for c in rest)
        if not head:
            raise NoRoute(digits, f"no healthy carrier left by {label}")
        return tuple(head)


_Node = tuple[tuple[RouteChoice, ...], tuple[CompiledRule, ...] | None, dict[str, Price] | None]
_EMPTY_NODE: _Node = ((), None, None)
_NEVER = float("inf")


def _rule_id(compiled: CompiledRule | None) -> int | None:
    return compiled.rule.id if compiled is not None else None


def _relabel(choice: RouteChoice, reason: str) -> RouteChoice:
    return msgspec.structs.replace(choice, reason=reason)


def _weighted_order(members: list[RouteChoice], weights: list[int], rand: float) -> list[RouteChoice]:
    """The member `rand` lands on (cumulative weights, in rule order) first, then the others in rule order."""
    target = min(max(rand, 0.0), 1.0) * sum(weights)
    index = len(members) - 1  # rand == 1.0 (out of contract) lands on the last member, never outside
    cumulative = 0
    for i, weight in enumerate(weights):
        cumulative += weight
        if target < cumulative:
            index = i
            break
    return [members[index], *members[:index], *members[index + 1 :]]
