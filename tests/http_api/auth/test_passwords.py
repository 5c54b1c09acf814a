"""POST /v1/auth/forgot-password, /v1/auth/reset-password and /v1/auth/change-password: the reset link
arrives over SMTP (a local aiosmtpd server), works once, expires, and ends every session."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from engine.simulation.mail_sink import MailSink
from tests.http_api.auth.conftest import PASSWORD, bearer, link_in, login, next_mail, register
from tests.http_api.conftest import Api

NEW = "a brand new passphrase"


async def _reset_token(api: Api, mail: MailSink, email: str = "ada@example.com") -> str:
    r = await api.client.post("/v1/auth/forgot-password", json={"email": email})
    assert r.status_code == 202 and r.json()["data"]["status"] == "reset_mail_sent"
    message = await next_mail(mail)
    assert message["To"] == email and message["Subject"] == "Reset your password"
    link = link_in(message)
    assert link.startswith("http://dashboard.test/reset-password?token=")  # auth.reset_url, as configured
    return parse_qs(urlsplit(link).query)["token"][0]


async def _skip_verification_mail(mail: MailSink) -> None:
    assert (await next_mail(mail))["Subject"] == "Confirm your e-mail address"


async def test_the_mailed_reset_link_sets_a_new_password_once_and_ends_every_session(
    api: Api, mail: MailSink
) -> None:
    data = await register(api)
    await _skip_verification_mail(mail)
    token = await _reset_token(api, mail)
    r = await api.client.post("/v1/auth/reset-password", json={"token": token, "password": NEW})
    assert r.status_code == 200 and r.json()["data"]["status"] == "password_reset"
    assert (await login(api)).status_code == 401  # the old password is gone
    assert (await login(api, password=NEW)).status_code == 200
    assert (await api.client.get("/v1/auth/me", headers=bearer(data["access_token"]))).status_code == 401
    r = await api.client.post("/v1/auth/refresh", json={"refresh_token": data["refresh_token"]})
    assert r.status_code == 401
    r = await api.client.post(
        "/v1/auth/reset-password", json={"token": token, "new_password": "yet another one"}
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"  # single use
    # The mail outbox keeps no live token once the mail is sent.
    bodies = await api.stack.pool.fetch("SELECT body FROM mail_outbox WHERE sent_at IS NOT NULL")
    assert bodies and all(row["body"] == "" for row in bodies)


async def test_a_reset_link_expires_and_a_weak_password_keeps_it_usable(api: Api, mail: MailSink) -> None:
    await register(api)
    await _skip_verification_mail(mail)
    token = await _reset_token(api, mail)
    r = await api.client.post("/v1/auth/reset-password", json={"token": token, "password": "short"})
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] in ("password", "$.password")
    await api.stack.pool.execute("UPDATE user_tokens SET expires_at = now() - interval '1 second'")
    r = await api.client.post("/v1/auth/reset-password", json={"token": token, "password": NEW})
    assert r.status_code == 401
    assert (await login(api)).status_code == 200  # nothing changed
    r = await api.client.post("/v1/auth/reset-password", json={"token": "made-up", "password": NEW})
    assert r.status_code == 401


async def test_forgot_password_answers_the_same_for_unknown_addresses_and_mails_nobody(
    api: Api, mail: MailSink
) -> None:
    await register(api)
    await _skip_verification_mail(mail)
    for email in ["nobody@example.com", "not-an-address"]:
        r = await api.client.post("/v1/auth/forgot-password", json={"email": email})
        assert r.status_code == 202 and r.json()["data"]["status"] == "reset_mail_sent"
    await _reset_token(api, mail)  # the next mail to arrive is this one: none went to the unknown address
    assert mail.recipients == [["ada@example.com"], ["ada@example.com"]]


async def test_a_reset_clears_an_account_lock(api: Api, mail: MailSink) -> None:
    await register(api)
    await _skip_verification_mail(mail)
    for _ in range(5):
        await login(api, password="wrong password")
    assert (await login(api)).status_code == 429
    token = await _reset_token(api, mail)
    assert (
        await api.client.post("/v1/auth/reset-password", json={"token": token, "password": NEW})
    ).status_code == 200
    assert (await login(api, password=NEW)).status_code == 200


async def test_change_password_needs_the_current_one_and_ends_the_other_sessions(api: Api) -> None:
    data = await register(api)
    other = (await login(api)).json()["data"]
    headers = bearer(data["access_token"])
    body = {"current_password": "not it at all", "new_password": NEW}
    r = await api.client.post("/v1/auth/change-password", json=body, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    weak = {"current_password": PASSWORD, "new_password": "x"}
    r = await api.client.post("/v1/auth/change-password", json=weak, headers=headers)
    assert r.status_code == 400
    body = {"current_password": PASSWORD, "new_password": NEW}
    r = await api.client.post("/v1/auth/change-password", json=body, headers=headers)
    assert r.status_code == 200 and r.json()["data"]["status"] == "password_changed"
    assert (await api.client.get("/v1/auth/me", headers=headers)).status_code == 200  # this session goes on
    assert (await api.client.get("/v1/auth/me", headers=bearer(other["access_token"]))).status_code == 401
    assert (await login(api)).status_code == 401 and (await login(api, password=NEW)).status_code == 200
    r = await api.client.post("/v1/auth/change-password", json=body, headers=api.headers())
    assert r.status_code == 403  # an API key is no person: it has no password to change
    assert (await api.client.post("/v1/auth/change-password", json=body)).status_code == 401
