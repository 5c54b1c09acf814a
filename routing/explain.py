"""`smsengine routes explain`: a plain-text account of how a number is routed, for operators.

For one request against one table and health snapshot it lists every carrier: its cost for the number,
and whether it was chosen, ranked as a failover, or excluded and why (no rate, disabled, unhealthy, a
rule). It runs the same selection code as live traffic (RoutingTable.trace), so what it says is what the
engine does. Pure: it formats, it never loads or sends anything.
"""

from __future__ import annotations

from routing.model import HealthSnapshot, NoRoute, RouteChoice, RouteRequest
from routing.table import RoutingTable
from routing.tariff_csv import format_micro


def _money(micro: int | None, currency: str | None) -> str:
    return "-" if micro is None else f"{format_micro(micro)} {currency or ''}".strip()


def explain_route(
    table: RoutingTable, request: RouteRequest, health: HealthSnapshot, *, health_note: str = ""
) -> str:
    """The explanation, one line per fact, carriers ranked first then excluded ones."""
    outcome, trace = table.trace(request, health)
    who = [f"account {request.account_id}" if request.account_id is not None else "no account"]
    if request.group:
        who.append(f"group {request.group}")
    if request.sender:
        who.append(f"sender {request.sender!r}")
    who.append(request.message_type)
    lines = [f"Routes for +{request.destination} ({', '.join(who)}); routing version {table.version}"]
    lines.append(
        f"Network: {trace.network} (number portability)"
        if trace.network
        else "Network: not in the portability table; rates by longest prefix"
    )
    matches = table.rule_matches(request)
    if not matches:
        lines.append("Rules: none apply to this destination; least cost")
    for rule, ok in matches:
        winner = trace.rule is not None and trace.rule.rule.id == rule.id
        state = "APPLIED" if winner else ("matched, outranked" if ok else "conditions not met")
        text = f" {rule.description!r}" if rule.description else ""
        lines.append(f"Rule #{rule.id} {rule.action.value} (priority {rule.priority}){text}: {state}")
    if health_note:
        lines.append(f"Health: {health_note}")

    rated = {c.carrier: c for c in trace.candidates}
    ranked: list[RouteChoice] = list(outcome.routes) if not isinstance(outcome, NoRoute) else []
    lines.append("Carriers:")
    shown: set[str] = set()
    for position, choice in enumerate(ranked, start=1):
        role = "chosen" if position == 1 else f"failover {position - 1}"
        lines.append(
            f"  {position:>2}. {choice.carrier:<16} {_money(choice.cost_micro, choice.currency):<16} "
            f"{choice.matched or 'no rate':<24} {role}: {choice.reason}"
        )
        shown.add(choice.carrier)
    for carrier_id in sorted(set(table.carriers) | set(trace.excluded)):
        if carrier_id in shown:
            continue
        carrier = table.carriers.get(carrier_id)
        rate = rated.get(carrier_id)
        if carrier is not None and not carrier.enabled:
            why = "disabled"
        elif carrier_id in trace.excluded:
            why = trace.excluded[carrier_id]
        elif rate is None:
            why = "no rate for this destination"
        else:
            why = "not selected by the applied rule"
        cost = _money(rate.cost_micro, rate.currency) if rate is not None else "-"
        matched = rate.matched if rate is not None else "no rate"
        lines.append(f"   -. {carrier_id:<16} {cost:<16} {matched:<24} excluded: {why}")

    if isinstance(outcome, NoRoute):
        lines.append(f"Result: {outcome.code}: {outcome.detail}")
        return "\n".join(lines)
    if outcome.price_micro is None:
        lines.append("Price: no price list covers this destination for this account")
    else:
        margin = outcome.margin_micro
        margin_text = (
            f"margin {'-' if margin < 0 else ''}{_money(abs(margin), outcome.price_currency)}"
            if margin is not None
            else "margin unknown (no cost or different currencies)"
        )
        lines.append(
            f"Price: {_money(outcome.price_micro, outcome.price_currency)} per segment; {margin_text}"
        )
    lines.append(f"Result: {outcome.routes[0].carrier}, then {len(outcome.routes) - 1} failover(s)")
    return "\n".join(lines)
