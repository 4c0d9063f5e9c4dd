"""`POST /streams/{id}/start` against Cloudflare (the fake speaks its API): live only once the
live input reports the encoder connected."""

from __future__ import annotations

import httpx

from commerce.context import AppContext
from tests.commerce.factories import make_user
from tests.commerce.streams.test_streams_webhooks import _events, _status, _stream
from tests.fakes.cloudflare_stream import FakeCloudflareStream


async def test_start_asks_cloudflare_whether_the_encoder_is_connected(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    stream, uid, host = await _stream(api, ctx)
    start = f"/api/v1/streams/{stream['id']}/start"

    refused = await api.post(start, headers=host)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "encoder_not_connected"
    assert (await _status(api, stream["id"]))["status"] == "scheduled"

    _, other_seller = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx, "buyer")
    fake_cf.connect(uid)  # the encoder connects; no notification reaches us
    assert (await api.post(start, headers=other_seller)).status_code == 403
    assert (await api.post(start, headers=buyer)).status_code == 403
    assert (await api.post("/api/v1/streams/999999/start", headers=host)).status_code == 404

    started = await api.post(start, headers=host)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "live" and started.json()["started_at"]
    again = await api.post(start, headers=host)
    assert again.status_code == 200 and again.json()["status"] == "live"
    assert await _events(ctx, stream["id"]) == ["scheduled", "live"]  # one live event

    assert (await api.post(f"/api/v1/streams/{stream['id']}/end", headers=host)).status_code == 200
    ended = await api.post(start, headers=host)
    assert ended.status_code == 409 and ended.json()["error"]["code"] == "stream_ended"
    assert await _events(ctx, stream["id"]) == ["scheduled", "live", "ended"]


async def test_sandbox_route_refuses_when_streams_use_cloudflare(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    stream, _, host = await _stream(api, ctx)
    answer = await api.post(
        f"/api/v1/sandbox/streams/{stream['id']}/encoder", json={"connected": True}, headers=host
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "stream_provider_not_sandbox"
    assert (await _status(api, stream["id"]))["status"] == "scheduled"
