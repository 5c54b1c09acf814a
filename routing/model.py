"""The data routing speaks: carriers, tariff rows, rules, health, requests, decisions and the NO_ROUTE error.

Everything here is a frozen msgspec Struct (or an enum), validated on construction, so the pure selection
code and the storage layer exchange values that cannot be half-built. Money is integer micro-units
(1 unit = 1,000,000 micro-units). This module must never do I/O or import from engine/, billing/, smpp/
or http_api/: it is the vocabulary both the pure code and the storage share.

Errors::

    RoutingError
     ├── NoRoute            no carrier may take the message (code NO_ROUTE; the engine answers
     │                      ESME_RINVDSTADR over SMPP, HTTP 422 NO_ROUTE)
     └── (numbers.InvalidDestination, csv errors live next to the code that raises them)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

import msgspec

NO_ROUTE = "NO_ROUTE"
_DIGITS = re.compile(r"[0-9]*")
_MCC_MNC = re.compile(r"[0-9]{5,6}")


class RoutingError(Exception):
    """Base of the errors routing raises on purpose."""


class NoRoute(RoutingError):
    """No carrier may take the message; `code` is always NO_ROUTE, `detail` says why for operators."""

    code = NO_ROUTE

    def __init__(self, destination: str, detail: str) -> None:
        super().__init__(f"{NO_ROUTE}: {destination}: {detail}")
        self.destination = destination
        self.detail = detail


class Carrier(msgspec.Struct, frozen=True, kw_only=True):
    """An upstream connector. `id` is the short name the engine's SMPP client binds are configured with."""

    id: str
    name: str = ""
    currency: str = "EUR"
    enabled: bool = True


class TariffRow(msgspec.Struct, frozen=True, kw_only=True):
    """One row of a rate card or a price list, as in the CSV: prefix and/or MCC-MNC -> amount per segment.

    `prefix` is E.164 digits without '+', '' when the row is keyed by network only; `mcc_mnc` is '' when
    the row is keyed by prefix only.
    """

    prefix: str
    mcc_mnc: str = ""
    amount_micro: int
    currency: str
    effective_from: datetime

    def __post_init__(self) -> None:
        if not self.prefix and not self.mcc_mnc:
            raise ValueError("a tariff row needs a prefix or an MCC-MNC")
        if not _DIGITS.fullmatch(self.prefix) or len(self.prefix) > 15:
            raise ValueError(f"prefix must be up to 15 digits: {self.prefix!r}")
        if self.mcc_mnc and not _MCC_MNC.fullmatch(self.mcc_mnc):
            raise ValueError(f"MCC-MNC must be 5 or 6 digits: {self.mcc_mnc!r}")
        if self.amount_micro < 0:
            raise ValueError("amount must not be negative")


class Rate(msgspec.Struct, frozen=True, kw_only=True):
    """A carrier's cost per segment for a prefix and/or network, as the pure table receives it."""

    carrier: str
    prefix: str
    mcc_mnc: str = ""
    cost_micro: int
    currency: str


class PriceListOwner(msgspec.Struct, frozen=True, kw_only=True):
    """Who a price list belongs to: one account (engine-owned integer id) or a plan accounts share."""

    account_id: int | None = None
    plan: str | None = None

    def __post_init__(self) -> None:
        if (self.account_id is None) == (self.plan is None):
            raise ValueError("a price list belongs to exactly one of account_id or plan")

    def __str__(self) -> str:
        return f"account {self.account_id}" if self.account_id is not None else f"plan {self.plan}"


class Price(msgspec.Struct, frozen=True, kw_only=True):
    """What a customer pays per segment for a prefix and/or network."""

    owner: PriceListOwner
    prefix: str
    mcc_mnc: str = ""
    price_micro: int
    currency: str


class RuleAction(StrEnum):
    """What a matching rule does to the least-cost ranking."""

    LEAST_COST = "least_cost"  # rank by cost, restricted to `carriers` (if any) and never `exclude`
    STATIC = "static"  # exactly `carriers`, in order; nothing else
    FAILOVER = "failover"  # `carriers` in order, then the least-cost remainder
    WEIGHTED = "weighted"  # one of `carriers` by `weights` and the request's `rand`, then the rest
    BLOCK = "block"  # NO_ROUTE


