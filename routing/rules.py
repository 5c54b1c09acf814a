"""Matching route rules against a request: compiled once per table, evaluated per message.

A `RuleSet` indexes rules by destination prefix (rules without prefixes are global) so a table with many
prefix-specific rules costs a handful of dict probes per message, and returns the single winning rule: the
matching one with the lowest (priority, id). Pure: no I/O, no clock (time comes in the request), no
randomness.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from routing.model import RouteRequest, RouteRule

_MINUTES_PER_DAY = 1440
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


class CompiledRule:
    """A RouteRule with its patterns compiled and its conditions laid out for a fast `matches`."""

    __slots__ = (
        "accounts",
        "dest_re",
        "groups",
        "key",
        "message_types",
        "offset_seconds",
        "rule",
        "sender_re",
        "weekdays",
        "window",
    )

    def __init__(self, rule: RouteRule) -> None:
        self.rule = rule
        self.key = (rule.priority, rule.id)
        self.accounts = rule.account_ids
        self.groups = rule.groups
        self.message_types = rule.message_types
        self.sender_re = re.compile(rule.sender_pattern) if rule.sender_pattern else None
        self.dest_re = re.compile(rule.destination_pattern) if rule.destination_pattern else None
        self.window: tuple[int, int] | None = (
            (rule.window_start_minute, rule.window_end_minute)
            if rule.window_start_minute is not None and rule.window_end_minute is not None
            else None
        )
        self.weekdays = rule.weekdays
        self.offset_seconds = rule.utc_offset_minutes * 60

    def matches(self, request: RouteRequest) -> bool:
        """Whether every condition holds (the prefix condition is checked by the RuleSet index)."""
        if (self.accounts or self.groups) and not (
            request.account_id in self.accounts or request.group in self.groups
        ):
            return False
        if self.message_types and request.message_type not in self.message_types:
            return False
        if self.sender_re is not None and self.sender_re.fullmatch(request.sender) is None:
            return False
        if self.dest_re is not None and self.dest_re.fullmatch(request.destination) is None:
            return False
        if self.window is not None or self.weekdays:
            return self.in_time(request.now)
        return True

    def in_time(self, now: float) -> bool:
        local = int(now) + self.offset_seconds
        days, seconds = divmod(local, 86400)
        if self.weekdays and (days + _EPOCH_WEEKDAY) % 7 not in self.weekdays:
            return False
        if self.window is None:
            return True
        start, end = self.window
        minute = seconds // 60
        if start <= end:
            return start <= minute < end
        return minute >= start or minute < end  # wraps midnight, e.g. 22:00-06:00


class RuleSet:
    """All rules of a table, split into global ones and ones keyed by destination prefix.

    The routing table folds the prefixed rules into its own prefix index (`covering`), so finding the rules
    for a destination costs no extra lookup: the rules whose prefix is a prefix of the destination are
    exactly those whose prefix is a prefix of the destination's longest indexed prefix.
    """

    __slots__ = ("_by_prefix", "_global", "_lengths", "rules")

    def __init__(self, rules: Iterable[RouteRule]) -> None:
        compiled = sorted((CompiledRule(r) for r in rules), key=lambda c: c.key)
        self.rules: tuple[CompiledRule, ...] = tuple(compiled)
        self._global = tuple(c for c in compiled if not c.rule.prefixes)
        by_prefix: dict[str, list[CompiledRule]] = {}
        for c in compiled:
            for prefix in set(c.rule.prefixes):
                by_prefix.setdefault(prefix, []).append(c)
        self._by_prefix = {p: tuple(cs) for p, cs in by_prefix.items()}
        self._lengths = tuple(sorted({len(p) for p in by_prefix}))

    def __bool__(self) -> bool:
        return bool(self.rules)

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(self._by_prefix)

    def covering(self, key: str) -> tuple[CompiledRule, ...] | None:
        """The prefixed rules whose prefix is a prefix of `key`, best first; None when there are none."""
        found: dict[int, CompiledRule] = {}
        for n in self._lengths:
            if n > len(key):
                break
            for c in self._by_prefix.get(key[:n], ()):
                found[id(c)] = c
        return tuple(sorted(found.values(), key=lambda c: c.key)) if found else None

    def winner(self, request: RouteRequest, prefixed: tuple[CompiledRule, ...] | None) -> CompiledRule | None:
        """The matching rule with the lowest (priority, id) among the global and the given prefixed ones."""
        best: CompiledRule | None = None
        for c in self._global:
            if c.matches(request):
                best = c
                break  # sorted: later global rules cannot beat it
        if prefixed is not None:
            for c in prefixed:
                if best is not None and c.key >= best.key:
                    break
                if c.matches(request):
                    best = c
                    break
        return best

    def explain_matches(self, request: RouteRequest) -> list[tuple[CompiledRule, bool]]:
        """Every rule whose prefix condition holds, with whether its other conditions hold (for explain)."""
        digits = request.destination
        out: list[tuple[CompiledRule, bool]] = []
        for c in self.rules:
            if c.rule.prefixes and not any(digits.startswith(p) for p in c.rule.prefixes):
                continue
            out.append((c, c.matches(request)))
        return out
