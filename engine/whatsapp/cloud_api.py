"""Meta's WhatsApp Cloud API, the few Graph API calls the engine makes, over one httpx client.

    POST   {base}/{version}/{phone_number_id}/messages            send one message -> its wamid
    POST   {base}/{version}/{waba_id}/message_templates           submit a template -> id, PENDING
    DELETE {base}/{version}/{waba_id}/message_templates?name=     delete a template (every language)

Every request carries `Authorization: Bearer <access token>`. A failure is one `CloudApiError` with what
the caller needs to decide (httpx style: the client holds policy, the wire is httpx):

    CloudApiError            status, Meta's error code and message, retry_after
      .rate_limited          429, or codes 4 / 80007 / 130429 (slow down) and 131056 (pair rate limit)
      .transient             5xx, timeouts and connection errors (`sent_maybe`: the request may have arrived)
      otherwise              permanent for this request (bad parameter, template missing, outside the window)

This module must never decide what a failure means for a message (engine/dispatch/whatsapp.py does).
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

# Meta's error codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
RATE_LIMIT_CODES = frozenset({4, 80007, 130429})  # the app or the business number sends too fast
PAIR_RATE_LIMIT = 131056  # too many messages to one recipient in a short time
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})  # unknown, service temporarily unavailable
AUTH_CODES = frozenset({0, 190})  # the access token is missing, expired or revoked
REENGAGEMENT = 131047  # more than 24 hours since the customer last replied: a template is needed


class CloudApiError(Exception):
    def __init__(
        self,
        status: int | None,
        code: int | None,
        message: str,
        *,
        retry_after: float | None = None,
        sent_maybe: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status  # None: no HTTP answer at all
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.sent_maybe = sent_maybe

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.code in RATE_LIMIT_CODES or self.code == PAIR_RATE_LIMIT

    @property
    def transient(self) -> bool:
        if self.status is None or self.status >= 500:
            return True
        return self.code in TRANSIENT_CODES

    @property
    def auth(self) -> bool:
        return self.status == 401 or self.code in AUTH_CODES


class SentMessage(msgspec.Struct, frozen=True):
    wamid: str
    wa_id: str  # the recipient as WhatsApp knows them
    message_status: str = "accepted"


class SubmittedTemplate(msgspec.Struct, frozen=True):
    id: str
    status: str
    category: str


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error(response: httpx.Response) -> CloudApiError:
    code: int | None = None
    message = response.reason_phrase or "error"
    try:
        body = response.json()
        error = body.get("error", {}) if isinstance(body, dict) else {}
        if isinstance(error, dict):
            raw_code = error.get("code")
            code = raw_code if isinstance(raw_code, int) else None
            details = (error.get("error_data") or {}).get("details") if isinstance(error, dict) else None
            message = str(details or error.get("message") or message)
    except ValueError:
        pass
    return CloudApiError(response.status_code, code, message, retry_after=_retry_after(response))


class CloudApi:
    def __init__(self, base_url: str, version: str, access_token: str, *, timeout: float = 15.0) -> None:
        self.version = version
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"Authorization": f"Bearer {access_token}"},
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._client.request(method, f"/{self.version}/{path}", **kwargs)
        except httpx.TimeoutException as exc:
            # a timeout after the request went out may still have sent the message
            raise CloudApiError(None, None, f"no answer: {exc!r}", sent_maybe=True) from None
        except httpx.TransportError as exc:
            raise CloudApiError(None, None, f"cannot reach the Cloud API: {exc!r}") from None
        if response.status_code >= 400:
            raise _error(response)
        try:
            body = response.json()
        except ValueError:
            raise CloudApiError(response.status_code, None, "not JSON", sent_maybe=True) from None
        if not isinstance(body, dict):
            raise CloudApiError(response.status_code, None, "not a JSON object", sent_maybe=True)
        return body

    async def send_message(self, phone_number_id: str, payload: bytes) -> SentMessage:
        body = await self._request(
            "POST", f"{phone_number_id}/messages", content=payload,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        try:
            message = body["messages"][0]
            contact = (body.get("contacts") or [{}])[0]
            return SentMessage(str(message["id"]), str(contact.get("wa_id", "")),
                               str(message.get("message_status", "accepted")))  # fmt: skip
        except (KeyError, IndexError, TypeError):
            raise CloudApiError(200, None, f"no message id in {body!r}", sent_maybe=True) from None

    async def create_template(
        self, waba_id: str, name: str, language: str, category: str, components: list[dict[str, Any]]
    ) -> SubmittedTemplate:
        body = await self._request(
            "POST",
            f"{waba_id}/message_templates",
            json={"name": name, "language": language, "category": category, "components": components},
        )
        return SubmittedTemplate(
            str(body.get("id", "")), str(body.get("status", "PENDING")), str(body.get("category", category))
        )

    async def delete_template(self, waba_id: str, name: str) -> None:
        await self._request("DELETE", f"{waba_id}/message_templates", params={"name": name})

    async def edit_template(
        self, template_id: str, components: list[dict[str, Any]], category: str | None = None
    ) -> None:
        """Edit a template at Meta (POST /{template_id}): it goes back to review."""
        body: dict[str, Any] = {"components": components}
        if category is not None:
            body["category"] = category
        await self._request("POST", template_id, json=body)

    async def request_code(self, phone_number_id: str, code_method: str, language: str) -> None:
        """Ask Meta to send the number's verification code by SMS or voice call."""
        await self._request(
            "POST", f"{phone_number_id}/request_code", json={"code_method": code_method, "language": language}
        )