class RouteRule(msgspec.Struct, frozen=True, kw_only=True):
    """A condition on the message and an action on the route; empty conditions match anything.

    Account and group are alternatives (a rule for account 7 or group "gold" matches either). The time
    window is minutes of the day in a fixed UTC offset (no DST: operators write the offset they mean);
    start > end wraps midnight. Weekdays are 0=Monday..6=Sunday. Patterns are regular expressions that must
    match the whole sender or the whole E.164 destination.
    """

    id: int = 0
    priority: int = 100  # lower wins; ties broken by id
    description: str = ""
    account_ids: frozenset[int] = frozenset()
    groups: frozenset[str] = frozenset()
    sender_pattern: str = ""
    prefixes: tuple[str, ...] = ()
    destination_pattern: str = ""
    window_start_minute: int | None = None
    window_end_minute: int | None = None
    utc_offset_minutes: int = 0
    weekdays: frozenset[int] = frozenset()
    message_types: frozenset[str] = frozenset()
    action: RuleAction = RuleAction.LEAST_COST
    carriers: tuple[str, ...] = ()
    weights: tuple[int, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for pattern in (self.sender_pattern, self.destination_pattern):
            if pattern:
                re.compile(pattern)  # raises re.error on a bad pattern: refuse it at the door
        if any(not p.isdigit() for p in self.prefixes):
            raise ValueError("rule prefixes must be E.164 digits")
        if (self.window_start_minute is None) != (self.window_end_minute is None):
            raise ValueError("a time window needs both a start and an end")
        for minute in (self.window_start_minute, self.window_end_minute):
            if minute is not None and not 0 <= minute <= 1440:
                raise ValueError("window minutes must be within 0..1440")
        if any(not 0 <= d <= 6 for d in self.weekdays):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        if self.action in (RuleAction.STATIC, RuleAction.FAILOVER, RuleAction.WEIGHTED) and not self.carriers:
            raise ValueError(f"a {self.action} rule names at least one carrier")
        if self.action is RuleAction.WEIGHTED:
            if len(self.weights) != len(self.carriers) or any(w <= 0 for w in self.weights):
                raise ValueError("a weighted rule has one positive weight per carrier")
        elif self.weights:
            raise ValueError("only weighted rules have weights")


class CarrierHealth(msgspec.Struct, frozen=True, kw_only=True):
    """What the engine knows about a carrier right now; routing never fetches it."""

    bound: bool
    cooldown_until: float = 0.0  # epoch seconds; in failover cooldown while now < cooldown_until
    error_rate: float = 0.0  # recent fraction of failed submits, 0..1


class HealthSnapshot:
    """Health of every carrier, passed into each selection. A carrier absent from it is not used.

    Immutable by convention (the engine builds a new one when health changes). Bound carriers under the
    error-rate limit are precomputed with their cooldown end, so the per-message check is one dict probe
    and one comparison with `now`.
    """

    __slots__ = ("carriers", "max_error_rate", "usable_after")

    def __init__(self, carriers: Mapping[str, CarrierHealth], *, max_error_rate: float = 0.5) -> None:
        self.carriers: Mapping[str, CarrierHealth] = dict(carriers)
        self.max_error_rate = max_error_rate  # a carrier at or above this error rate is excluded
        self.usable_after: dict[str, float] = {
            carrier: h.cooldown_until
            for carrier, h in self.carriers.items()
            if h.bound and h.error_rate < max_error_rate
        }

    def __repr__(self) -> str:
        return f"HealthSnapshot({dict(self.carriers)!r}, max_error_rate={self.max_error_rate})"


class RouteRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One message to route; `rand` in [0, 1) picks weighted splits (no hidden randomness)."""

    destination: str  # E.164 digits without '+', see numbers.normalise_destination
    now: float  # epoch seconds: time-of-day windows and cooldowns
    account_id: int | None = None
    group: str | None = None
    sender: str = ""
    message_type: str = "sms"
    rand: float = 0.0


class RouteChoice(msgspec.Struct, frozen=True, kw_only=True):
    """One carrier in a decision: its cost (None when a rule routes to it without a rate) and why."""

    carrier: str
    cost_micro: int | None
    currency: str | None
    matched: str  # the rate's key: "prefix 4477" or "network 23415"; "" without a rate
    reason: str


class RouteDecision(msgspec.Struct, frozen=True, kw_only=True):
    """The ordered routes (first choice, then failovers) and the customer's price when known."""

    destination: str
    mcc_mnc: str | None
    routes: tuple[RouteChoice, ...]
    rule_id: int | None = None
    price_micro: int | None = None
    price_currency: str | None = None

    @property
    def first(self) -> RouteChoice:
        return self.routes[0]

    @property
    def margin_micro(self) -> int | None:
        """Price minus the first choice's cost, when both are known in the same currency."""
        first = self.routes[0]
        if self.price_micro is None or first.cost_micro is None or self.price_currency != first.currency:
            return None
        return self.price_micro - first.cost_micro
