"""The one accept path: validate, encode and segment, route, price. SMPP and HTTP both come through here.

`Intake.prepare(request, now)` turns a `SubmitRequest` (built by the SMPP front from a submit_sm, or by
the HTTP API from a JSON body) into a `PreparedMessage` ready for the durable commit, or raises
`Rejected` with the reason and the code each channel answers with. It is synchronous and does no I/O:
the state it needs (routing snapshot, carrier health, carrier profiles, opt-outs) is read from memory,
kept current by their owners. What happens after — the ledger reservation and the commit — is the
accept committer's (engine.core.accept).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec
import phonenumbers

from engine.core.destinations import normalise_cached
from engine.core.ids import MessageIdGenerator
from engine.core.parts import PartSpec
from engine.core.rejections import Reject, Rejected
from engine.core.text_fields import check_submit
from routing.live import LiveRoutingTable
from routing.model import HealthSnapshot, NoRoute, RouteRequest
from routing.numbers import InvalidDestination
from smpp.constants import EsmClass
from smpp.text import (
    Carriage,
    ConcatReferenceAllocator,
    MessagePlan,
    MessageTooLongError,
    TextError,
    build_segments,
    national_languages_for_country,
    plan_binary,
    plan_text,
)

_UDHI = int(EsmClass.UDHI)  # a plain int: IntFlag arithmetic builds a Flag object per operation


class SubmitRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A message as a customer asked for it, before any checking."""

    account_id: int
    channel: str  # "smpp" | "http"
    source: str
    destination: str
    system_id: str = ""
    source_ton: int = 0
    source_npi: int = 0
    dest_ton: int = 0
    dest_npi: int = 1
    text: str | None = None  # HTTP, or a long SMPP message decoded from message_payload
    octets: bytes | None = None  # SMPP short_message (or binary payload) exactly as sent
    data_coding: int | None = None  # explicit: always wins
    esm_class: int = 0
    udh_passthrough: bool = False  # the customer cut the message and sent its own UDH: send it as is
    registered_delivery: int = 0
    smart_encoding: bool = False
    client_ref: str = ""
    batch_id: str = ""
    campaign_id: int | None = None
    scheduled_at: datetime | None = None
    expires_at: datetime | None = None
    # A test key or `X-Sandbox: true` (HTTP): stored as delivered, never reserved, never dispatched.
    sandbox: bool = False


class PreparedMessage(msgspec.Struct, kw_only=True):
    id: int
    request: SubmitRequest
    destination: str  # E.164 digits
    country: str  # ISO 3166 alpha-2, "" if unknown
    encoding: str
    data_coding: int
    segments: int  # billable segments
    route: tuple[str, ...]
    route_costs: tuple[int, ...]  # per segment, for each carrier of the route, micro-units
    price: int  # per segment, micro-units
    currency: str
    parts: tuple[PartSpec, ...]

    @property
    def amount(self) -> int:
        return self.price * self.segments


class CarrierProfile(msgspec.Struct, frozen=True):
    """How a carrier takes long messages (from carrier_connections)."""

    carriage: Carriage = Carriage.UDH
    reference_bits: int = 8
    packed: bool = False


DEFAULT_PROFILE = CarrierProfile()


def country_of(digits: str) -> str:
    """ISO region of an E.164 number by its country code (NANP numbers read as US)."""
    for length in (1, 2, 3):
        if len(digits) < length:
            break
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(digits[:length]))
        if regions:
            return regions[0] if regions[0] != "001" else ""
    return ""


def _check_source(request: SubmitRequest) -> None:
    source = request.source
    if not source:
        raise Rejected(Reject.INVALID_SOURCE, "a sender is required")
    if request.source_ton == 5 or not source.lstrip("+").isdigit():
        if len(source) > 11:
            raise Rejected(Reject.INVALID_SOURCE, f"alphanumeric sender {source!r} longer than 11 characters")
    elif len(source.lstrip("+")) > 15:
        raise Rejected(Reject.INVALID_SOURCE, f"numeric sender {source!r} longer than 15 digits")


