"""Raw Engine.IO / Socket.IO traffic for tests: HTTP requests and WebSocket frames exactly as
written, with no client library in between (conformance and hostile-client tests)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Wire:
    """Raw Engine.IO traffic against one path of one server: HTTP requests and WebSocket frames
    exactly as written, no client library in between."""

    http: aiohttp.ClientSession
    base: str  # http://host:port
    path: str  # "/engine.io/" or "/socket.io/"
    # Where Node is laxer than the protocol document, only our gateway is held to it.
    ours: bool = True

    def url(self, query: str, *, ws: bool = False) -> str:
        base = self.base.replace("http", "ws", 1) if ws else self.base
        return f"{base}{self.path}?{query}"

    async def get(self, query: str) -> tuple[int, str]:
        async with self.http.get(self.url(query)) as r:
            return r.status, await r.text()

    async def post(self, query: str, body: str | bytes = b"", method: str = "POST") -> int:
        async with self.http.request(method, self.url(query), data=body) as r:
            await r.read()
            return r.status

    async def post_text(self, query: str, body: str) -> tuple[int, str]:
        async with self.http.post(self.url(query), data=body) as r:
            return r.status, await r.text()

    async def open_polling(self) -> str:
        status, body = await self.get("EIO=4&transport=polling")
        assert status == 200 and body.startswith("0"), (status, body)
        return str(json.loads(body[1:])["sid"])

    async def websocket(self, query: str = "EIO=4&transport=websocket") -> Frames:
        ws = await self.http.ws_connect(self.url(query, ws=True), autoping=True)
        return Frames(ws)


class Frames:
    """A WebSocket whose messages are read one at a time, none lost between reads."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._acks: list[str] = []

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def recv(self, timeout: float = 2.0, *, skip_pings: bool = False) -> str | bytes:
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.ws.receive(timeout=max(0.01, deadline - time.monotonic()))
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise AssertionError(f"connection closed ({msg.type.name}) instead of a message")
            if skip_pings and msg.data == "2":
                continue
            return msg.data

    async def recv_text(self, timeout: float = 2.0, *, skip_pings: bool = False) -> str:
        frame = await self.recv(timeout, skip_pings=skip_pings)
        assert isinstance(frame, str), frame
        return frame

    async def handshake(self) -> dict[str, Any]:
        first = await self.recv()
        assert isinstance(first, str) and first.startswith("0"), first
        return json.loads(first[1:])

    async def closed(self, timeout: float = 2.0) -> bool:
        """True once the server closes the connection (messages before that are skipped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await self.ws.receive(timeout=left)
            except TimeoutError:
                return False
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return True
        return False

    async def until_closed(
        self, timeout: float, *, pong: bool = False
    ) -> tuple[list[str | bytes], float]:
        """The messages before the server's close and the monotonic time the close was seen.

        `timeout` is only a bound for a server that never closes: pass a generous one, the
        caller's own asserts say when the close may come (a loaded machine delays it). With
        `pong`, every PING is answered (and not listed), so the heartbeat cannot be what ends
        the connection."""
        frames: list[str | bytes] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await self.ws.receive(timeout=left)
            except TimeoutError:
                break
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                if pong and msg.data == "2":
                    await self.ws.send_str("3")
                else:
                    frames.append(msg.data)
                continue
            return frames, time.monotonic()
        raise AssertionError(f"not closed within {timeout} s; frames: {frames}")

    async def close(self) -> None:
        await self.ws.close()

    async def ack(self, ack_id: int, timeout: float = 5.0) -> Any:
        """The payload of the ACK packet `43<ack_id>[...]`. Acks may come in any order (each
        event is handled in its own task): other acks read on the way are kept for later."""
        prefix = f"43{ack_id}["
        for frame in self._acks:
            if frame.startswith(prefix):
                self._acks.remove(frame)
                return json.loads(frame[len(prefix) - 1:])[0]
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - time.monotonic()))
            if isinstance(frame, str) and frame.startswith(prefix):
                return json.loads(frame[len(prefix) - 1:])[0]
            if isinstance(frame, str) and frame.startswith("43"):
                self._acks.append(frame)
