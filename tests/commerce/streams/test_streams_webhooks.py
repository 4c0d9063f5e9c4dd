"""Cloudflare's deliveries drive the status: signed, fresh and once, or refused with 400."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlalchemy import select

from commerce.context import AppContext
from commerce.outbox import OutboxEvent
from commerce.streams import service
from commerce.streams.models import Stream
from shared import livedata
from tests.commerce.factories import make_user
from tests.fakes.cloudflare_stream import CUSTOMER_HOST, FakeCloudflareStream

HOOK = "/api/v1/webhooks/cloudflare-stream"


async def _stream(api: httpx.AsyncClient, ctx: AppContext) -> tuple[dict, str, dict[str, str]]:
    _, headers = await make_user(ctx, "seller")
    created = await api.post("/api/v1/streams", json={"title": "live"}, headers=headers)
    assert created.status_code == 201
    stream = created.json()
    async with ctx.sessions() as session:
        row = await session.get(Stream, stream["id"])
        assert row is not None and row.live_input_uid
        return stream, row.live_input_uid, headers


async def _send(api: httpx.AsyncClient, delivery: tuple[dict[str, str], bytes]) -> httpx.Response:
    headers, body = delivery
    return await api.post(HOOK, content=body, headers=headers)


async def _status(api: httpx.AsyncClient, stream_id: int) -> dict:
    return (await api.get(f"/api/v1/streams/{stream_id}")).json()


async def _events(ctx: AppContext, stream_id: int) -> list[str]:
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.stream_id == stream_id).order_by(OutboxEvent.id)
        )
        return [orjson.loads(r.payload)["data"]["status"] for r in rows]


async def test_connected_disconnected_ready_then_end(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    stream, uid, host = await _stream(api, ctx)

    fake_cf.connect(uid)
    assert (await _send(api, fake_cf.notification(uid, "live_input.connected"))).status_code == 204
    live = await _status(api, stream["id"])
    assert live["status"] == "live" and live["started_at"] is not None
    meta = await livedata.get_stream(ctx.redis, stream["id"])
    assert meta is not None and meta.status == "live"

    # A drop keeps the stream live (the encoder may reconnect) and publishes nothing.
    fake_cf.disconnect(uid)
    response = await _send(api, fake_cf.notification(uid, "live_input.disconnected"))
    assert response.status_code == 204
    assert (await _status(api, stream["id"]))["status"] == "live"

    # The recording is ready: it becomes the stream's VOD.
    video = fake_cf.record(uid)
    assert (await _send(api, fake_cf.video_webhook(video))).status_code == 204
    with_vod = await _status(api, stream["id"])
    assert with_vod["recording_video_uid"] == video["uid"]
    assert with_vod["playback"]["vod_hls_url"] == (
        f"https://{CUSTOMER_HOST}/{video['uid']}/manifest/video.m3u8"
    )

    ended = await api.post(f"/api/v1/streams/{stream['id']}/end", headers=host)
    assert ended.json()["status"] == "ended"
    # ended is final: a late connect of the same input changes nothing.
    assert (await _send(api, fake_cf.notification(uid, "live_input.connected"))).status_code == 204
    assert (await _status(api, stream["id"]))["status"] == "ended"
    assert await _events(ctx, stream["id"]) == ["scheduled", "live", "ended"]


async def test_forged_stale_replayed_and_unsigned_deliveries_are_refused(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    stream, uid, _ = await _stream(api, ctx)
    video = fake_cf.record(uid)

    def code(response: httpx.Response) -> str:
        assert response.status_code == 400, response.text
        return str(response.json()["error"]["code"])

    # Forged: wrong secrets, or a body changed after signing.
    assert code(await _send(api, fake_cf.video_webhook(video, secret="guess"))) == (
        "invalid_signature"
    )
    headers, body = fake_cf.video_webhook(video)
    tampered = body.replace(video["uid"].encode(), b"0" * 32)
    assert code(await api.post(HOOK, content=tampered, headers=headers)) == "invalid_signature"
    forged_note = fake_cf.notification(uid, "live_input.connected", secret="guess")
    assert code(await _send(api, forged_note)) == "invalid_signature"
    assert code(await api.post(HOOK, content=b"{}")) == "invalid_signature"
    bad_header = {"Webhook-Signature": "sig1=abc"}
    assert code(await api.post(HOOK, content=body, headers=bad_header)) == "invalid_signature"

    # Stale: correctly signed, but older than five minutes.
    old = int(time.time()) - 301
    assert code(await _send(api, fake_cf.video_webhook(video, at=old))) == "stale_webhook"
    stale_note = fake_cf.notification(uid, "live_input.connected", ts=old)
    assert code(await _send(api, stale_note)) == "stale_webhook"

    # Replayed: the very same delivery a second time.
    note = fake_cf.notification(uid, "live_input.connected")
    assert (await _send(api, note)).status_code == 204
    assert code(await _send(api, note)) == "replayed_webhook"
    ready = fake_cf.video_webhook(video)
    assert (await _send(api, ready)).status_code == 204
    assert code(await _send(api, ready)) == "replayed_webhook"

    # Malformed but authentic: still a 400 envelope, never a 500.
    assert (
        code(
            await _send(api, ({"cf-webhook-auth": "fake-notification-destination-secret"}, b"[1]"))
        )
        == "malformed_json"
    )
    assert code(
        await _send(
            api,
            ({"cf-webhook-auth": "fake-notification-destination-secret"}, b'{"data": {}, "ts": 1}'),
        )
    ) in {"invalid_payload", "stale_webhook"}
    # Only the authentic deliveries counted.
    assert await _events(ctx, stream["id"]) == ["scheduled", "live"]


async def test_unknown_inputs_and_other_videos_are_acknowledged_and_ignored(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    stream, uid, _ = await _stream(api, ctx)
    note = fake_cf.notification("f" * 32, "live_input.connected")
    assert (await _send(api, note)).status_code == 204
    upload = {**fake_cf.record(uid), "liveInput": None}  # a plain upload, not a recording
    assert (await _send(api, fake_cf.video_webhook(upload))).status_code == 204
    assert (await _status(api, stream["id"]))["status"] == "scheduled"
    assert (await _status(api, stream["id"]))["recording_video_uid"] is None


async def test_poll_catches_lost_notifications(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    stream, uid, _ = await _stream(api, ctx)
    other, other_uid, _ = await _stream(api, ctx)
    assert await service.poll_live_inputs(ctx) == 0  # nothing connected yet

    fake_cf.connect(uid)  # no notification arrives
    assert await service.poll_live_inputs(ctx) == 1
    assert (await _status(api, stream["id"]))["status"] == "live"

    # A short drop is tolerated; a long one ends the stream.
    fake_cf.disconnect(uid)
    assert await service.poll_live_inputs(ctx) == 0
    assert (await _status(api, stream["id"]))["status"] == "live"
    long_ago = datetime.now(UTC) - timedelta(seconds=ctx.settings.streams.auto_end_after_s + 5)
    fake_cf.disconnect(uid, entered_at=long_ago.isoformat().replace("+00:00", "Z"))
    assert await service.poll_live_inputs(ctx) == 1
    assert (await _status(api, stream["id"]))["status"] == "ended"
    assert (await _status(api, other["id"]))["status"] == "scheduled"
    assert await _events(ctx, stream["id"]) == ["scheduled", "live", "ended"]

    # Streams scheduled far ahead are not polled (Cloudflare's rate limit); the notification
    # still moves them.
    _, headers = await make_user(ctx, "seller")
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    far = (
        await api.post(
            "/api/v1/streams", json={"title": "later", "scheduled_at": later}, headers=headers
        )
    ).json()
    far_uid = next(u for u in fake_cf.inputs if u not in (uid, other_uid))
    fake_cf.connect(far_uid)
    calls = len(fake_cf.requests)
    assert await service.poll_live_inputs(ctx) == 0
    assert not [r for r in fake_cf.requests[calls:] if far_uid in r[1]]
    assert (await _status(api, far["id"]))["status"] == "scheduled"

    # A live input deleted at Cloudflare is logged and skipped, not fatal to the sweep.
    del fake_cf.inputs[other_uid]
    assert await service.poll_live_inputs(ctx) == 0
