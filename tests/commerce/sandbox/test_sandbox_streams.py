"""The stream sandbox (no Cloudflare credentials, development): the host's pretend encoder
reaches our own webhook as Cloudflare's notification and takes the stream live by itself."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from commerce import live_inputs
from commerce.app import create_app
from commerce.context import AppContext
from shared.errors import ConfigError
from shared.settings import CommerceSettings
from tests.commerce.factories import make_user
from tests.commerce.streams.test_streams_webhooks import _events, _status


async def _create(api: httpx.AsyncClient, ctx: AppContext) -> tuple[int, dict[str, str]]:
    _, host = await make_user(ctx, "seller")
    created = await api.post("/api/v1/streams", json={"title": "sandbox"}, headers=host)
    assert created.status_code == 201, created.text
    return int(created.json()["id"]), host


async def test_encoder_connects_through_cloudflares_notification(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    assert isinstance(ctx.live_inputs, live_inputs.LocalLiveInputs)
    stream_id, host = await _create(api, ctx)
    encoder = f"/api/v1/sandbox/streams/{stream_id}/encoder"
    start = f"/api/v1/streams/{stream_id}/start"
    refused = await api.post(start, headers=host)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "encoder_not_connected"

    _, stranger = await make_user(ctx, "seller")
    assert (await api.post(encoder, json={"connected": True}, headers=stranger)).status_code == 403
    assert (await api.post(encoder, json={"connected": True})).status_code == 401
    assert (await api.post(encoder, json={"connected": "yes"}, headers=host)).status_code == 422
    assert (await api.post(
        "/api/v1/sandbox/streams/999999/encoder", json={"connected": True}, headers=host
    )).status_code == 404
    assert (await _status(api, stream_id))["status"] == "scheduled"

    on = await api.post(encoder, json={"connected": True}, headers=host)
    assert on.status_code == 200, on.text
    assert on.json()["encoder"] == "connected"
    # The notification alone took it live (as Cloudflare's does); start then agrees.
    assert (await _status(api, stream_id))["status"] == "live"
    started = await api.post(start, headers=host)
    assert started.status_code == 200 and started.json()["status"] == "live"

    off = await api.post(encoder, json={"connected": False}, headers=host)
    assert off.status_code == 200 and off.json()["encoder"] == "disconnected"
    assert (await _status(api, stream_id))["status"] == "live"  # a drop does not end it
    assert await _events(ctx, stream_id) == ["scheduled", "live"]

    assert (await api.post(f"/api/v1/streams/{stream_id}/end", headers=host)).status_code == 200
    late = await api.post(encoder, json={"connected": True}, headers=host)
    assert late.status_code == 409 and late.json()["error"]["code"] == "stream_ended"
    assert await _events(ctx, stream_id) == ["scheduled", "live", "ended"]


async def test_production_mounts_no_sandbox_and_refuses_a_sandbox_provider(
    commerce_settings: CommerceSettings, ctx: AppContext
) -> None:
    production = commerce_settings.model_copy(update={"app_env": "production"})
    app = create_app(production, ctx=ctx)
    _, host = await make_user(ctx, "seller")
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        answer = await client.post(
            "/api/v1/sandbox/streams/1/encoder", json={"connected": True}, headers=host
        )
    assert answer.status_code == 404

    told = production.updated(streams={"provider": "sandbox"})
    with pytest.raises(ConfigError, match="STREAM_PROVIDER=sandbox"):
        told.check_production_safety()
    with pytest.raises(ValueError, match="STREAM_PROVIDER=cloudflare"):
        commerce_settings.updated(streams={"provider": "cloudflare"})
