"""GET /docs: Swagger UI over the generated /openapi.json, served from the swagger-ui-bundle-v2 wheel.

The assets (Swagger UI 5, which reads OpenAPI 3.1) come from the installed package, never from a CDN:
the engine's machine and its customers' networks may be offline. This module must never build the
OpenAPI document itself (openapi.py does).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head><body><div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout",
  validatorUrl: null, tryItOutEnabled: false
}});
</script></body></html>
"""


def routes(title: str) -> list[BaseRoute]:
    page = PAGE.format(title=title, assets=ASSETS)

    async def docs(request: Request) -> Response:
        return HTMLResponse(page)

    return [
        Route("/docs", docs, methods=["GET"], include_in_schema=False),
        Mount(ASSETS, app=StaticFiles(directory=str(swagger_ui_path)), name="docs-assets"),
    ]
