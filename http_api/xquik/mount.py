"""The Xquik surface's route modules, mounted under PREFIX (/xquik/api/v1) by http_api/app.py.

Add a module: write `http_api/xquik/routes_<thing>.py` with OPERATIONS (paths f"{PREFIX}/...",
dialect=DIALECT or SESSION_DIALECT) and append it to ROUTE_MODULES below (one line). Any other path
under the prefix answers 404 not_found in the document's envelope (`routes()`). This module must
never hold a route's business.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from http_api.operations import request_id_of
from http_api.xquik import (
    routes_account,
    routes_credits,
    routes_data,
    routes_drafts,
    routes_keys,
    routes_monitors,
    routes_styles,
    routes_support,
    routes_x_accounts,
    routes_x_lookups,
    routes_x_write,
)
from http_api.xquik.dialect import PREFIX, error_response, xquik_error

ROUTE_MODULES: tuple[ModuleType, ...] = (
    routes_account,
    routes_keys,
    routes_credits,
    routes_support,
    routes_x_lookups,  # before routes_x_write: GET /x/tweets/search ahead of /x/tweets/{id}
    routes_x_write,
    routes_x_accounts,
    routes_drafts,
    routes_styles,
    routes_data,  # draws, extractions, media downloads
    routes_monitors,
)  # fmt: skip


async def _not_found(request: Request) -> Response:
    return error_response(xquik_error(404, "not_found", "no such endpoint"), request_id_of(request))


def routes() -> list[Any]:
    """After every operation's route: the rest of the prefix is the document's 404."""
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return [Route(PREFIX + "/{rest:path}", _not_found, methods=methods, include_in_schema=False)]
