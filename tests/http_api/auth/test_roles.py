"""Users of one account and their roles: `smsengine users add` invites one (a mailed link to choose a
password), and the role decides what their Bearer token may do."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from engine.identity.service import invite_user
from engine.simulation.mail_sink import MailSink
from tests.http_api.auth.conftest import bearer, link_in, login, next_mail
from tests.http_api.conftest import Api, sms

PASSWORD = "members only password"


async def _accept(api: Api, mail: MailSink, email: str) -> str:
    """Follow the invitation: choose a password with the mailed token, sign in, return the access token."""
    message = await next_mail(mail)
    assert message["To"] == email and "acme" in message["Subject"]
    token = parse_qs(urlsplit(link_in(message)).query)["token"][0]
    r = await api.client.post("/v1/auth/reset-password", json={"token": token, "password": PASSWORD})
    assert r.status_code == 200, r.text
    r = await login(api, email, PASSWORD)
    assert r.status_code == 200
    return str(r.json()["data"]["access_token"])


async def test_the_cli_invites_a_member_who_sends_and_reads_but_manages_no_keys(
    api: Api, mail: MailSink, database_url: str, tmp_path: Path
) -> None:
    env = dict(os.environ, SMSENGINE_DATABASE_URL=database_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smsengine.cli", "--config", str(tmp_path / "none.toml"),
        "users", "add", "acme", "bob@example.com", "--role", "member", "--name", "Bob",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert b"bob@example.com (member) added to acme" in out
    token = await _accept(api, mail, "bob@example.com")  # sent by the running engine's mail sender
    me = (await api.client.get("/v1/auth/me", headers=bearer(token))).json()["data"]
    assert me["role"] == "member" and me["account"]["id"] == api.stack.account_id and me["email_verified"]
    assert "keys.manage" not in me["permissions"] and "sms.send" in me["permissions"]
    assert (await api.client.post("/v1/sms/send", json=sms(), headers=bearer(token))).status_code == 202
    assert (await api.client.get("/v1/sms", headers=bearer(token))).status_code == 200
    r = await api.client.post("/v1/settings/api-keys", json={"name": "x"}, headers=bearer(token))
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"


async def test_an_admin_manages_keys_and_a_role_change_applies_to_live_tokens(
    api: Api, mail: MailSink
) -> None:
    settings = api.stack.engine.settings
    await invite_user(api.stack.pool, settings, api.stack.account_id, "carol@example.com", role="admin")
    api.stack.engine.identity.mail.wake()  # type: ignore[union-attr]
    token = await _accept(api, mail, "carol@example.com")
    r = await api.client.post("/v1/settings/api-keys", json={"name": "ci"}, headers=bearer(token))
    assert r.status_code == 201
    await api.stack.pool.execute("UPDATE users SET role = 'member' WHERE email = 'carol@example.com'")
    for _ in range(100):  # the change reaches the session cache within a poll interval (0.25 s)
        r = await api.client.post("/v1/settings/api-keys", json={"name": "ci2"}, headers=bearer(token))
        if r.status_code == 403:
            break
        await asyncio.sleep(0.02)
    assert r.status_code == 403
