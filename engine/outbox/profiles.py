"""Webhook profiles: how one document's webhooks are signed, shaped and retried, over one outbox.

Every webhook row names its profile (webhooks.profile); the sender (engine/outbox/webhooks.py) claims,
attempts and records deliveries the same way for all of them and asks the profile only for:

    body(delivery) -> bytes           the JSON the endpoint receives
    headers(delivery, body, now)      the signature and the other headers
    schedule                          seconds before each retry (len + 1 attempts in all)
    dead_letter                       after the last attempt: False = fail and deactivate the webhook
                                      (BulkSMSRates), True = move the delivery to the dead-letter list
                                      and keep the webhook active (BulkAPIs)

    bulksmsrates (seed 001)  {"id", "event", "created_at", "data"}
                             X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
                             X-Webhook-Id, X-Webhook-Timestamp (unix), X-Webhook-Event; 5 s, 30 s, 300 s
    bulkapis (seed 000)      {"event", "timestamp", "data"}
                             X-BulkAPIs-Signature: <hex HMAC-SHA256(secret, raw body)>
                             X-BulkAPIs-Event, X-BulkAPIs-Delivery-Id (uuid), X-BulkAPIs-Timestamp (ISO 8601);
                             up to 5 attempts, exponential backoff (10 s, 20 s, 40 s, 80 s), then dead letter
    xquik (seed 002)         {"schemaVersion": 1, "streamEventId", "deliveryId", "eventType", "username",
                             "occurredAt", "data"}; webhook.test: {"eventType", "data", "timestamp"}
                             X-Xquik-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + nonce + "."
                             + body)>, X-Xquik-Timestamp (unix milliseconds), X-Xquik-Nonce (32 hex);
                             10 s, 60 s, 300 s, 1800 s, then exhausted (dead letter, the webhook stays active)

This module is pure: no I/O, no clock of its own (`now` is passed in; xquik's nonce is random).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec

_JSON = msgspec.json.Encoder()


class Delivery(Protocol):
    """What a profile sees of a claimed delivery."""

    @property
    def uuid(self) -> str: ...
    @property
    def event(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def secret(self) -> str: ...
    def decoded_data(self) -> Any: ...


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class WebhookProfile:
    name: str
    body: Callable[[Delivery], bytes]
    headers: Callable[[Delivery, bytes, datetime], dict[str, str]]
    schedule: tuple[float, ...]
    dead_letter: bool

    @property
    def attempts(self) -> int:
        return len(self.schedule) + 1


def sign_bulksmsrates(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Webhook-Signature value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign_bulkapis(secret: str, body: bytes) -> str:
    """The X-BulkAPIs-Signature value: the hex HMAC-SHA256 of the raw body, nothing else signed."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _bulksmsrates_body(d: Delivery) -> bytes:
    return _JSON.encode(
        {"id": d.uuid, "event": d.event, "created_at": iso(d.created_at), "data": d.decoded_data()}
    )


def _bulksmsrates_headers(d: Delivery, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "Content-Type": "application/json",
        "User-Agent": "smsengine-webhooks/1",
        "X-Webhook-Id": d.uuid,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": sign_bulksmsrates(d.secret, timestamp, body),
        "X-Webhook-Event": d.event,
    }


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def bulkapis_data(data: Any) -> Any:
    """An event's data in the BulkAPIs document's shape: camelCase, the connected account as `accountId`
    ("acc_<id>"), an inbound DM as its dm.received example (conversationId, messageId, senderId,
    senderUsername, text, createdAt), a social job's outcome with its `jobId`."""
    if not isinstance(data, dict) or "social_account_id" not in data:
        return {_camel(k): v for k, v in data.items()} if isinstance(data, dict) else data
    out: dict[str, Any] = {"accountId": f"acc_{data['social_account_id']}", "platform": data.get("platform")}
    author = data.get("author") if isinstance(data.get("author"), dict) else None
    if author is not None:  # an inbox item (engine/social/inbox/poller.py item_data)
        kind = data.get("kind")
        common = {"text": data.get("text"), "createdAt": data.get("created_at")}
        if kind == "dm":
            out |= {"conversationId": data.get("conversation_id"), "messageId": data.get("id"),
                    "senderId": author.get("id"), "senderUsername": author.get("username")}  # fmt: skip
        else:
            out |= {"postId": data.get("post_id"), "commentId": data.get("id"),
                    "inReplyTo": data.get("in_reply_to"), "authorId": author.get("id"),
                    "authorUsername": author.get("username")}  # fmt: skip
        return out | common
    skip = {"social_account_id", "platform", "final_at"}
    out |= {_camel(k): v for k, v in data.items() if k not in skip}
    out["finishedAt"] = data.get("final_at")
    return out


def _bulkapis_body(d: Delivery) -> bytes:
    data = bulkapis_data(d.decoded_data())
    return _JSON.encode({"event": d.event, "timestamp": iso(d.created_at), "data": data})


def _bulkapis_headers(d: Delivery, body: bytes, now: datetime) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "smsengine-webhooks/1",
        "X-BulkAPIs-Signature": sign_bulkapis(d.secret, body),
        "X-BulkAPIs-Event": d.event,
        "X-BulkAPIs-Delivery-Id": d.uuid,
        "X-BulkAPIs-Timestamp": iso(now),
    }


def sign_xquik(secret: str, timestamp_ms: int, nonce: str, body: bytes) -> str:
    """The X-Xquik-Signature value: "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<nonce>.<body>"."""
    signed = f"{timestamp_ms}.{nonce}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _xquik_body(d: Delivery) -> bytes:
    data = d.decoded_data()
    data = data if isinstance(data, dict) else {}
    if d.event == "webhook.test":
        return _JSON.encode({"eventType": d.event, "data": {"message": data.get("message", "")},
                             "timestamp": iso(d.created_at)})  # fmt: skip
    return _JSON.encode(
        {"schemaVersion": 1, "streamEventId": str(data.get("streamEventId", "")), "deliveryId": d.uuid,
         "eventType": d.event, "username": data.get("username"), "occurredAt": data.get("occurredAt"),
         "data": data.get("data", {})}
    )  # fmt: skip


def _xquik_headers(d: Delivery, body: bytes, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp() * 1000)
    nonce = secrets.token_hex(16)
    return {
        "Content-Type": "application/json",
        "User-Agent": "smsengine-webhooks/1",
        "X-Xquik-Timestamp": str(timestamp),
        "X-Xquik-Nonce": nonce,
        "X-Xquik-Signature": sign_xquik(d.secret, timestamp, nonce, body),
        "X-Xquik-Event": d.event,
        "X-Xquik-Delivery-Id": d.uuid,
    }


BULKSMSRATES = WebhookProfile(
    "bulksmsrates", _bulksmsrates_body, _bulksmsrates_headers, (5.0, 30.0, 300.0), dead_letter=False
)
BULKAPIS = WebhookProfile(
    "bulkapis", _bulkapis_body, _bulkapis_headers, (10.0, 20.0, 40.0, 80.0), dead_letter=True
)
XQUIK = WebhookProfile("xquik", _xquik_body, _xquik_headers, (10.0, 60.0, 300.0, 1800.0), dead_letter=True)
PROFILES: Mapping[str, WebhookProfile] = {p.name: p for p in (BULKSMSRATES, BULKAPIS, XQUIK)}
DEFAULT = BULKSMSRATES.name
