"""The viewer page survives a dropped connection: it reconnects, asks `resume` from the last
seq it applied, and shows what the room said meanwhile, once each."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import socketio
from playwright.async_api import WebSocketRoute, expect

from tests.helpers.procs import Embedded
from tests.web.browser import PASSWORD, Offline, chromium, phone_context, seed_stream

pytestmark = pytest.mark.timeout(120)


class Cable:
    """The page's WebSocket to the gateway, through Playwright: it can be cut, and while it
    is down the page's reconnects wait; frames the page sends are recorded."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.up.set()
        self.current: WebSocketRoute | None = None
        self.sent: list[str] = []

    async def handle(self, ws: WebSocketRoute) -> None:
        await self.up.wait()
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if isinstance(message, str):
                self.sent.append(message)
            server.send(message)

        ws.on_message(to_server)
        self.current = ws

    async def cut(self) -> None:
        self.up.clear()
        assert self.current is not None
        await self.current.close()


async def test_a_dropped_viewer_resumes_and_misses_nothing(platform: Embedded) -> None:
    seed = await seed_stream(platform.api)
    async with httpx.AsyncClient(base_url=f"{platform.api}/api/v1", timeout=15) as http:
        login = await http.post(
            "/auth/login", json={"email": seed.seller_email, "password": PASSWORD})
        token = login.json()["access_token"]
    cable = Cable()
    async with chromium() as browser:
        context = await phone_context(browser, Offline())
        viewer = await context.new_page()
        await viewer.route_web_socket("**/socket.io/**", cable.handle)
        await viewer.goto(f"{platform.api}/watch/{seed.stream_id}?lang=en")

        host = socketio.AsyncClient(reconnection=False)
        await host.connect(platform.gateway, auth={"token": token}, transports=["websocket"])
        try:
            assert (await host.call("join", {"stream_id": seed.stream_id}, timeout=5))["ok"]
            chat = viewer.locator("#chat li")
            ack = await host.call("chat", {"stream_id": seed.stream_id, "text": "before the drop"})
            assert ack["ok"], ack
            await expect(chat).to_have_count(1)

            await cable.cut()
            for n in (1, 2):
                ack = await host.call(
                    "chat", {"stream_id": seed.stream_id, "text": f"while away {n}"}, timeout=5)
                assert ack["ok"], ack
            await asyncio.sleep(0.5)
            await expect(chat).to_have_count(1)  # nothing reached the page while it was cut
            cable.up.set()

            await expect(chat).to_have_count(3, timeout=15_000)
            texts = await chat.all_inner_texts()
            assert [t for t in texts if "while away" in t] == [
                t for t in texts if "while away 1" in t] + [t for t in texts if "while away 2" in t]
            assert any('"resume"' in frame for frame in cable.sent), cable.sent
        finally:
            await host.disconnect()
            await context.close()
