"""A local stand-in for the parts of the Stripe API that engine.payments uses, as a small Starlette app.

Stripe is unreachable from where this runs, so tests and the demo point `payments.stripe_api_base` here.
It speaks what Stripe's official SDK sends and reads (form-encoded requests, JSON objects, the error
envelope, Idempotency-Key replays):

    POST /v1/checkout/sessions          an open session whose `url` is this stand-in's /pay/{id}
    GET  /v1/checkout/sessions/{id}
    POST /v1/payment_intents            an off-session charge of a saved card (declined on request)
    GET  /v1/payment_intents/{id}       GET /v1/payment_methods/{id}
    POST /pay/{id}                      the customer pays: the session completes, a customer and a card
                                        are made, and checkout.session.completed is POSTed, signed as
                                        Stripe signs it (Stripe-Signature: t=...,v1=HMAC-SHA256), to
                                        `webhook_url`; answered once that POST is answered
    POST /expire/{id}                   the session expires (checkout.session.expired)
    POST /confirm/{id}                  the customer authenticates a payment intent that required it
                                        (`require_action_next`): it succeeds, payment_intent.succeeded

Every request must carry `Authorization: Bearer <api_key>`. State lives in memory. This is a test
peer: it must never be wired into production settings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def stripe_signature(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.payload")>."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _form(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode(), keep_blank_values=True))


def _error(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status)


@dataclass
class StripeStandIn:
    api_key: str = "sk_test_standin"
    webhook_secret: str = "whsec_standin"
    webhook_url: str = ""  # where events go; set once the engine's HTTP port is known
    base_url: str = ""  # this stand-in's own address (session urls point at it)
    decline_next: int = 0  # this many off-session charges are declined
    require_action_next: int = 0  # this many off-session charges wait for the customer (3-D Secure)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)  # every event sent, with the answer
    _replays: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/checkout/sessions", self._create_session, methods=["POST"]),
                Route("/v1/checkout/sessions/{id}", self._get_session, methods=["GET"]),
                Route("/v1/payment_intents", self._create_intent, methods=["POST"]),
                Route("/v1/payment_intents/{id}", self._get_intent, methods=["GET"]),
                Route("/v1/payment_methods/{id}", self._get_method, methods=["GET"]),
                Route("/v1/billing_portal/sessions", self._create_portal, methods=["POST"]),
                Route("/pay/{id}", self._pay, methods=["POST"]),
                Route("/expire/{id}", self._expire, methods=["POST"]),
                Route("/confirm/{id}", self._confirm, methods=["POST"]),
            ]
        )

    # ---------------------------------------------------------------------------------- plumbing

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization", "") == f"Bearer {self.api_key}"

    async def _idempotent(self, request: Request, make: Any) -> Response:
        if not self._authorised(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        key = request.headers.get("idempotency-key")
        if key and key in self._replays:
            status, body = self._replays[key]
            return Response(body, status, media_type="application/json")
        response: Response = await make(_form(await request.body()))
        if key and response.status_code < 500:
            self._replays[key] = (response.status_code, bytes(response.body))
        return response

    async def send_event(self, kind: str, obj: dict[str, Any]) -> int:
        """POST one signed event to webhook_url; the status it was answered with."""
        event = {"id": "evt_" + secrets.token_hex(12), "object": "event", "type": kind,
                 "created": int(time.time()), "data": {"object": obj}, "livemode": False,
                 "api_version": "2024-06-20"}  # fmt: skip
        payload = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": stripe_signature(self.webhook_secret, payload),
        }
        async with httpx.AsyncClient(timeout=30.0) as client:
            answer = await client.post(self.webhook_url, content=payload, headers=headers)
        self.events.append({"type": kind, "status": answer.status_code, "body": answer.text})
        return answer.status_code

    def _method(self, customer: str) -> dict[str, Any]:
        card = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
        method: dict[str, Any] = {"id": "pm_" + secrets.token_hex(12), "object": "payment_method",
                                  "type": "card", "customer": customer, "card": card}  # fmt: skip
        self.methods[method["id"]] = method
        return method

    # ----------------------------------------------------------------------------------- handlers

    async def _create_session(self, request: Request) -> Response:
        async def make(form: dict[str, str]) -> Response:
            amount = form.get("line_items[0][price_data][unit_amount]", "")
            if form.get("mode") != "payment" or not amount.isdigit():
                return _error(400, "invalid_request_error", "mode=payment and a unit_amount are required")
            sid = "cs_test_" + secrets.token_hex(12)
            metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
            session = {
                "id": sid, "object": "checkout.session", "mode": "payment", "status": "open",
                "payment_status": "unpaid", "amount_total": int(amount),
                "currency": form.get("line_items[0][price_data][currency]", ""),
                "client_reference_id": form.get("client_reference_id"), "customer": form.get("customer"),
                "metadata": metadata, "success_url": form.get("success_url"),
                "cancel_url": form.get("cancel_url"), "url": f"{self.base_url}/pay/{sid}",
                "expires_at": int(time.time()) + 86_400, "payment_intent": None,
            }  # fmt: skip
            self.sessions[sid] = session
            return JSONResponse(session)

        return await self._idempotent(request, make)

    async def _get_session(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["id"])
        if not self._authorised(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        return JSONResponse(session) if session else _error(404, "invalid_request_error", "No such session")

    async def _create_intent(self, request: Request) -> Response:
        async def make(form: dict[str, str]) -> Response:
            method = self.methods.get(form.get("payment_method", ""))
            if method is None or method["customer"] != form.get("customer"):
                return _error(400, "invalid_request_error", "No such PaymentMethod for this customer")
            pid = "pi_" + secrets.token_hex(12)
            intent = {"id": pid, "object": "payment_intent", "amount": int(form.get("amount", "0")),
                      "currency": form.get("currency"), "customer": form.get("customer"),
                      "payment_method": method["id"], "status": "succeeded",
                      "last_payment_error": None}  # fmt: skip
            if self.decline_next > 0:
                self.decline_next -= 1
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = {"code": "card_declined", "message": "Your card was declined."}
                self.intents[pid] = intent
                return _error(402, "card_error", "Your card was declined.", code="card_declined",
                              decline_code="generic_decline", payment_intent=intent)  # fmt: skip
            if self.require_action_next > 0:
                self.require_action_next -= 1
                intent["status"] = "requires_action"
                intent["client_secret"] = f"{pid}_secret_{secrets.token_hex(8)}"
            self.intents[pid] = intent
            return JSONResponse(intent)

        return await self._idempotent(request, make)

    async def _get_intent(self, request: Request) -> Response:
        if not self._authorised(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        intent = self.intents.get(request.path_params["id"])
        return JSONResponse(intent) if intent else _error(404, "invalid_request_error", "No such intent")

    async def _get_method(self, request: Request) -> Response:
        if not self._authorised(request):
            return _error(401, "invalid_request_error", "Invalid API Key provided")
        method = self.methods.get(request.path_params["id"])
        return JSONResponse(method) if method else _error(404, "invalid_request_error", "No such method")

    async def _create_portal(self, request: Request) -> Response:
        async def make(form: dict[str, str]) -> Response:
            customer = form.get("customer", "")
            if not any(i["customer"] == customer for i in self.intents.values()):
                return _error(400, "invalid_request_error", f"No such customer: '{customer}'")
            sid = "bps_" + secrets.token_hex(12)
            return JSONResponse({"id": sid, "object": "billing_portal.session", "customer": customer,
                                 "return_url": form.get("return_url"),
                                 "url": f"{self.base_url}/portal/{sid}"})  # fmt: skip

        return await self._idempotent(request, make)

    async def _pay(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["id"])
        if session is None or session["status"] != "open":
            return _error(404, "invalid_request_error", "No open session")
        customer = session["customer"] or "cus_" + secrets.token_hex(12)
        method = self._method(customer)
        pid = "pi_" + secrets.token_hex(12)
        self.intents[pid] = {"id": pid, "object": "payment_intent", "amount": session["amount_total"],
                             "currency": session["currency"], "customer": customer,
                             "payment_method": method["id"], "status": "succeeded"}  # fmt: skip
        session.update(status="complete", payment_status="paid", customer=customer, payment_intent=pid)
        status = await self.send_event("checkout.session.completed", session)
        return JSONResponse({"paid": True, "webhook_status": status})

    async def _expire(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["id"])
        if session is None or session["status"] != "open":
            return _error(404, "invalid_request_error", "No open session")
        session["status"] = "expired"
        status = await self.send_event("checkout.session.expired", session)
        return JSONResponse({"expired": True, "webhook_status": status})

    async def _confirm(self, request: Request) -> Response:
        intent = self.intents.get(request.path_params["id"])
        if intent is None or intent["status"] != "requires_action":
            return _error(404, "invalid_request_error", "No payment intent awaiting action")
        intent["status"] = "succeeded"
        status = await self.send_event("payment_intent.succeeded", intent)
        return JSONResponse({"confirmed": True, "webhook_status": status})
