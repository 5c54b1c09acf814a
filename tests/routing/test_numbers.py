"""Destination normalisation to E.164 digits with SMPP ton/npi or a default region."""

from __future__ import annotations

import pytest

from routing.numbers import InvalidDestination, Npi, NumberError, Ton, normalise_destination


@pytest.mark.parametrize(
    ("address", "kwargs", "digits"),
    [
        ("+447700900123", {}, "447700900123"),
        ("+44 7700 900-123", {}, "447700900123"),
        ("447700900123", {"ton": Ton.INTERNATIONAL, "npi": Npi.ISDN}, "447700900123"),
        ("00447700900123", {"ton": Ton.INTERNATIONAL}, "447700900123"),
        ("07700900123", {"ton": Ton.NATIONAL, "default_region": "GB"}, "447700900123"),
        ("07700900123", {"default_region": "GB"}, "447700900123"),
        ("00447700900123", {"default_region": "GB"}, "447700900123"),
        ("011447700900123", {"default_region": "US"}, "447700900123"),
        ("447700900123", {}, "447700900123"),  # unknown ton, no region: international
        ("0612345678", {"default_region": "FR", "npi": Npi.UNKNOWN}, "33612345678"),
        ("+390612345678", {"require_valid": True}, "390612345678"),  # Italian leading zero kept
    ],
)
def test_normalises(address: str, kwargs: dict[str, object], digits: str) -> None:
    assert normalise_destination(address, **kwargs) == digits  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "kwargs", "reason"),
    [
        ("", {}, NumberError.EMPTY),
        ("  ", {}, NumberError.EMPTY),
        ("ACME", {}, NumberError.ALPHANUMERIC),
        ("447700900123", {"ton": Ton.ALPHANUMERIC}, NumberError.ALPHANUMERIC),
        ("12345", {"ton": Ton.ABBREVIATED}, NumberError.UNSUPPORTED_TON),
        ("447700900123", {"npi": 9}, NumberError.UNSUPPORTED_NPI),
        ("07700900123", {"ton": Ton.NATIONAL}, NumberError.NO_REGION),
        ("+99912345678", {}, NumberError.INVALID_COUNTRY_CODE),
        ("+4477", {}, NumberError.TOO_SHORT),
        ("+4477009001234567890", {}, NumberError.TOO_LONG),
        ("+44#7700", {}, NumberError.NOT_A_NUMBER),
        ("+441000000000", {"require_valid": True}, NumberError.INVALID_NUMBER),
    ],
)
def test_refuses_with_a_reason(address: str, kwargs: dict[str, object], reason: NumberError) -> None:
    with pytest.raises(InvalidDestination) as caught:
        normalise_destination(address, **kwargs)  # type: ignore[arg-type]
    assert caught.value.reason is reason
    assert caught.value.address == address
