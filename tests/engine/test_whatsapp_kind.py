"""The WhatsApp kind's pure parts: what each Cloud API failure means for a job, and Meta's webhook payloads
read as Meta documents them (examples from developers.facebook.com/docs/whatsapp/cloud-api/webhooks)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from engine.core.status import Status
from engine.dispatch.job import Reject, Retry
from engine.dispatch.whatsapp import outcome_of_error
from engine.whatsapp.cloud_api import CloudApiError
from engine.whatsapp.inbound import InvalidPayload, parse_payload, verify_signature
from engine.whatsapp.statuses import StatusUpdate, latest


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (CloudApiError(429, 130429, "throughput"), Retry("", pause_target=True)),
        (CloudApiError(400, 80007, "rate limit", retry_after=3.0), Retry("", delay=3.0, pause_target=True)),
        (CloudApiError(400, 131056, "pair rate limit"), Retry("", pause_target=False)),
        (CloudApiError(503, 131016, "unavailable"), Retry("")),
        (CloudApiError(None, None, "timeout", sent_maybe=True), Retry("", possible_duplicate=True)),
        (CloudApiError(401, 190, "token expired"), Reject(Status.FAILED, "", 190)),
        (CloudApiError(400, 131047, "re-engagement"), Reject(Status.REJECTED, "", 131047)),
        (CloudApiError(400, 132001, "template missing"), Reject(Status.REJECTED, "", 132001)),
    ],
)
def test_each_cloud_api_failure_is_one_attempt_outcome(
    error: CloudApiError, expected: Retry | Reject
) -> None:
    got = outcome_of_error(error)
    assert type(got) is type(expected)
    if isinstance(got, Retry) and isinstance(expected, Retry):
        assert (got.delay, got.pause_target, got.possible_duplicate) == (
            expected.delay, expected.pause_target, expected.possible_duplicate,
        )  # fmt: skip
    elif isinstance(got, Reject) and isinstance(expected, Reject):
        assert (got.status, got.error_code) == (expected.status, expected.error_code)


def test_signature_is_checked_by_metas_formula_over_the_raw_bytes() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    header = "sha256=" + hmac.new(b"app-secret", body, hashlib.sha256).hexdigest()
    assert verify_signature("app-secret", body, header)
    assert not verify_signature("app-secret", body + b" ", header)
    assert not verify_signature("another", body, header)
    assert not verify_signature("app-secret", body, None)
    assert not verify_signature("", body, header)  # no app secret configured: nothing is trusted


def test_a_webhook_payload_yields_its_messages_statuses_and_template_reviews() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WHATSAPP_BUSINESS_ACCOUNT_ID", "changes": [
            {"value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "16505553333", "phone_number_id": "27681414235104944"},
                "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551234"}],
                "messages": [{"from": "16315551234", "id": "wamid.ABGGFlCGg0cvAgo-sJQh43L5Pe4W",
                              "timestamp": "1603059201", "text": {"body": "Hello this is an answer"},
                              "type": "text"}],
            }, "field": "messages"},
            {"value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "16505553333", "phone_number_id": "27681414235104944"},
                "statuses": [{"id": "wamid.gBGGFlB5", "recipient_id": "16315551234", "status": "failed",
                              "timestamp": "1668814958",
                              "errors": [{"code": 131026, "title": "Message undeliverable",
                                          "error_data": {"details": "Message Undeliverable."}}]}],
            }, "field": "messages"},
            {"value": {"event": "REJECTED", "message_template_id": 594425479261596,
                       "message_template_name": "order_promo", "message_template_language": "en_US",
                       "reason": "INCORRECT_CATEGORY"}, "field": "message_template_status_update"},
            {"value": {"anything": "new"}, "field": "account_update"},  # fields Meta adds are ignored
        ]}],
    }  # fmt: skip
    batch = parse_payload(payload)
    [message] = batch.messages
    assert (message.phone_number_id, message.wa_id, message.text, message.profile_name) == (
        "27681414235104944", "16315551234", "Hello this is an answer", "Kerry Fisher",
    )  # fmt: skip
    assert message.at == datetime.fromtimestamp(1603059201, UTC)
    [status] = batch.statuses
    assert (status.wamid, status.status, status.error_code, status.reason) == (
        "wamid.gBGGFlB5", "failed", 131026, "Message Undeliverable.",
    )  # fmt: skip
    [review] = batch.templates
    assert (review.meta_id, review.name, review.event, review.reason) == (
        "594425479261596", "order_promo", "REJECTED", "INCORRECT_CATEGORY",
    )  # fmt: skip
    with pytest.raises(InvalidPayload):
        parse_payload({"object": "page"})


def test_the_furthest_status_of_a_wamid_wins() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    updates = [
        StatusUpdate("w1", "read", at), StatusUpdate("w1", "delivered", at), StatusUpdate("w2", "sent", at),
        StatusUpdate("w2", "failed", at),
    ]  # fmt: skip
    assert {u.wamid: u.status for u in latest(updates)} == {"w1": "read", "w2": "failed"}
