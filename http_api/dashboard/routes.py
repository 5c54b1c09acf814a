"""The dashboard's HTTP surface, behind an operator login (not the API's keys: operators are staff).

    GET  /dashboard            the page (303 to the login page without a valid session)
    GET  /dashboard/login      the login form;  POST: name + password -> session cookie, 303 to /dashboard
    POST /dashboard/logout     clears the cookie
    GET  /dashboard/events     server-sent events: a `snapshot` every dashboard.push_interval seconds
    GET  /dashboard/snapshot   the same snapshot once, as JSON (tools, tests)
    GET  /dashboard/static/... the page's script, styles and the vendored chart library (no CDN)

A session is a signed, HttpOnly, SameSite=Strict cookie (session.py); each request also checks that the
operator is still enabled. Failed logins from one address are slowed and then refused for a while, as
failed SMPP binds are (engine/customers/bind_guard.py). This module must never touch customers' data
beyond reading what the snapshot shows.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from engine.app import Engine
from engine.core.text_fields import text_problem
from engine.customers.bind_guard import BindGuard
from http_api.dashboard.operators import Operator, check_login, is_enabled
from http_api.dashboard.session import COOKIE, Sessions
from http_api.dashboard.snapshot import Snapshotter

STATIC = Path(__file__).with_name("static")

LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>smsengine operators</title>
<link rel="stylesheet" href="/dashboard/static/dashboard.css"></head>
<body class="login"><form method="post" action="/dashboard/login" class="card" id="login">
<h1>smsengine</h1><p>Operator sign-in</p>{error}
<label>Name <input name="name" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></body></html>
"""


async def _login_form(request: Request) -> dict[str, str]:
    """The urlencoded login form (a few hundred bytes at most: anything bigger is not a login)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 4096:
            return {}
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in fields.items() if v and not text_problem(v[0], 512)}


def routes(engine: Engine, *, closing: anyio.Event) -> list[BaseRoute]:
    settings = engine.settings.dashboard
    sessions = Sessions(settings.secret, hours=settings.session_hours, secure=settings.secure_cookie)
    snapshots = Snapshotter(engine)
    logins = BindGuard(delay_after=3, step=0.5, block_after=10, block_seconds=300)
    page = (STATIC / "dashboard.html").read_text()

    async def operator_of(request: Request) -> Operator | None:
        operator = sessions.read(request.cookies.get(COOKIE))
        if operator is None or not await is_enabled(engine.pool, operator.id):
            return None
        return operator

    async def dashboard(request: Request) -> Response:
        operator = await operator_of(request)
        if operator is None:
            return RedirectResponse("/dashboard/login", 303)
        return HTMLResponse(page.replace("{{operator}}", html.escape(operator.name)))

    async def login_form(request: Request) -> Response:
        return HTMLResponse(LOGIN_PAGE.format(error=""))

    async def login(request: Request) -> Response:
        peer = request.client.host if request.client else ""
        now = time.monotonic()
        if logins.blocked(peer, now):
            return HTMLResponse(LOGIN_PAGE.format(error="<p class=error>Too many failed sign-ins.</p>"), 429)
        form = await _login_form(request)
        name, password = form.get("name", ""), form.get("password", "")
        operator = await check_login(engine.pool, name, password) if name and password else None
        if operator is None:
            logins.failed(peer, now)
            await asyncio.sleep(logins.delay(peer, now))  # slows a guesser down
            error = "<p class=error>Wrong name or password.</p>"
            return HTMLResponse(LOGIN_PAGE.format(error=error), 401)
        response = RedirectResponse("/dashboard", 303)
        response.set_cookie(COOKIE, sessions.issue(operator), **sessions.cookie_options())  # type: ignore[arg-type]
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/dashboard/login", 303)
        response.delete_cookie(COOKIE, path="/dashboard")
        return response

    async def snapshot(request: Request) -> Response:
        if await operator_of(request) is None:
            return JSONResponse({"error": "sign in at /dashboard/login"}, 401)
        return JSONResponse(await snapshots.snapshot())

    async def events(request: Request) -> Response:
        if await operator_of(request) is None:
            return JSONResponse({"error": "sign in at /dashboard/login"}, 401)

        async def stream() -> AsyncIterator[dict[str, Any]]:
            while not closing.is_set():
                yield {"event": "snapshot", "data": json.dumps(await snapshots.snapshot())}
                with anyio.move_on_after(settings.push_interval):
                    await closing.wait()  # the pace of the pushes, cut short when the server stops

        return EventSourceResponse(stream(), ping=15, shutdown_event=closing)

    return [
        Route("/dashboard", dashboard, methods=["GET"], include_in_schema=False),
        Route("/dashboard/login", login_form, methods=["GET"], include_in_schema=False),
        Route("/dashboard/login", login, methods=["POST"], include_in_schema=False),
        Route("/dashboard/logout", logout, methods=["POST"], include_in_schema=False),
        Route("/dashboard/snapshot", snapshot, methods=["GET"], include_in_schema=False),
        Route("/dashboard/events", events, methods=["GET"], include_in_schema=False),
        Mount("/dashboard/static", app=StaticFiles(directory=str(STATIC)), name="dashboard-static"),
    ]
