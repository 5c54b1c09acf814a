"""Connecting an X account through the X simulator as a user would: authorize, follow the redirect,
hand the code back. For tests and `smsengine run --demo`; never used by the production path.

    record = await connect_x_account(engine.social, account_id, sim, username="demo")
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from engine.social.accounts.store import AccountRecord
from engine.social.runtime import SocialLayer
from engine.social.simulation.x_api import XSimulator

REDIRECT_URI = "http://127.0.0.1/social/callback"


async def connect_x_account(
    layer: SocialLayer, account_id: int, sim: XSimulator, *, username: str
) -> AccountRecord:
    """`username` (a user of the simulator's world) approves the deployment's X app for `account_id`."""
    sim.world.authorizing_user = username
    start = await layer.x_oauth.begin(layer.store, account_id=account_id, redirect_uri=REDIRECT_URI)
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(start.url, follow_redirects=False)
    if answer.status_code != 302:
        raise RuntimeError(f"the X simulator refused the authorization: {answer.status_code} {answer.text}")
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    return await layer.x_oauth.complete(layer.store, layer.x, state=start.state, code=code)
