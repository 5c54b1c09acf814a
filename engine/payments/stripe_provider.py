"""The Stripe adapter of PaymentProvider, on Stripe's official SDK (`stripe`), its base URL configurable.

Checkout Sessions (mode=payment) for top-ups, saving the card for later off-session use; PaymentIntents
(off_session, confirm) for auto top-up, each with an idempotency key so a retry never charges twice;
webhook events verified with the SDK's own `stripe.Webhook.construct_event`. `api_base` points the SDK at
https://api.stripe.com in production and at a local stand-in in tests and the demo
(engine.simulation.stripe_standin). SDK exceptions end here: callers see PaymentError / InvalidEvent.
"""

from __future__ import annotations

from typing import Any

import stripe

from engine.payments.provider import (
    Charge,
    Checkout,
    Event,
    Failed,
    Ignored,
    InvalidEvent,
    Paid,
    PaymentError,
)


class _HttpxClient(stripe.HTTPXClient):
    """Stripe's own httpx transport, handing its encoded form to httpx as `content=` (httpx deprecates
    `data=<str>`, which is what the SDK passes; the bytes on the wire are the same)."""

    def _get_request_args_kwargs(self, method: str, url: str, headers: Any, post_data: Any) -> Any:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        data = kwargs.pop("data", None)
        if data:
            kwargs["content"] = data
        return args, kwargs


class StripeProvider:
    name = "stripe"

    def __init__(self, api_key: str, *, api_base: str, webhook_secret: str, timeout: float = 20.0) -> None:
        self._http = _HttpxClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            http_client=self._http,
            max_network_retries=2,
        )
        self._webhook_secret = webhook_secret

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

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
    ) -> Checkout:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": amount_minor,
                        "product_data": {"name": description},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": reference,
            "metadata": metadata,
            # keep the card for auto top-up (charged later without the customer present)
            "payment_intent_data": {"setup_future_usage": "off_session", "metadata": metadata},
        }
        if customer_ref:
            params["customer"] = customer_ref
        else:
            params["customer_creation"] = "always"
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": f"checkout-{reference}"},
            )
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe refused the checkout session: {exc.user_message or exc}") from None
        return Checkout(ref=str(session.id), url=str(session.url or ""), expires_at=session.expires_at)

    async def create_portal(self, *, customer_ref: str, return_url: str) -> str:
        params: dict[str, Any] = {"customer": customer_ref}
        if return_url:
            params["return_url"] = return_url
        try:
            session = await self._client.v1.billing_portal.sessions.create_async(params=params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe refused the portal session: {exc.user_message or exc}") from None
        return str(session.url)

    async def charge_saved(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_ref: str,
        payment_method: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> Charge:
        params: dict[str, Any] = {
            "amount": amount_minor, "currency": currency.lower(), "customer": customer_ref,
            "payment_method": payment_method, "off_session": True, "confirm": True, "metadata": metadata,
        }  # fmt: skip
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            intent_ref = ""
            if exc.error is not None and exc.error.payment_intent is not None:
                intent_ref = str(exc.error.payment_intent.id)
            return Charge(ref=intent_ref, succeeded=False, error=str(exc.user_message or exc))
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe could not charge the saved card: {exc.user_message or exc}") from None
        if intent.status == "requires_action":
            return Charge(ref=str(intent.id), succeeded=False, error="payment requires_action",
                          requires_action=True, client_secret=str(intent.client_secret or ""))  # fmt: skip
        return Charge(ref=str(intent.id), succeeded=intent.status == "succeeded",
                      error="" if intent.status == "succeeded" else f"payment {intent.status}")  # fmt: skip

    async def _card(self, payment_method: str) -> tuple[str, str]:
        if not payment_method:
            return "", ""
        try:
            method = await self._client.v1.payment_methods.retrieve_async(payment_method)
        except stripe.StripeError:
            return "", ""  # the card's description is a nicety: the payment stands without it
        card = method.card
        return (str(card.brand), str(card.last4)) if card is not None else ("", "")

    async def parse_event(self, payload: bytes, signature: str | None) -> Event:
        if not self._webhook_secret:
            raise InvalidEvent("no payments.stripe_webhook_secret configured: events cannot be verified")
        try:
            event = stripe.Webhook.construct_event(payload, signature, self._webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidEvent(str(exc)) from None
        obj: dict[str, Any] = event.data.object.to_dict()  # a StripeObject is not a dict: read it as one
        kind = str(event.type)
        try:
            if kind == "checkout.session.completed" and obj.get("payment_status") == "paid":
                method = ""
                intent_ref = obj.get("payment_intent")
                if intent_ref:
                    intent = await self._client.v1.payment_intents.retrieve_async(str(intent_ref))
                    method = str(intent.payment_method or "")
                brand, last4 = await self._card(method)
                return Paid(str(obj["id"]), str(obj.get("customer") or ""), method, brand, last4)
            if kind == "payment_intent.succeeded":
                method = str(obj.get("payment_method") or "")
                brand, last4 = await self._card(method)
                return Paid(str(obj["id"]), str(obj.get("customer") or ""), method, brand, last4)
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe could not be read back: {exc}") from None
        if kind == "payment_intent.payment_failed":
            error = (obj.get("last_payment_error") or {}).get("message") or "payment failed"
            return Failed(str(obj["id"]), str(error))
        if kind == "checkout.session.expired":
            return Failed(str(obj["id"]), "checkout session expired")
        return Ignored(kind)
