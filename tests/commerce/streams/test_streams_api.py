"""`/streams` over HTTP against the fake Cloudflare Stream API: create, read, list, end."""

from __future__ import annotations

import httpx
import orjson
from jose import jwt
from sqlalchemy import select

from commerce.context import AppContext
from commerce.outbox import OutboxEvent
from commerce.streams.models import Stream
from shared import livedata
from tests.commerce.factories import make_product, make_user
from tests.fakes.cloudflare_stream import CUSTOMER_HOST, FakeCloudflareStream


async def _status_events(ctx: AppContext, stream_id: int) -> list[str]:
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.stream_id == stream_id).order_by(OutboxEvent.id)
        )
        return [
            orjson.loads(r.payload)["data"]["status"]
            for r in rows
            if r.event_type == "stream.status"
        ]


async def test_seller_creates_a_stream_with_ingest_playback_and_lineup(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    seller, headers = await make_user(ctx, "seller")
    p1 = await make_product(ctx, seller)
    p2 = await make_product(ctx, seller)
    created = await api.post(
        "/api/v1/streams",
        json={
            "title": " 夜市直播 ",
            "scheduled_at": "2026-12-01T12:00:00+08:00",
            "product_ids": [p2.id, p1.id],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "scheduled"
    assert body["title"] == "夜市直播"
    assert body["host_id"] == seller.id
    assert body["product_ids"] == [p2.id, p1.id]  # the host's order
    assert body["scheduled_at"].startswith("2026-12-01T04:00:00")

    # One live input was created at Cloudflare, recording on so a VOD follows the stream.
    [(uid, live_input)] = fake_cf.inputs.items()
    assert live_input["recording"]["mode"] == "automatic"
    assert body["ingest"] == {
        "rtmps_url": "rtmps://live.cloudflare.com:443/live/",
        "stream_key": live_input["rtmps"]["streamKey"],
        "srt_url": "srt://live.cloudflare.com:778",
        "srt_stream_id": live_input["srt"]["streamId"],
        "srt_passphrase": live_input["srt"]["passphrase"],
        "whip_url": live_input["webRTC"]["url"],
    }
    assert body["playback"]["hls_url"] == f"https://{CUSTOMER_HOST}/{uid}/manifest/video.m3u8"
    assert body["playback"]["dash_url"] == f"https://{CUSTOMER_HOST}/{uid}/manifest/video.mpd"

    # The gateway's view, and the event for the room, were written.
    meta = await livedata.get_stream(ctx.redis, body["id"])
    assert meta is not None
    assert (meta.host_id, meta.status, meta.product_ids) == (seller.id, "scheduled", [p2.id, p1.id])
    assert await livedata.get_product(ctx.redis, p1.id) is not None
    assert await _status_events(ctx, body["id"]) == ["scheduled"]

    # Viewers see playback but never the stream key; the host sees it.
    _, viewer = await make_user(ctx, "buyer")
    for who in ({}, viewer):
        seen = (await api.get(f"/api/v1/streams/{body['id']}", headers=who)).json()
        assert seen["ingest"] is None
        assert seen["playback"] == body["playback"]
    own = (await api.get(f"/api/v1/streams/{body['id']}", headers=headers)).json()
    assert own["ingest"]["stream_key"] == live_input["rtmps"]["streamKey"]

    listed = (await api.get("/api/v1/streams", params={"status": "scheduled"})).json()
    assert [s["id"] for s in listed["items"]] == [body["id"]]
    assert (await api.get("/api/v1/streams", params={"status": "live"})).json() == {
        "items": [],
        "next_cursor": None,
    }


async def test_list_is_cursor_paginated_newest_first(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    _, headers = await make_user(ctx, "seller")
    ids = []
    for n in range(3):
        response = await api.post("/api/v1/streams", json={"title": f"s{n}"}, headers=headers)
        ids.append(response.json()["id"])
    first = (await api.get("/api/v1/streams", params={"limit": 2})).json()
    assert [s["id"] for s in first["items"]] == ids[::-1][:2]
    second = (
        await api.get("/api/v1/streams", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [s["id"] for s in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None
    bad = await api.get("/api/v1/streams", params={"cursor": "!!"})
    assert bad.status_code == 422
    assert (await api.get("/api/v1/streams", params={"status": "paused"})).status_code == 422


async def test_lineup_must_be_the_sellers_own_active_products(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    seller, headers = await make_user(ctx, "seller")
    other, _ = await make_user(ctx, "seller")
    mine = await make_product(ctx, seller)
    theirs = await make_product(ctx, other)
    gone = await make_product(ctx, seller)
    async with ctx.sessions() as session, session.begin():
        (await session.get(type(gone), gone.id)).is_deleted = True  # type: ignore[union-attr]

    for product_ids, code in [
        ([mine.id, theirs.id], "invalid_products"),
        ([gone.id], "invalid_products"),
        ([999_999], "invalid_products"),
        ([mine.id, mine.id], "invalid_products"),
        (list(range(1, 52)), "invalid"),
        (["1"], "invalid"),
    ]:
        response = await api.post(
            "/api/v1/streams", json={"title": "x", "product_ids": product_ids}, headers=headers
        )
        assert response.status_code == 422, (product_ids, response.text)
        assert response.json()["error"]["code"] == code
    bad = await api.post(
        "/api/v1/streams", json={"title": "x", "product_ids": [theirs.id]}, headers=headers
    )
    assert bad.json()["error"]["details"] == {"product_ids": [theirs.id]}
    for body in (
        {"title": "  "},
        {"title": "x", "extra": 1},
        {},
        {"title": "x", "scheduled_at": "2026-12-01T12:00:00"},
    ):
        response = await api.post("/api/v1/streams", json=body, headers=headers)
        assert response.status_code == 422, body
    assert fake_cf.inputs == {}  # nothing was created at Cloudflare for a refused request


async def test_who_may_create_and_end(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    _, buyer = await make_user(ctx, "buyer")
    _, host = await make_user(ctx, "seller")
    _, other = await make_user(ctx, "seller")
    assert (await api.post("/api/v1/streams", json={"title": "x"})).status_code == 401
    assert (
        await api.post("/api/v1/streams", json={"title": "x"}, headers=buyer)
    ).status_code == 403
    stream = (await api.post("/api/v1/streams", json={"title": "x"}, headers=host)).json()
    url = f"/api/v1/streams/{stream['id']}/end"
    assert (await api.post(url)).status_code == 401
    assert (await api.post(url, headers=buyer)).status_code == 403
    assert (await api.post(url, headers=other)).status_code == 403
    assert (await api.get("/api/v1/streams/999999")).status_code == 404
    assert (await api.post("/api/v1/streams/999999/end", headers=host)).status_code == 404

    ended = await api.post(url, headers=host)
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert ended.json()["ended_at"] is not None
    again = await api.post(url, headers=host)  # ended is final; repeating changes nothing
    assert again.json()["status"] == "ended"
    assert await _status_events(ctx, stream["id"]) == ["scheduled", "ended"]
    meta = await livedata.get_stream(ctx.redis, stream["id"])
    assert meta is not None and meta.status == "ended"


async def test_provider_failure_is_a_503_and_creates_nothing(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    _, headers = await make_user(ctx, "seller")
    fake_cf.fail_next = 500
    response = await api.post("/api/v1/streams", json={"title": "x"}, headers=headers)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "stream_provider_error"
    async with ctx.sessions() as session:
        assert (await session.scalars(select(Stream))).all() == []


async def test_private_stream_gets_locally_signed_playback_tokens(
    api: httpx.AsyncClient,
    ctx: AppContext,
    fake_cf: FakeCloudflareStream,
    stream_signing_key: tuple[str, str],
) -> None:
    _, host = await make_user(ctx, "seller")
    _, viewer = await make_user(ctx, "buyer")
    created = await api.post(
        "/api/v1/streams", json={"title": "VIP", "is_private": True}, headers=host
    )
    assert created.status_code == 201
    stream = created.json()
    [(uid, live_input)] = fake_cf.inputs.items()
    assert live_input["recording"]["requireSignedURLs"] is True

    calls_before = len(fake_cf.requests)
    guest = (await api.get(f"/api/v1/streams/{stream['id']}")).json()
    assert guest["playback"] is None
    seen = (await api.get(f"/api/v1/streams/{stream['id']}", headers=viewer)).json()
    assert len(fake_cf.requests) == calls_before  # no API call per viewer
    hls = seen["playback"]["hls_url"]
    prefix = f"https://{CUSTOMER_HOST}/"
    assert hls.startswith(prefix) and hls.endswith("/manifest/video.m3u8")
    token = hls[len(prefix) :].split("/")[0]
    assert jwt.get_unverified_header(token)["kid"] == "8f926b2b01f383510025a78a4dcbf6a"
    claims = jwt.decode(token, stream_signing_key[1], algorithms=["RS256"])
    assert claims["sub"] == uid
    assert claims["kid"] == "8f926b2b01f383510025a78a4dcbf6a"
    assert claims["exp"] > claims["nbf"]


async def test_host_updates_title_schedule_and_lineup_until_the_end(
    api: httpx.AsyncClient, ctx: AppContext, fake_cf: FakeCloudflareStream
) -> None:
    seller, headers = await make_user(ctx, "seller")
    _, other = await make_user(ctx, "seller")
    p1 = await make_product(ctx, seller)
    p2 = await make_product(ctx, seller)
    stream = (
        await api.post(
            "/api/v1/streams", json={"title": "a", "product_ids": [p1.id]}, headers=headers
        )
    ).json()
    url = f"/api/v1/streams/{stream['id']}"

    patched = await api.patch(
        url, json={"title": "b", "product_ids": [p2.id, p1.id]}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["title"], patched.json()["product_ids"]) == ("b", [p2.id, p1.id])
    meta = await livedata.get_stream(ctx.redis, stream["id"])
    assert meta is not None and (meta.title, meta.product_ids) == ("b", [p2.id, p1.id])

    for body in ({}, {"title": None}, {"product_ids": None}, {"status": "live"}):
        assert (await api.patch(url, json=body, headers=headers)).status_code == 422, body
    assert (await api.patch(url, json={"title": "x"}, headers=other)).status_code == 403
    assert (await api.patch(url, json={"product_ids": [999_999]}, headers=headers)).json()["error"][
        "code"
    ] == "invalid_products"

    cleared = await api.patch(url, json={"product_ids": []}, headers=headers)
    assert cleared.json()["product_ids"] == []
    await api.post(f"{url}/end", headers=headers)
    late = await api.patch(url, json={"title": "c"}, headers=headers)
    assert late.status_code == 409 and late.json()["error"]["code"] == "stream_ended"