class Intake:
    def __init__(
        self,
        *,
        routing: LiveRoutingTable,
        health: Callable[[], HealthSnapshot],
        all_up: Callable[[], HealthSnapshot],
        profile: Callable[[str], CarrierProfile | None],
        is_opted_out: Callable[[int, str], bool],
        ids: MessageIdGenerator,
        references: ConcatReferenceAllocator | None = None,
        default_region: str | None = None,
        sender_allowed: Callable[[int, str], bool] | None = None,
    ) -> None:
        self._routing = routing
        self._health = health
        self._all_up = all_up
        self._profile = profile
        self._is_opted_out = is_opted_out
        self._ids = ids
        self._references = references or ConcatReferenceAllocator()
        self._default_region = default_region
        # seed 001 hook: sender IDs the account must have had approved (engine.senders.directory)
        self._sender_allowed = sender_allowed

    def prepare(self, request: SubmitRequest, now: float) -> PreparedMessage:
        check_submit(request)  # texts that could not be stored or encoded (engine/core/text_fields.py)
        _check_source(request)
        if self._sender_allowed is not None and not self._sender_allowed(request.account_id, request.source):
            raise Rejected(
                Reject.INVALID_SOURCE, f"sender ID {request.source!r} is not approved for this account"
            )
        try:
            destination = normalise_cached(
                request.destination, request.dest_ton, request.dest_npi, self._default_region
            )
        except InvalidDestination as exc:
            raise Rejected(Reject.INVALID_DESTINATION, str(exc)) from None
        if self._is_opted_out(request.account_id, destination):
            raise Rejected(Reject.OPT_OUT, f"+{destination} has opted out of this account's messages")
        route_request = RouteRequest(
            destination=destination, now=now, account_id=request.account_id, sender=request.source,
            rand=(now * 7919.0) % 1.0,
        )  # fmt: skip
        try:
            decision = self._routing.table.select(route_request, self._health())
        except NoRoute:
            # Health orders the routes; it must not refuse a message a carrier will take once it is back
            # (a bind that dropped reconnects in a second). Only "no carrier has a rate" is NO_ROUTE.
            try:
                decision = self._routing.table.select(route_request, self._all_up())
            except NoRoute as exc:
                raise Rejected(Reject.NO_ROUTE, str(exc)) from None
        if decision.price_micro is None or decision.price_currency is None:
            raise Rejected(Reject.NO_PRICE, f"no price for +{destination} on this account")
        first = decision.routes[0]
        profile = self._profile(first.carrier) or DEFAULT_PROFILE
        country = country_of(destination)
        parts, segments, encoding, data_coding = self._cut(request, profile, country, destination)
        return PreparedMessage(
            id=self._ids.next_id(),
            request=request,
            destination=destination,
            country=country,
            encoding=encoding,
            data_coding=data_coding,
            segments=segments,
            route=tuple(choice.carrier for choice in decision.routes),
            route_costs=tuple(choice.cost_micro or 0 for choice in decision.routes),
            price=decision.price_micro,
            currency=decision.price_currency,
            parts=parts,
        )

    def _cut(
        self, request: SubmitRequest, profile: CarrierProfile, country: str, destination: str
    ) -> tuple[tuple[PartSpec, ...], int, str, int]:
        """(parts, billable segments, encoding name, data_coding) for the first-choice carrier."""
        if request.udh_passthrough and request.octets is not None:
            dc = request.data_coding or 0
            part = PartSpec(request.octets, request.esm_class | _UDHI, dc)
            return (part,), 1, "passthrough", dc
        try:
            if request.text is not None:
                plan: MessagePlan = plan_text(
                    request.text,
                    data_coding=request.data_coding,
                    national_languages=national_languages_for_country(country) if country else (),
                    smart_encoding=request.smart_encoding,
                    carriage=profile.carriage,
                    reference_bits=profile.reference_bits,
                )
            elif request.octets is not None:
                plan = plan_binary(
                    request.octets,
                    request.data_coding or 0,
                    carriage=profile.carriage,
                    reference_bits=profile.reference_bits,
                )
            else:
                raise Rejected(Reject.INVALID_TEXT, "the message has no content")
        except MessageTooLongError as exc:
            raise Rejected(Reject.MESSAGE_TOO_LONG, str(exc)) from None
        except TextError as exc:
            raise Rejected(Reject.INVALID_TEXT, str(exc)) from None
        reference = self._references.allocate(destination) if plan.needs_reference else 0
        esm = request.esm_class & ~_UDHI
        payload = plan.carriage is Carriage.PAYLOAD
        parts = tuple(
            PartSpec(
                segment.short_message,
                esm | (_UDHI if segment.udhi else 0),
                plan.data_coding,
                (segment.sar.reference, segment.sar.total, segment.sar.sequence) if segment.sar else None,
                payload,
            )
            for segment in build_segments(plan, reference, packed=profile.packed)
        )
        return parts, plan.part_count, plan.alphabet.value, plan.data_coding
