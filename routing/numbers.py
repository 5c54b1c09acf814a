"""Destination addresses to E.164 digits, using the SMPP type of number / numbering plan or a default region.

Routing keys everything on E.164 digits without '+'. This module turns what customers send (an SMPP
destination_addr with its dest_addr_ton/dest_addr_npi, or an HTTP "to" field) into those digits, or raises
InvalidDestination with a reason code the engine maps to ESME_RINVDSTADR / HTTP 422. It uses phonenumbers'
metadata; it must never do I/O. It checks that a number is *possible* (right length for its country) by
default, not *valid* (an allocated range): metadata lags new ranges, and refusing a real customer's real
number is worse than letting the carrier reject it; pass require_valid=True for the stricter check.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

from routing.model import RoutingError


class Ton(IntEnum):
    """SMPP v3.4 section 5.2.5, type of number."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER_NUMBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


class Npi(IntEnum):
    """SMPP v3.4 section 5.2.6, numbering plan indicator (only the ones routing accepts are named)."""

    UNKNOWN = 0
    ISDN = 1  # E.163/E.164


class NumberError(StrEnum):
    """Why an address is not a routable E.164 number."""

    EMPTY = "EMPTY"
    NOT_A_NUMBER = "NOT_A_NUMBER"
    ALPHANUMERIC = "ALPHANUMERIC"
    UNSUPPORTED_TON = "UNSUPPORTED_TON"
    UNSUPPORTED_NPI = "UNSUPPORTED_NPI"
    NO_REGION = "NO_REGION"
    INVALID_COUNTRY_CODE = "INVALID_COUNTRY_CODE"
    TOO_SHORT = "TOO_SHORT"
    TOO_LONG = "TOO_LONG"
    INVALID_NUMBER = "INVALID_NUMBER"


class InvalidDestination(RoutingError, ValueError):
    """The destination is not a routable number; `reason` is a NumberError, `address` what was sent."""

    def __init__(self, address: str, reason: NumberError, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {address!r}" + (f": {detail}" if detail else ""))
        self.address = address
        self.reason = reason
        self.detail = detail


_POSSIBILITY_ERRORS = {
    ValidationResult.INVALID_COUNTRY_CODE: NumberError.INVALID_COUNTRY_CODE,
    ValidationResult.TOO_SHORT: NumberError.TOO_SHORT,
    ValidationResult.INVALID_LENGTH: NumberError.TOO_SHORT,
    ValidationResult.TOO_LONG: NumberError.TOO_LONG,
}
_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: NumberError.INVALID_COUNTRY_CODE,
    NumberParseException.NOT_A_NUMBER: NumberError.NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: NumberError.TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: NumberError.TOO_SHORT,
    NumberParseException.TOO_LONG: NumberError.TOO_LONG,
}
_SEPARATORS = str.maketrans("", "", " -.()/\t")


def normalise_destination(
    address: str,
    *,
    ton: int = Ton.UNKNOWN,
    npi: int = Npi.ISDN,
    default_region: str | None = None,
    require_valid: bool = False,
) -> str:
    """E.164 digits without '+' for a destination, or InvalidDestination saying why.

    ton=INTERNATIONAL: the digits already start with the country code ('+' and '00' tolerated).
    ton=NATIONAL: a national number of `default_region` (ISO 3166 alpha-2, e.g. "GB").
    ton=UNKNOWN: '+' means international; otherwise read with `default_region`'s dialling rules (so
    "00 44..." from a GB customer is international, "07700..." is national); without a region the digits
    are taken as international.
    """
    text = address.strip()
    if not text:
        raise InvalidDestination(address, NumberError.EMPTY)
    if ton == Ton.ALPHANUMERIC:
        raise InvalidDestination(address, NumberError.ALPHANUMERIC, "an alphanumeric address has no route")
    if ton not in (Ton.UNKNOWN, Ton.INTERNATIONAL, Ton.NATIONAL):
        raise InvalidDestination(address, NumberError.UNSUPPORTED_TON, f"dest_addr_ton={ton}")
    if npi not in (Npi.UNKNOWN, Npi.ISDN):
        raise InvalidDestination(address, NumberError.UNSUPPORTED_NPI, f"dest_addr_npi={npi}")
    compact = text.translate(_SEPARATORS)
    body = compact[1:] if compact.startswith("+") else compact
    if not body.isdigit() or not body.isascii():
        reason = NumberError.ALPHANUMERIC if any(ch.isalpha() for ch in body) else NumberError.NOT_A_NUMBER
        raise InvalidDestination(address, reason)
    if ton == Ton.INTERNATIONAL:
        if body.startswith("00"):
            body = body[2:]
        candidate, region = "+" + body, None
    elif ton == Ton.NATIONAL:
        if default_region is None:
            raise InvalidDestination(address, NumberError.NO_REGION, "a national number needs a region")
        candidate, region = body, default_region
    elif compact.startswith("+") or default_region is None:
        candidate, region = "+" + body, None
    else:
        candidate, region = body, default_region
    try:
        number = phonenumbers.parse(candidate, region)
    except NumberParseException as exc:
        raise InvalidDestination(
            address, _PARSE_ERRORS.get(exc.error_type, NumberError.NOT_A_NUMBER), str(exc)
        ) from None
    possibility = phonenumbers.is_possible_number_with_reason(number)
    if possibility not in (ValidationResult.IS_POSSIBLE, ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        raise InvalidDestination(address, _POSSIBILITY_ERRORS.get(possibility, NumberError.INVALID_NUMBER))
    if possibility == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise InvalidDestination(address, NumberError.TOO_SHORT, "a local number without its area code")
    if require_valid and not phonenumbers.is_valid_number(number):
        raise InvalidDestination(address, NumberError.INVALID_NUMBER, "not an allocated number range")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
