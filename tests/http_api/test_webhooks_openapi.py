"""The OpenAPI fuzz (tests/http_api/test_openapi.py) run over an app that includes the webhook, report
and template operations, until they are part of ROUTE_MODULES: never a 5xx, always the envelope."""

from __future__ import annotations

import pytest

from tests.http_api.test_openapi import (
    test_fuzzing_every_operation_from_the_openapi_document_never_gives_a_500,
)
from tests.http_api.test_webhooks_support import use_new_routes

__all__ = ["test_fuzzing_every_operation_from_the_openapi_document_never_gives_a_500"]


@pytest.fixture(autouse=True)
def _routes(monkeypatch: pytest.MonkeyPatch) -> None:
    use_new_routes(monkeypatch)
