"""A local Meta WhatsApp Cloud API: the Graph API paths the engine calls, and the webhooks Meta sends back.

Tests and `smsengine run --demo` point `whatsapp.api_base` here. It speaks Meta's shapes:

    POST   /{version}/{phone_number_id}/messages        {"messaging_product", "contacts": [{"input",
                                                         "wa_id"}], "messages": [{"id": "wamid....",
                                                         "message_status": "accepted"}]}
    POST   /{version}/{waba_id}/message_templates       {"id", "status": "PENDING", "category"}
    GET    /{version}/{waba_id}/message_templates       {"data": [...], "paging": {...}}
    DELETE /{version}/{waba_id}/message_templates?name= {"success": true}

errors as Meta's envelope `{"error": {"message", "type", "code", "error_data", "fbtrace_id"}}` (401 code
190 for a wrong token, 400 code 132001 for a template it does not know or has not approved, 429 code
130429 past `rate_per_second`), and faults on demand (`faults.fail_next(n, status=503)`, latency).

Back to the engine's webhook (`webhook_url`), each POST signed `X-Hub-Signature-256: sha256=<HMAC-SHA256
(app_secret, body)>` and retried while not answered 200 (as Meta does):
- statuses of every accepted message: sent, delivered, then read, `status_delay` seconds apart; a
  recipient in `failing_recipients` gets sent then failed (131026, undeliverable);
- template reviews: APPROVED after `approval_delay` seconds, REJECTED for names in `rejected_names` (or
  starting with "reject"), unless `auto_review` is off (then `review(name, event)`);
- `customer_message(wa_id, text)`: a customer writes to the business number (opens the 24-hour window).

`subscribe()` performs Meta's hub verification GET against the webhook. For people trying the demo,
`POST /_simulator/customer_message {"from": "447700900123", "text": "hi"}` has a customer write in.
State lives in memory. This is a test peer: it must never be wired into production settings.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.social.simulation.common import FaultMiddleware, Faults, RateWindows, SimulatorServer


def hub_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def new_wamid(to: str) -> str:
    """A wamid as Meta's look: "wamid." and base64 of the recipient and a random id."""
    raw = b"\x15\x02\x00\x11\x18\x12" + to.encode() + secrets.token_hex(10).upper().encode()
    return "wamid.HBgL" + base64.b64encode(raw).decode().rstrip("=")


def meta_error(status: int, code: int, message: str, details: str = "") -> JSONResponse:
    kind = "OAuthException" if status in (400, 401, 403, 429) else "GraphMethodException"
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": secrets.token_hex(8),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return JSONResponse({"error": error}, status)


def _fault_body(status: int) -> bytes:
    code = {429: 130429, 503: 131016, 500: 131000}.get(status, 1)
    message = "(#130429) Rate limit hit" if status == 429 else "Service temporarily unavailable"
    return json.dumps({"error": {"message": message, "type": "OAuthException", "code": code,
                                 "fbtrace_id": secrets.token_hex(8)}}).encode()  # fmt: skip


@dataclass
class SimTemplate:
    id: str
    waba_id: str
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    status: str = "PENDING"
    reason: str = "NONE"


@dataclass
class MetaWorld:
    access_token: str = "meta-sim-token"
    app_secret: str = "meta-sim-app-secret"
    verify_token: str = "meta-sim-verify"
    waba_id: str = "102290129340398"
    phone_number_id: str = "106540352242922"
    display_phone_number: str = "15550783881"
    verified_name: str = "smsengine demo"
    webhook_url: str = ""  # the engine's POST /v1/whatsapp/webhook; set once its port is known
    status_delay: float = 0.05
    read: bool = True  # send "read" after "delivered"
    approval_delay: float = 0.05
    auto_review: bool = True
    rejected_names: set[str] = field(default_factory=set)
    failing_recipients: set[str] = field(default_factory=set)
    rate_per_second: int = 1000
    templates: dict[tuple[str, str], SimTemplate] = field(default_factory=dict)  # (name, language)
    sent: list[dict[str, Any]] = field(default_factory=list)  # accepted request bodies, with their wamid
    deliveries: list[tuple[dict[str, Any], int | None]] = field(default_factory=list)  # webhooks, answer
    code_requests: list[dict[str, Any]] = field(default_factory=list)  # request_code bodies


