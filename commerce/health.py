"""Liveness, readiness and metrics endpoints (outside `/api/v1`, for probes and Prometheus)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from commerce.db import ping
from shared.redis import readiness as redis_readiness

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, degraded: str | None = None) -> JSONResponse:
    """Every dependency reachable (200) or not (503), as the contract has it.

    `?degraded=ok` asks instead whether this process can serve traffic, possibly degraded: the
    database is the truth and the checkout sells from it while Redis is down
    (commerce/orders/checkout/degraded.py), so only the database decides. That is the question
    a load balancer's readiness probe asks; with plain `/readyz` there, a Redis outage would take
    every API replica out of its Service and the database-only checkout would serve nobody.
    """
    ctx = request.app.state.ctx
    checks: dict[str, str] = {}

    async def check(name: str, probe: Awaitable[object]) -> None:
        try:
            verdict = await asyncio.wait_for(probe, timeout=2.0)
            checks[name] = verdict if isinstance(verdict, str) else "ok"
        except Exception as exc:  # any failure means not ready; say which
            checks[name] = f"error: {type(exc).__name__}"

    require_aof = request.app.state.settings.redis_require_aof
    await asyncio.gather(
        check("database", ping(ctx.engine)),
        check("redis", redis_readiness(ctx.redis, require_aof=require_aof)),
    )
    required = ("database",) if degraded == "ok" else tuple(checks)
    ready = all(checks[name] == "ok" for name in required)
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
