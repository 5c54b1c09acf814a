"""The OpenAPI fuzz (tests/http_api/test_openapi.py) run over an app that includes the campaign and contact
operations, until they are part of ROUTE_MODULES: never a 5xx, always the error envelope."""

from __future__ import annotations

from functools import partial

import pytest

from http_api import routes_campaigns, routes_contacts
from http_api.app import ROUTE_MODULES, create_app
from tests.http_api import conftest
from tests.http_api.test_openapi import (
    test_fuzzing_every_operation_from_the_openapi_document_never_gives_a_500,
)

__all__ = ["test_fuzzing_every_operation_from_the_openapi_document_never_gives_a_500"]


@pytest.fixture(autouse=True)
def _routes(monkeypatch: pytest.MonkeyPatch) -> None:
    modules = (*ROUTE_MODULES, routes_campaigns, routes_contacts)
    monkeypatch.setattr(conftest, "create_app", partial(create_app, modules=modules))
