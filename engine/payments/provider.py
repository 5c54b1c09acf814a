"""What the engine needs from a payment provider, as a Protocol and plain Structs.

A provider creates hosted checkout sessions, charges a saved card without the customer present (auto
top-up), reads a payment back, and verifies the events it sends (webhooks). Amounts are integer minor
units of the currency, as providers take them. Implementations translate their own errors into
`PaymentError` (declined, unreachable, misconfigured): nothing provider-specific leaks past them.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec


class PaymentError(Exception):
    """The provider refused or could not be reached; `declined` when the card was refused."""

    def __init__(self, message: str, *, declined: bool = False) -> None:
        super().__init__(message)
        self.declined = declined


class InvalidEvent(Exception):
    """A webhook whose signature or payload does not verify."""


class Checkout(msgspec.Struct, frozen=True):
    ref: str  # the provider's session id
    url: str  # where the customer pays
    expires_at: int | None  # unix seconds


class Charge(msgspec.Struct, frozen=True):
    ref: str  # the provider's payment id
    succeeded: bool
    error: str = ""
    # The card's bank asks the customer to authenticate (3-D Secure): the payment waits for them, and
    # `client_secret` lets their browser complete it (the provider's event settles it then).
    requires_action: bool = False
    client_secret: str = ""


class Paid(msgspec.Struct, frozen=True):
    """A provider event saying money arrived: settle `ref` (a session or a payment)."""

    ref: str
    customer_ref: str
    payment_method: str
    card_brand: str = ""
    card_last4: str = ""


class Failed(msgspec.Struct, frozen=True):
    ref: str
    error: str


class Ignored(msgspec.Struct, frozen=True):
    type: str


Event = Paid | Failed | Ignored


class PaymentProvider(Protocol):
    name: str

    async def create_checkout(
        self,
        *,
        amount_minor: int,
        currency: str,
        description: str,
        reference: str,
        customer_ref: str | None,
        success_url: str,
        cancel_url: str,
        metadata: dict[str, str],
    ) -> Checkout: ...

    async def charge_saved(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_ref: str,
        payment_method: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Charge: ...

    async def create_portal(self, *, customer_ref: str, return_url: str) -> str:
        """The URL of the provider's self-service billing portal for this customer."""
        ...

    async def parse_event(self, payload: bytes, signature: str | None) -> Event: ...

    async def close(self) -> None: ...


def metadata_of(obj: Any) -> dict[str, str]:
    raw = obj.get("metadata") if isinstance(obj, dict) else None
    return {str(k): str(v) for k, v in (raw or {}).items()}
