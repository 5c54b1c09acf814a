"""The OpenAPI document, the docs page, and a hypothesis run over every documented operation.

The fuzz reads /openapi.json (not the Python schemas), draws requests guided by each operation's schema
(or arbitrary JSON in its place), sends them to the running server, and checks the one promise that
holds for any input: never a 5xx (beyond 503 from a refusing engine), always the envelope and a request id.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http_api.conftest import Api

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has no infinity: httpx refuses to send one
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped by a JSON schema most of the time, arbitrary JSON the rest."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if depth > 4:
        return JSON_VALUES
    guided: st.SearchStrategy[Any]
    if "anyOf" in schema:
        guided = st.one_of([from_schema(s, components, depth + 1) for s in schema["anyOf"]])
    elif "enum" in schema:
        guided = st.sampled_from(schema["enum"])
    elif schema.get("type") == "string":
        if schema.get("format") == "date-time":
            guided = st.datetimes(timezones=st.just(None) | st.timezones()).map(lambda d: d.isoformat())
        else:
            guided = st.sampled_from(["+447700900123", "Acme", "Hi {{name}}", "", "12.50"]) | st.text(
                max_size=30
            )
    elif schema.get("type") == "integer":
        guided = st.integers(-5, 20_000)
    elif schema.get("type") == "number":
        guided = st.floats(allow_nan=False, allow_infinity=False)
    elif schema.get("type") == "boolean":
        guided = st.booleans()
    elif schema.get("type") == "null":
        guided = st.none()
    elif schema.get("type") == "array":
        guided = st.lists(from_schema(schema.get("items", {}), components, depth + 1), max_size=3)
    elif schema.get("type") == "object" and "properties" in schema:
        props = schema["properties"]
        required = set(schema.get("required", []))
        guided = st.fixed_dictionaries(
            {k: from_schema(v, components, depth + 1) for k, v in props.items() if k in required},
            optional={
                k: from_schema(v, components, depth + 1) for k, v in props.items() if k not in required
            },
        )
    else:
        return JSON_VALUES
    return st.one_of(guided, guided, guided, JSON_VALUES)


async def test_openapi_lists_every_operation_with_schemas_and_docs_render(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    ops = {(m.upper(), p) for p, methods in doc["paths"].items() for m in methods if m != "servers"}
    assert {("POST", "/v1/sms/send"), ("GET", "/v1/sms/{id}"), ("GET", "/v1/sms"),
            ("POST", "/v1/sms/preview"), ("POST", "/v1/sms/bulk"), ("GET", "/v1/billing/balance"),
            ("GET", "/v1/billing/transactions"),
            ("GET", "/v1/billing/usage"), ("POST", "/v1/billing/topup"), ("GET", "/v1/settings/api-keys"),
            ("POST", "/v1/settings/api-keys"), ("DELETE", "/v1/settings/api-keys/{id}")} <= ops  # fmt: skip
    send = doc["paths"]["/v1/sms/send"]["post"]
    body = doc["components"]["schemas"]["SendSms"]
    shapes = send["requestBody"]["content"]["application/json"]["schema"]["anyOf"]
    assert [s["$ref"].rsplit("/", 1)[-1] for s in shapes] == ["SendSms", "SandboxSendSms"]
    assert {"to", "from"} <= set(body["required"]) and body["additionalProperties"] is False
    assert {"body", "template_id"} <= set(body["properties"])  # one or the other
    assert "ErrorEnvelope" in doc["components"]["schemas"]
    page = await api.client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text and 'url: "/openapi.json"' in page.text
    assert not re.search(r"(src|href)=\"https?://", page.text), "no asset may come from another host"
    for asset in re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text):
        served = await api.client.get(asset)
        assert served.status_code == 200 and len(served.content) > 100, asset


POSTEVERYWHERE = ("/v1/posts/bulk", "/v1/posts/retry-failed")  # seed 003


async def test_fuzzing_every_operation_from_the_openapi_document_never_gives_a_500(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    components = doc["components"]["schemas"]
    operations = [
        (m.upper(), p, op)
        for p, methods in doc["paths"].items()
        for m, op in methods.items()
        if m != "servers"
    ]
    cases: list[tuple[str, str, dict[str, Any], Any, frozenset[str]]] = []

    def envelope_of(op: dict[str, Any]) -> frozenset[str]:
        """The top-level keys of the operation's documented error envelope (each document has its own)."""
        ref = op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
        return frozenset(components[ref.rsplit("/", 1)[1]]["properties"])

    def request_for(method: str, path: str, op: dict[str, Any]) -> st.SearchStrategy[Any]:
        query = {
            p["name"]: st.one_of(from_schema(p["schema"], components).map(str), st.text(max_size=10))
            for p in op["parameters"]
            if p["in"] == "query"
        }
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        return st.tuples(
            st.just(method),
            st.text(alphabet="0123456789abcdefsk_live", min_size=1, max_size=20).map(
                lambda ident: (
                    path.replace("{id}", ident)
                    .replace("{tag_id}", ident)
                    .replace("{contact_id}", ident)
                    .replace("{number}", ident)
                )
            ),
            st.fixed_dictionaries({}, optional=query),
            from_schema(body, components) if body else st.none(),
            st.just(envelope_of(op)),
        )

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of([request_for(*o) for o in operations]))
    def collect(case: tuple[str, str, dict[str, Any], Any, frozenset[str]]) -> None:
        cases.append(case)

    collect()
    assert len(cases) >= 30
    for method, path, query, body, envelope in cases:
        r = await api.client.request(
            method,
            path,
            params=query,
            json=body if method != "GET" else None,
            headers=api.headers(**{"X-Sandbox": "true"}),
        )
        assert r.status_code < 500 or r.status_code == 503, (method, path, query, body, r.text)
        assert r.headers["x-request-id"]
        if r.status_code >= 400:
            # each document's own envelope; seed 003's 422 is its bulk answer with every post refused
            expected = [envelope] + ([{"summary", "results"}] if path.startswith(POSTEVERYWHERE) else [])
            assert set(r.json()) in expected, r.text
