"""The API shell: health, readiness, metrics, the error envelope, limits, request ids."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager

from commerce.app import create_app
from commerce.context import AppContext
from shared.settings import CommerceSettings


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_readiness_fails_when_dependencies_are_unreachable(
    commerce_settings: CommerceSettings,
) -> None:
    broken = commerce_settings.model_copy(
        update={
            "database_url": "mysql+aiomysql://root@127.0.0.1:1/nope",
            "redis_url": "redis://127.0.0.1:1/0",
            "outbox_relay_enabled": False,
        }
    )
    ctx = AppContext.build(broken)
    app = create_app(broken, ctx=ctx)
    async with LifespanManager(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.get("/readyz")
    await ctx.close()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("error")
    assert body["checks"]["redis"].startswith("error")


async def test_unknown_route_gets_error_envelope(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_oversized_body_is_413(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/anything", content=b"x" * 1_000_001)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_request_id_is_echoed_or_made(api: httpx.AsyncClient) -> None:
    mine = await api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    made = await api.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


async def test_metrics_exposed(api: httpx.AsyncClient) -> None:
    await api.get("/healthz")
    text = (await api.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in text


async def test_openapi_served(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert spec["info"]["title"] == "Live Commerce API"
    assert (await api.get("/docs")).status_code == 200