class MetaCloudSimulator(SimulatorServer):
    def __init__(self, world: MetaWorld | None = None, faults: Faults | None = None) -> None:
        self.world = world or MetaWorld()
        self.faults = faults or Faults()
        self._windows = RateWindows()
        self._tasks: set[asyncio.Task[None]] = set()
        self._http = httpx.AsyncClient(timeout=10.0)
        self._delivered = asyncio.Condition()
        app = Starlette(routes=[
            Route("/{version}/{node}/messages", self._messages, methods=["POST"]),
            Route("/{version}/{node}/message_templates", self._templates, methods=["GET", "POST", "DELETE"]),
            Route("/{version}/{node}/request_code", self._request_code, methods=["POST"]),
            Route("/_simulator/customer_message", self._customer_message_route, methods=["POST"]),
            Route("/{version}/{node}", self._edit_template, methods=["POST"]),
        ])  # fmt: skip
        super().__init__(FaultMiddleware(app, self.faults, _fault_body))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()
        await super().stop()

    # ------------------------------------------------------------------------------ Graph API

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.world.access_token}"

    async def _messages(self, request: Request) -> Response:
        w = self.world
        if not self._authorised(request):
            return meta_error(401, 190, "Error validating access token: Session has expired")
        if request.path_params["node"] != w.phone_number_id:
            return meta_error(400, 100, "Unsupported post request. Object with ID does not exist")
        window = self._windows.hit(request.path_params["node"], "messages", w.rate_per_second, 1.0)
        if not window.allowed:
            return meta_error(429, 130429, "(#130429) Rate limit hit", "Cloud API message throughput reached")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return meta_error(400, 100, "Invalid parameter", "the request body is not JSON")
        to = str(body.get("to", "")).lstrip("+")
        if body.get("messaging_product") != "whatsapp" or not to.isdigit():
            return meta_error(400, 100, "(#100) Invalid parameter", "messaging_product and to are required")
        kind = body.get("type", "text")
        if kind == "template":
            t = body.get("template") or {}
            lang = (t.get("language") or {}).get("code", "")
            found = w.templates.get((str(t.get("name")), str(lang)))
            if found is None or found.status != "APPROVED":
                return meta_error(400, 132001, "(#132001) Template name does not exist in the translation",
                                  f"template name ({t.get('name')}) does not exist in {lang}")  # fmt: skip
        elif kind == "text":
            if not ((body.get("text") or {}).get("body")):
                return meta_error(400, 100, "(#100) Invalid parameter", "text.body is required")
        else:
            return meta_error(400, 131051, "Unsupported message type")
        wamid = new_wamid(to)
        w.sent.append({**body, "wamid": wamid})
        self._spawn(self._statuses(wamid, to))
        return JSONResponse({
            "messaging_product": "whatsapp",
            "contacts": [{"input": body.get("to"), "wa_id": to}],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        })  # fmt: skip

    async def _templates(self, request: Request) -> Response:
        w = self.world
        if not self._authorised(request):
            return meta_error(401, 190, "Error validating access token: Session has expired")
        if request.path_params["node"] != w.waba_id:
            return meta_error(400, 100, "Unsupported request. Object with ID does not exist")
        if request.method == "GET":
            data = [
                {"id": t.id, "name": t.name, "language": t.language, "status": t.status,
                 "category": t.category, "components": t.components}
                for t in w.templates.values()
            ]  # fmt: skip
            return JSONResponse({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})
        if request.method == "DELETE":
            name = request.query_params.get("name", "")
            gone = [key for key in w.templates if key[0] == name]
            if not gone:
                return meta_error(404, 100, f"Template {name} not found")
            for key in gone:
                del w.templates[key]
            return JSONResponse({"success": True})
        body = json.loads(await request.body())
        name, language = str(body.get("name", "")), str(body.get("language", ""))
        category = str(body.get("category", ""))
        if not name or not language or category not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
            return meta_error(400, 100, "Invalid parameter", "name, language and category are required")
        if (name, language) in w.templates:
            return meta_error(400, 2388023, "Message template already exists in this language")
        template = SimTemplate(str(secrets.randbelow(10**15)), w.waba_id, name, language, category,
                               list(body.get("components") or []))  # fmt: skip
        w.templates[(name, language)] = template
        if w.auto_review:
            rejected = name in w.rejected_names or name.startswith("reject")
            self._spawn(self._review_later(template, "REJECTED" if rejected else "APPROVED"))
        return JSONResponse({"id": template.id, "status": "PENDING", "category": category})

    async def _edit_template(self, request: Request) -> Response:
        """POST /{template_id}: new components (and category); the template is reviewed again."""
        w = self.world
        if not self._authorised(request):
            return meta_error(401, 190, "Error validating access token: Session has expired")
        found = next((t for t in w.templates.values() if t.id == request.path_params["node"]), None)
        if found is None:
            return meta_error(400, 100, "Unsupported post request. Object with ID does not exist")
        body = json.loads(await request.body())
        if not isinstance(body.get("components"), list):
            return meta_error(400, 100, "Invalid parameter", "components is required")
        found.components = list(body["components"])
        found.category = str(body.get("category") or found.category)
        found.status = "PENDING"
        if w.auto_review:
            self._spawn(self._review_later(found, "APPROVED"))
        return JSONResponse({"success": True})

    async def _request_code(self, request: Request) -> Response:
        w = self.world
        if not self._authorised(request):
            return meta_error(401, 190, "Error validating access token: Session has expired")
        if request.path_params["node"] != w.phone_number_id:
            return meta_error(400, 100, "Unsupported post request. Object with ID does not exist")
        body = json.loads(await request.body())
        if body.get("code_method") not in ("SMS", "VOICE") or not body.get("language"):
            return meta_error(400, 100, "Invalid parameter", "code_method (SMS or VOICE) and language")
        w.code_requests.append({"phone_number_id": w.phone_number_id, **body})
        return JSONResponse({"success": True})

    # ------------------------------------------------------------------------------ webhooks

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _envelope(self, field_name: str, value: dict[str, Any]) -> dict[str, Any]:
        change = {"value": value, "field": field_name}
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.world.waba_id, "changes": [change]}],
        }

    def _metadata(self) -> dict[str, str]:
        return {
            "display_phone_number": self.world.display_phone_number,
            "phone_number_id": self.world.phone_number_id,
        }

    async def post_webhook(self, payload: dict[str, Any]) -> int | None:
        """POST one event to the engine, signed, retried (up to 5 times) until it answers 200."""
        body = json.dumps(payload).encode()
        status: int | None = None
        for attempt in range(5):
            if not self.world.webhook_url:
                break
            try:
                response = await self._http.post(self.world.webhook_url, content=body, headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": hub_signature(self.world.app_secret, body),
                })  # fmt: skip
                status = response.status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            await asyncio.sleep(0.1 * 2**attempt)
        async with self._delivered:
            self.world.deliveries.append((payload, status))
            self._delivered.notify_all()
        return status

    async def wait_deliveries(
        self, count: int, within: float = 10.0
    ) -> list[tuple[dict[str, Any], int | None]]:
        """Wait until at least `count` webhooks were delivered (answered or given up)."""
        async with asyncio.timeout(within), self._delivered:
            await self._delivered.wait_for(lambda: len(self.world.deliveries) >= count)
        return list(self.world.deliveries)

    def _status(
        self, wamid: str, to: str, status: str, error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        value: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(time.time())),
                                 "recipient_id": to}  # fmt: skip
        if status in ("sent", "delivered"):
            value["conversation"] = {"id": hashlib.sha1(to.encode()).hexdigest()[:32],
                                     "origin": {"type": "service"}}  # fmt: skip
            value["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
        if error:
            value["errors"] = [error]
        return self._envelope("messages", {"messaging_product": "whatsapp", "metadata": self._metadata(),
                                           "statuses": [value]})  # fmt: skip

    async def _statuses(self, wamid: str, to: str) -> None:
        w = self.world
        await asyncio.sleep(w.status_delay)
        await self.post_webhook(self._status(wamid, to, "sent"))
        await asyncio.sleep(w.status_delay)
        if to in w.failing_recipients:
            details = {"details": "the recipient's phone cannot receive this message"}
            error = {"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                     "error_data": details}  # fmt: skip
            await self.post_webhook(self._status(wamid, to, "failed", error))
            return
        await self.post_webhook(self._status(wamid, to, "delivered"))
        if w.read:
            await asyncio.sleep(w.status_delay)
            await self.post_webhook(self._status(wamid, to, "read"))

    async def _review_later(self, template: SimTemplate, event: str) -> None:
        await asyncio.sleep(self.world.approval_delay)
        await self.review(template.name, event, language=template.language)

    async def review(self, name: str, event: str, *, language: str | None = None, reason: str = "") -> None:
        """Meta's review of a template: its status changes and message_template_status_update is sent."""
        for t in [t for t in self.world.templates.values() if t.name == name]:
            if language is not None and t.language != language:
                continue
            t.status = event
            t.reason = reason or ("INVALID_FORMAT" if event == "REJECTED" else "NONE")
            await self.post_webhook(self._envelope("message_template_status_update", {
                "event": event, "message_template_id": int(t.id), "message_template_name": t.name,
                "message_template_language": t.language, "reason": t.reason,
            }))  # fmt: skip

    async def customer_message(self, wa_id: str, text: str, *, name: str = "Alice") -> str:
        """A customer writes to the business number; returns the inbound message's wamid."""
        wamid = new_wamid(wa_id)
        value = {
            "messaging_product": "whatsapp", "metadata": self._metadata(),
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": text}}],
        }  # fmt: skip
        await self.post_webhook(self._envelope("messages", value))
        return wamid

    async def _customer_message_route(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        wa_id = str(body.get("from", "")).lstrip("+")
        if not wa_id.isdigit():
            return JSONResponse({"error": "from: the customer's number, digits"}, 400)
        wamid = await self.customer_message(
            wa_id, str(body.get("text", "hello")), name=str(body.get("name", "Alice"))
        )
        return JSONResponse({"wamid": wamid, "webhook_status": self.world.deliveries[-1][1]})

    async def subscribe(self) -> bool:
        """Meta's webhook verification: GET with hub.mode, hub.verify_token, hub.challenge; True if echoed."""
        challenge = str(secrets.randbelow(10**9))
        response = await self._http.get(self.world.webhook_url, params={
            "hub.mode": "subscribe", "hub.verify_token": self.world.verify_token, "hub.challenge": challenge,
        })  # fmt: skip
        return response.status_code == 200 and response.text == challenge
