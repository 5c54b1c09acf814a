"""Operations endpoints outside the API's authentication: liveness, readiness and Prometheus metrics.

    GET /healthz   200 while the process serves requests at all (a liveness probe, the Docker HEALTHCHECK)
    GET /readyz    200 when the engine can carry traffic: PostgreSQL answers, Redis answers, and at least
                   one carrier bind is up; 503 otherwise, naming each failed check
    GET /metrics   Prometheus text format (engine/infra/metrics.py); with metrics.token set, only for
                   `Authorization: Bearer <token>`

This module must never change anything: it only looks.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.app import Engine
from engine.infra import metrics

CHECK_SECONDS = 2.0  # a dependency slower than this is not ready


async def _check(probe: Any) -> str | None:
    """None when the probe succeeds in time, else why not."""
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await probe
    except TimeoutError:
        return f"no answer within {CHECK_SECONDS:g} s"
    except Exception as exc:  # any failure of a dependency means not ready, whatever its kind
        return f"{type(exc).__name__}: {exc}"
    return None


async def readiness(engine: Engine, redis: aioredis.Redis) -> tuple[bool, dict[str, Any]]:
    database, cache = await asyncio.gather(_check(engine.pool.fetchval("SELECT 1")), _check(redis.ping()))
    bound = {name: link.bound for name, link in engine.links.items()}
    checks: dict[str, Any] = {
        "database": {"ok": database is None, **({"error": database} if database else {})},
        "redis": {"ok": cache is None, **({"error": cache} if cache else {})},
        "carriers": {"ok": any(bound.values()), "bound": bound},
    }
    return all(c["ok"] for c in checks.values()), checks


def routes(engine: Engine, redis: aioredis.Redis, *, metrics_token: str = "") -> list[Route]:
    registry = metrics.registry_for(engine)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        ready, checks = await readiness(engine, redis)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
        )

    async def metrics_page(request: Request) -> Response:
        if metrics_token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {metrics_token}".encode()):
                return Response("metrics need the configured bearer token\n", 401, media_type="text/plain")
        body = await asyncio.to_thread(metrics.render, registry)  # large label sets: off the loop
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"], include_in_schema=False),
        Route("/readyz", readyz, methods=["GET"], include_in_schema=False),
        Route("/metrics", metrics_page, methods=["GET"], include_in_schema=False),
    ]
