"""Every endpoint row of the BulkSMSRates document (seed 001) this engine serves, one test each, through a
real HTTP client against the running app: the documented path and method, the status, and the fields the
document (or, where it is silent, the OpenAPI document) names. Auth and WhatsApp rows are served by other
modules (see README); `ROWS` is the document's tables, in its order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from engine.simulation.stripe_standin import StripeStandIn
from http_api.server import serve_http
from tests.engine.harness import StackOptions
from tests.http_api.conftest import Api, sms

Case = Callable[[Api], Awaitable[tuple[httpx.Response, int, list[str]]]]
CASES: dict[tuple[str, str], Case] = {}


def row(method: str, path: str) -> Callable[[Case], Case]:
    def register(case: Case) -> Case:
        CASES[(method, path)] = case
        return case

    return register


@pytest.fixture
async def standin() -> AsyncIterator[StripeStandIn]:
    fake = StripeStandIn()
    async with serve_http(fake.app(), "127.0.0.1", 0) as server:
        fake.base_url = f"http://127.0.0.1:{server.port}"
        yield fake


@pytest.fixture
def stack_options(standin: StripeStandIn) -> StackOptions:
    payments = {"stripe_api_key": standin.api_key, "stripe_api_base": standin.base_url,
                "stripe_webhook_secret": standin.webhook_secret}  # fmt: skip
    return StackOptions(settings={"payments": payments})


# -------------------------------------------------------------------------------------------- helpers


async def post(api: Api, path: str, body: Any = None, **headers: str) -> httpx.Response:
    return await api.client.post(path, json=body, headers=api.headers(**headers))


async def data(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json()["data"]


async def message(api: Api) -> str:
    return str((await data(await post(api, "/v1/sms/send", sms()), 202))["message_id"])


async def contact(api: Api, phone: str = "+447700900001") -> int:
    return int((await data(await post(api, "/v1/contacts", {"phone": phone, "name": "Alice"}), 201))["id"])


async def tag(api: Api, name: str = "vip") -> int:
    return int((await data(await post(api, "/v1/contacts/tags", {"name": name}), 201))["id"])


async def group(api: Api) -> int:
    return int((await data(await post(api, "/v1/contacts/groups", {"name": "customers"}), 201))["id"])


async def campaign(api: Api, recipients: int = 1, rate: float = 10.0) -> str:
    body = {"name": "Spring Sale 2026", "from": "MyShop", "send_rate": rate,
            "body": "Hi {{name}}, get 30% off this weekend", "schedule_at": None}  # fmt: skip
    cid = str((await data(await post(api, "/v1/campaigns", body), 201))["id"])
    people = [{"to": f"+4477009{i:05d}", "variables": {"name": f"n{i}"}} for i in range(recipients)]
    await data(await post(api, f"/v1/campaigns/{cid}/recipients", {"recipients": people}), 200)
    return cid


async def sending(api: Api) -> str:
    await api.stack.pool.execute(
        "UPDATE accounts SET campaigns_trusted = true WHERE id = $1", api.stack.account_id
    )
    cid = await campaign(api, recipients=200, rate=1.0)  # one a second: still sending when paused
    await data(await post(api, f"/v1/campaigns/{cid}/submit"), 200)
    runner = api.stack.engine.campaigns
    assert runner is not None
    await runner.step()  # approved -> sending now, rather than at the next poll
    return cid


async def paid_invoice(api: Api) -> int:
    checkout = await data(await post(api, "/v1/billing/checkout", {"amount": 1000}), 201)
    async with httpx.AsyncClient() as customer:  # pays on the stand-in's page: it tells the engine
        paid = await customer.post(checkout["url"])
    assert paid.json()["webhook_status"] == 200
    invoices = (await api.client.get("/v1/billing/invoices", headers=api.headers())).json()["data"]
    return int(invoices[0]["id"])


async def webhook(api: Api) -> int:
    body = {"url": "https://example.com/hooks", "events": ["dlr", "opt_out", "campaign.completed"]}
    return int((await data(await post(api, "/v1/settings/webhooks", body), 201))["id"])


# ----------------------------------------------------------------------------------------------- rows


@row("POST", "/v1/sms/send")
async def _send(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await post(
        api, "/v1/sms/send", {"to": "+447700900123", "from": "MyApp", "body": "Hello from BulkSMSRates!"}
    )
    assert r.json()["data"]["message_id"] == r.json()["id"]
    return r, 202, ["@id", "@messageId", "@status", "@segments", "@cost_micros", "@cost", "message_id"]


@row("GET", "/v1/sms/{message_id}")
async def _sms_one(api: Api) -> tuple[httpx.Response, int, list[str]]:
    mid = await message(api)
    return (
        await api.client.get(f"/v1/sms/{mid}", headers=api.headers()),
        200,
        ["message_id", "status", "events"],
    )


@row("GET", "/v1/sms")
async def _sms_list(api: Api) -> tuple[httpx.Response, int, list[str]]:
    await message(api)
    r = await api.client.get("/v1/sms", params={"to": "+447700900123"}, headers=api.headers())
    return r, 200, ["[message_id", "[status"]


@row("POST", "/v1/sms/bulk")
async def _bulk(api: Api) -> tuple[httpx.Response, int, list[str]]:
    body = {"recipients": [{"to": "+447700900001", "variables": {"name": "Alice"}},
                           {"to": "+447700900002", "variables": {"name": "Bob"}}],
            "from": "MyApp", "body": "Hi {{name}}, your order is ready!",
            "client_ref": "batch-001"}  # fmt: skip
    r = await post(api, "/v1/sms/bulk", body)
    assert (r.json()["data"]["accepted"], r.json()["data"]["rejected"]) == (2, 0)
    return r, 202, ["batch_id", "accepted", "rejected", "cost_estimate", "currency"]


@row("GET", "/v1/campaigns/{id}")
async def _campaign_one(api: Api) -> tuple[httpx.Response, int, list[str]]:
    bulk = await data(await post(api, "/v1/sms/bulk", {"recipients": [{"to": "+447700900001"}], "from": "A",
                                                       "body": "x"}), 202)  # fmt: skip
    r = await api.client.get(f"/v1/campaigns/{bulk['batch_id']}", headers=api.headers())  # a batch
    assert r.json()["data"]["kind"] == "batch"
    cid = await campaign(api)
    r = await api.client.get(f"/v1/campaigns/{cid}", headers=api.headers())  # a campaign
    return r, 200, ["id", "state", "progress", "schedule_at"]


@row("POST", "/v1/campaigns")
async def _campaign_create(api: Api) -> tuple[httpx.Response, int, list[str]]:
    body = {"name": "Spring Sale 2026", "from": "MyShop", "schedule_at": "2026-03-15T08:00:00Z",
            "body": "Hi {{name}}, get 30% off this weekend: myshop.com/sale"}  # fmt: skip
    r = await post(api, "/v1/campaigns", body)
    assert r.json()["data"]["state"] == "draft"
    return r, 201, ["id", "name", "state", "schedule_at"]


@row("GET", "/v1/campaigns")
async def _campaign_list(api: Api) -> tuple[httpx.Response, int, list[str]]:
    await campaign(api)
    return await api.client.get("/v1/campaigns", headers=api.headers()), 200, ["[id", "[state"]


@row("POST", "/v1/campaigns/{id}/recipients")
async def _recipients(api: Api) -> tuple[httpx.Response, int, list[str]]:
    body = {"name": "c", "from": "MyShop", "body": "Hi {{name}}"}  # a draft with no recipients yet
    cid = str((await data(await post(api, "/v1/campaigns", body), 201))["id"])
    people = {"recipients": [{"to": "+447700900001", "variables": {"name": "Alice"}}]}
    return await post(api, f"/v1/campaigns/{cid}/recipients", people), 200, ["added", "total"]


@row("POST", "/v1/campaigns/{id}/submit")
async def _submit(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await post(api, f"/v1/campaigns/{await campaign(api)}/submit")
    assert r.json()["data"]["state"] == "pending_approval"
    return r, 200, ["state"]


@row("POST", "/v1/campaigns/{id}/pause")
async def _pause(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await post(api, f"/v1/campaigns/{await sending(api)}/pause")
    assert r.json()["data"]["state"] == "paused"
    return r, 200, ["state", "progress"]


@row("POST", "/v1/campaigns/{id}/resume")
async def _resume(api: Api) -> tuple[httpx.Response, int, list[str]]:
    cid = await sending(api)
    await data(await post(api, f"/v1/campaigns/{cid}/pause"), 200)
    r = await post(api, f"/v1/campaigns/{cid}/resume")
    assert r.json()["data"]["state"] == "sending"
    return r, 200, ["state"]


@row("POST", "/v1/campaigns/{id}/cancel")
async def _cancel(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await post(api, f"/v1/campaigns/{await campaign(api)}/cancel")
    assert r.json()["data"]["state"] == "cancelled"
    return r, 200, ["state"]


@row("GET", "/v1/contacts")
async def _contacts(api: Api) -> tuple[httpx.Response, int, list[str]]:
    await contact(api)
    return await api.client.get("/v1/contacts", headers=api.headers()), 200, ["[id", "[phone", "[tags"]


@row("POST", "/v1/contacts")
async def _contact_create(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await post(
        api, "/v1/contacts", {"phone": "+447700900001", "name": "Alice Smith", "email": "a@example.com"}
    )
    return r, 201, ["id", "phone", "name", "email"]


@row("PATCH", "/v1/contacts/{id}")
async def _contact_patch(api: Api) -> tuple[httpx.Response, int, list[str]]:
    cid = await contact(api)
    r = await api.client.patch(f"/v1/contacts/{cid}", json={"name": "Alice Jones"}, headers=api.headers())
    assert r.json()["data"]["name"] == "Alice Jones"
    return r, 200, ["id", "name"]


@row("DELETE", "/v1/contacts/{id}")
async def _contact_delete(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return (
        await api.client.delete(f"/v1/contacts/{await contact(api)}", headers=api.headers()),
        200,
        ["deleted"],
    )


@row("POST", "/v1/contacts/{id}/tags")
async def _contact_tag(api: Api) -> tuple[httpx.Response, int, list[str]]:
    cid, tid = await contact(api), await tag(api)
    r = await post(api, f"/v1/contacts/{cid}/tags", {"tag_id": tid})
    assert r.json()["data"]["tags"] == ["vip"]
    return r, 200, ["id", "tags"]


@row("DELETE", "/v1/contacts/{id}/tags/{tag_id}")
async def _contact_untag(api: Api) -> tuple[httpx.Response, int, list[str]]:
    cid, tid = await contact(api), await tag(api)
    await data(await post(api, f"/v1/contacts/{cid}/tags", {"tag_id": tid}), 200)
    r = await api.client.delete(f"/v1/contacts/{cid}/tags/{tid}", headers=api.headers())
    assert r.json()["data"]["tags"] == []
    return r, 200, ["id", "tags"]


@row("GET", "/v1/contacts/groups")
async def _groups(api: Api) -> tuple[httpx.Response, int, list[str]]:
    await group(api)
    return (
        await api.client.get("/v1/contacts/groups", headers=api.headers()),
        200,
        ["[id", "[name", "[members"],
    )


@row("POST", "/v1/contacts/groups")
async def _group_create(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return await post(api, "/v1/contacts/groups", {"name": "customers"}), 201, ["id", "name", "members"]


@row("DELETE", "/v1/contacts/groups/{id}")
async def _group_delete(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return (
        await api.client.delete(f"/v1/contacts/groups/{await group(api)}", headers=api.headers()),
        200,
        ["deleted"],
    )


@row("POST", "/v1/contacts/groups/{id}/import")
async def _group_import(api: Api) -> tuple[httpx.Response, int, list[str]]:
    gid = await group(api)
    csv = ("phone,name,email,custom_field\n+447700900001,Alice Smith,alice@example.com,VIP\n"
           "+447700900002,Bob Jones,bob@example.com,Standard\n")  # fmt: skip
    r = await api.client.post(f"/v1/contacts/groups/{gid}/import", content=csv.encode(),
                              headers=api.headers(**{"Content-Type": "text/csv"}))  # fmt: skip
    assert r.json()["data"]["imported"] == 2
    members = (await api.client.get(f"/v1/contacts/groups/{gid}", headers=api.headers())).json()["data"]
    assert members["members"] == 2
    return r, 200, ["imported", "updated", "rejected"]


@row("GET", "/v1/contacts/tags")
async def _tags(api: Api) -> tuple[httpx.Response, int, list[str]]:
    await tag(api)
    return await api.client.get("/v1/contacts/tags", headers=api.headers()), 200, ["[id", "[name"]


@row("POST", "/v1/contacts/tags")
async def _tag_create(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return await post(api, "/v1/contacts/tags", {"name": "vip"}), 201, ["id", "name"]


@row("DELETE", "/v1/contacts/tags/{id}")
async def _tag_delete(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return (
        await api.client.delete(f"/v1/contacts/tags/{await tag(api)}", headers=api.headers()),
        200,
        ["deleted"],
    )


@row("GET", "/v1/billing/balance")
async def _balance(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await api.client.get("/v1/billing/balance", headers=api.headers())
    assert r.json()["data"]["balance"] == 10_000  # integer cents: 100.00
    return (
        r,
        200,
        ["balance", "credit_limit", "available", "currency", "low_balance_threshold", "auto_topup_enabled"],
    )


@row("GET", "/v1/billing/transactions")
async def _transactions(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return (
        await api.client.get("/v1/billing/transactions", headers=api.headers()),
        200,
        ["[id", "[amount", "[type"],
    )


@row("GET", "/v1/billing/invoices")
async def _invoices(api: Api) -> tuple[httpx.Response, int, list[str]]:
    await paid_invoice(api)
    return await api.client.get("/v1/billing/invoices", headers=api.headers()), 200, ["[number", "[total"]


@row("GET", "/v1/billing/invoices/{id}")
async def _invoice(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await api.client.get(f"/v1/billing/invoices/{await paid_invoice(api)}", headers=api.headers())
    return r, 200, ["number", "total", "lines", "pdf_url"]


@row("GET", "/v1/billing/invoices/{id}/pdf")
async def _invoice_pdf(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await api.client.get(f"/v1/billing/invoices/{await paid_invoice(api)}/pdf", headers=api.headers())
    assert r.headers["content-type"] == "application/pdf" and r.content.startswith(b"%PDF-")
    return r, 200, []


@row("POST", "/v1/billing/checkout")
async def _checkout(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return await post(api, "/v1/billing/checkout", {"amount": 2000}), 201, ["id", "url", "amount", "currency"]


@row("GET", "/v1/billing/usage")
async def _usage(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return (
        await api.client.get("/v1/billing/usage", headers=api.headers()),
        200,
        ["messages", "cost", "currency"],
    )


@row("GET", "/v1/billing/usage/export")
async def _usage_export(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await api.client.get("/v1/billing/usage/export", headers=api.headers())
    assert r.headers["content-type"].startswith("text/csv") and r.text.startswith("period_start,")
    return r, 200, []


@row("POST", "/v1/billing/auto-topup")
async def _auto_topup(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await post(api, "/v1/billing/auto-topup", {"enabled": True, "threshold": 500, "amount": 2000})
    return r, 200, ["enabled", "threshold", "amount", "currency"]


@row("GET", "/v1/reports/messages")
async def _report(api: Api) -> tuple[httpx.Response, int, list[str]]:
    await message(api)
    # (a status filter would race the message's own progress: queued now, sent a moment later)
    params = {"destination": "+447700900123", "page_size": "500"}
    return (
        await api.client.get("/v1/reports/messages", params=params, headers=api.headers()),
        200,
        ["[message_id", "[status"],
    )


@row("GET", "/v1/reports/dlr-stats")
async def _stats(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return (
        await api.client.get("/v1/reports/dlr-stats", headers=api.headers()),
        200,
        ["sent", "delivered", "failed"],
    )


@row("GET", "/v1/settings/webhooks")
async def _webhooks(api: Api) -> tuple[httpx.Response, int, list[str]]:
    await webhook(api)
    return (
        await api.client.get("/v1/settings/webhooks", headers=api.headers()),
        200,
        ["[id", "[url", "[events"],
    )


@row("POST", "/v1/settings/webhooks")
async def _webhook_create(api: Api) -> tuple[httpx.Response, int, list[str]]:
    body = {"url": "https://example.com/hooks", "events": ["dlr", "opt_out", "campaign.completed",
                                                            "campaign.failed", "balance.low",
                                                            "whatsapp.message"]}  # fmt: skip
    return await post(api, "/v1/settings/webhooks", body), 201, ["id", "url", "events", "secret"]


@row("PATCH", "/v1/settings/webhooks/{id}")
async def _webhook_patch(api: Api) -> tuple[httpx.Response, int, list[str]]:
    wid = await webhook(api)
    r = await api.client.patch(f"/v1/settings/webhooks/{wid}", json={"events": ["balance.low"]},
                               headers=api.headers())  # fmt: skip
    return r, 200, ["id", "events"]


@row("DELETE", "/v1/settings/webhooks/{id}")
async def _webhook_delete(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return (
        await api.client.delete(f"/v1/settings/webhooks/{await webhook(api)}", headers=api.headers()),
        200,
        ["deleted"],
    )


@row("GET", "/v1/settings/profile")
async def _profile(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return await api.client.get("/v1/settings/profile", headers=api.headers()), 200, ["account", "timezone"]


@row("PATCH", "/v1/settings/profile")
async def _profile_patch(api: Api) -> tuple[httpx.Response, int, list[str]]:
    body = {"display_name": "Acme", "timezone": "Europe/London"}
    r = await api.client.patch("/v1/settings/profile", json=body,
                               headers=api.headers())  # fmt: skip
    return r, 200, ["display_name", "timezone"]


@row("GET", "/v1/settings/api-keys")
async def _keys(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return await api.client.get("/v1/settings/api-keys", headers=api.headers()), 200, ["[id", "[name"]


@row("POST", "/v1/settings/api-keys")
async def _key_create(api: Api) -> tuple[httpx.Response, int, list[str]]:
    body = {"name": "Production Server", "permissions": ["sms.send", "billing.read", "reports.read"]}
    return await post(api, "/v1/settings/api-keys", body), 201, ["id", "name", "key", "secret", "created_at"]


@row("DELETE", "/v1/settings/api-keys/{id}")
async def _key_delete(api: Api) -> tuple[httpx.Response, int, list[str]]:
    key = (await data(await post(api, "/v1/settings/api-keys", {"name": "old"}), 201))["id"]
    return await api.client.delete(f"/v1/settings/api-keys/{key}", headers=api.headers()), 200, ["revoked_at"]


@row("GET", "/v1/settings/sender-ids")
async def _senders(api: Api) -> tuple[httpx.Response, int, list[str]]:
    await data(await post(api, "/v1/settings/sender-ids", {"sender_id": "MyShop"}), 201)
    return (
        await api.client.get("/v1/settings/sender-ids", headers=api.headers()),
        200,
        ["[sender_id", "[status"],
    )


@row("POST", "/v1/settings/sender-ids")
async def _sender_request(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await post(api, "/v1/settings/sender-ids", {"sender_id": "MyShop", "use_case": "receipts"})
    assert r.json()["data"]["status"] == "pending"
    return r, 201, ["id", "sender_id", "status"]


@row("GET", "/v1/settings/smpp")
async def _smpp(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return (
        await api.client.get("/v1/settings/smpp", headers=api.headers()),
        200,
        ["system_id", "host", "port"],
    )


@row("POST", "/v1/settings/smpp/regenerate")
async def _smpp_regenerate(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return await post(api, "/v1/settings/smpp/regenerate"), 200, ["system_id", "password"]


@row("GET", "/v1/settings/notifications")
async def _notifications(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return await api.client.get("/v1/settings/notifications", headers=api.headers()), 200, ["low_balance"]


@row("PATCH", "/v1/settings/notifications")
async def _notifications_patch(api: Api) -> tuple[httpx.Response, int, list[str]]:
    r = await api.client.patch(
        "/v1/settings/notifications", json={"weekly_report": True}, headers=api.headers()
    )
    return r, 200, ["weekly_report"]


@row("POST", "/api/v1/sms/send")
async def _sandbox_send(api: Api) -> tuple[httpx.Response, int, list[str]]:
    body = {"destination": "+447700900123", "message": "Test — not sent!", "sender_id": "Test"}
    r = await post(api, "/api/v1/sms/send", body, **{"X-Sandbox": "true"})
    assert r.json()["status"] == "delivered" and r.json()["sandbox"] is True
    return r, 202, ["@id", "@status", "@sandbox"]


@row("GET", "/api/v1/sandbox/reset")
async def _sandbox_reset(api: Api) -> tuple[httpx.Response, int, list[str]]:
    return (
        await api.client.get("/api/v1/sandbox/reset", headers=api.headers(**{"X-Sandbox": "true"})),
        200,
        ["reset"],
    )


# The document's tables, in its order (Auth and WhatsApp rows: not this module's; see the README).
ROWS = [
    ("POST", "/v1/sms/send"), ("GET", "/v1/sms/{message_id}"), ("GET", "/v1/sms"),
    ("POST", "/v1/sms/bulk"), ("GET", "/v1/campaigns/{id}"),
    ("POST", "/v1/campaigns"), ("GET", "/v1/campaigns"), ("POST", "/v1/campaigns/{id}/recipients"),
    ("POST", "/v1/campaigns/{id}/submit"), ("POST", "/v1/campaigns/{id}/pause"),
    ("POST", "/v1/campaigns/{id}/resume"), ("POST", "/v1/campaigns/{id}/cancel"),
    ("GET", "/v1/contacts"), ("POST", "/v1/contacts"), ("PATCH", "/v1/contacts/{id}"),
    ("DELETE", "/v1/contacts/{id}"), ("POST", "/v1/contacts/{id}/tags"),
    ("DELETE", "/v1/contacts/{id}/tags/{tag_id}"), ("GET", "/v1/contacts/groups"),
    ("POST", "/v1/contacts/groups"), ("DELETE", "/v1/contacts/groups/{id}"),
    ("POST", "/v1/contacts/groups/{id}/import"), ("GET", "/v1/contacts/tags"), ("POST", "/v1/contacts/tags"),
    ("DELETE", "/v1/contacts/tags/{id}"),
    ("GET", "/v1/billing/balance"), ("GET", "/v1/billing/transactions"), ("GET", "/v1/billing/invoices"),
    ("GET", "/v1/billing/invoices/{id}"), ("GET", "/v1/billing/invoices/{id}/pdf"),
    ("POST", "/v1/billing/checkout"), ("GET", "/v1/billing/usage"), ("GET", "/v1/billing/usage/export"),
    ("POST", "/v1/billing/auto-topup"),
    ("GET", "/v1/reports/messages"), ("GET", "/v1/reports/dlr-stats"),
    ("GET", "/v1/settings/webhooks"), ("POST", "/v1/settings/webhooks"),
    ("PATCH", "/v1/settings/webhooks/{id}"),
    ("DELETE", "/v1/settings/webhooks/{id}"),
    ("GET", "/v1/settings/profile"), ("PATCH", "/v1/settings/profile"), ("GET", "/v1/settings/api-keys"),
    ("POST", "/v1/settings/api-keys"), ("DELETE", "/v1/settings/api-keys/{id}"),
    ("GET", "/v1/settings/sender-ids"), ("POST", "/v1/settings/sender-ids"), ("GET", "/v1/settings/smpp"),
    ("POST", "/v1/settings/smpp/regenerate"), ("GET", "/v1/settings/notifications"),
    ("PATCH", "/v1/settings/notifications"),
    ("POST", "/api/v1/sms/send"), ("GET", "/api/v1/sandbox/reset"),
]  # fmt: skip


def test_every_row_has_its_test() -> None:
    assert set(CASES) == set(ROWS) and len(ROWS) == len(set(ROWS)) == 53


def _has(body: Any, field: str) -> bool:
    if field.startswith("@"):  # top level (the curl example's fields)
        return field[1:] in body
    if field.startswith("["):  # every item of a list
        return bool(body["data"]) and all(field[1:] in item for item in body["data"])
    return field in body["data"]


@pytest.mark.parametrize(("method", "path"), ROWS, ids=[f"{m} {p}" for m, p in ROWS])
async def test_row(api: Api, standin: StripeStandIn, method: str, path: str) -> None:
    standin.webhook_url = f"{api.base_url}/v1/billing/stripe/webhook"
    r, status, fields = await CASES[(method, path)](api)
    assert r.request.method == method
    assert r.status_code == status, r.text
    # the OpenAPI document states this answer for this path (under /api when the row is /api/v1/...)
    doc = (await api.client.get("/openapi.json")).json()
    documented = path.removeprefix("/api").replace("{message_id}", "{id}")
    assert str(status) in doc["paths"][documented][method.lower()]["responses"]
    if not fields:
        return
    body = r.json()
    assert body["meta"]["request_id"] == r.headers["x-request-id"]
    if "[" in "".join(fields):
        assert set(body["pagination"]) == {"total", "page_size", "has_more", "cursor"}
    for field in fields:
        assert _has(body, field), (field, body)
