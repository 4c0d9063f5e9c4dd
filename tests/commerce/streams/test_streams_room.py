"""End to end: Cloudflare's notification and the host's end reach the room as `stream_status`.

The API runs in-process with its outbox relay publishing to the Redis event stream; a real
gateway process consumes it and emits to a real socket.io client that joined the room.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx
import socketio

from commerce.context import AppContext
from commerce.streams.models import Stream
from tests.commerce.factories import make_user
from tests.fakes.cloudflare_stream import FakeCloudflareStream
from tests.helpers.procs import free_port, spawn, wait_http


async def test_status_changes_are_relayed_to_the_room(
    api: httpx.AsyncClient,
    ctx: AppContext,
    fake_cf: FakeCloudflareStream,
    service_env: dict[str, str],
) -> None:
    _, headers = await make_user(ctx, "seller")
    created = await api.post("/api/v1/streams", json={"title": "room"}, headers=headers)
    stream_id = created.json()["id"]
    async with ctx.sessions() as session:
        row = await session.get(Stream, stream_id)
        assert row is not None and row.live_input_uid
        uid = row.live_input_uid

    port = free_port()
    with spawn(
        [sys.executable, "-m", "realtime", "--port", str(port)], name="gateway", env=service_env
    ) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", proc=proc, timeout=30)
        _, viewer_headers = await make_user(ctx, "buyer")
        token = viewer_headers["Authorization"].removeprefix("Bearer ")
        client = socketio.AsyncClient(reconnection=False)
        received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        client.on("stream_status", received.put_nowait)
        await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=5)
        try:
            joined = await client.call("join", {"stream_id": stream_id}, timeout=5)
            assert joined["ok"] is True, joined

            fake_cf.connect(uid)
            headers_, body = fake_cf.notification(uid, "live_input.connected")
            response = await api.post(
                "/api/v1/webhooks/cloudflare-stream", content=body, headers=headers_
            )
            assert response.status_code == 204
            # The creation's `scheduled` may reach the room after the join (the relay runs
            # on its own schedule); it must come before `live`, never after it.
            live = await asyncio.wait_for(received.get(), 5)
            if live["status"] == "scheduled":
                live = await asyncio.wait_for(received.get(), 5)
            assert (live["stream_id"], live["status"]) == (stream_id, "live")

            ended = await api.post(f"/api/v1/streams/{stream_id}/end", headers=headers)
            assert ended.status_code == 200
            final = await asyncio.wait_for(received.get(), 5)
            assert (final["stream_id"], final["status"]) == (stream_id, "ended")
            assert isinstance(final["seq"], int) and final["seq"] > live["seq"]
        finally:
            await client.disconnect()


async def test_the_list_shows_each_streams_host_and_its_viewers_now(
    api: httpx.AsyncClient,
    ctx: AppContext,
    fake_cf: FakeCloudflareStream,
    service_env: dict[str, str],
) -> None:
    """The live list (and `/`) shows who hosts each stream and how many watch it: the count is
    the gateway's, read from the room's presence as two real viewers join and one leaves."""
    seller, headers = await make_user(ctx, "seller")
    watched = (await api.post("/api/v1/streams", json={"title": "a"}, headers=headers)).json()
    empty = (await api.post("/api/v1/streams", json={"title": "b"}, headers=headers)).json()

    async def listed() -> dict[int, dict[str, Any]]:
        page = (await api.get("/api/v1/streams")).json()["items"]
        return {s["id"]: s for s in page}

    port = free_port()
    with spawn(
        [sys.executable, "-m", "realtime", "--port", str(port)], name="gateway", env=service_env
    ) as proc:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", proc=proc, timeout=30)
        viewers = [socketio.AsyncClient(reconnection=False) for _ in range(2)]
        try:
            for client in viewers:  # guests: each socket counts once
                await client.connect(url, transports=["websocket"], wait_timeout=5)
                assert (await client.call("join", {"stream_id": watched["id"]}, timeout=5))["ok"]
            streams = await listed()
            assert streams[watched["id"]]["viewers"] == 2
            assert streams[empty["id"]]["viewers"] == 0
            assert streams[watched["id"]]["host"] == {
                "id": seller.id, "display_name": seller.display_name}
            one = (await api.get(f"/api/v1/streams/{watched['id']}")).json()
            assert one["viewers"] == 2 and one["host"]["display_name"] == seller.display_name

            assert (await viewers[0].call("leave", {"stream_id": watched["id"]}, timeout=5))["ok"]
            assert (await listed())[watched["id"]]["viewers"] == 1
        finally:
            for client in viewers:
                await client.disconnect()
