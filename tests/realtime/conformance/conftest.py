"""Two servers speaking the protocols, side by side: our gateway's transport
(`python -m realtime.conformance`) and the Node reference (tests/js/conformance-reference.mjs).

Every conformance test runs against both (`server` is parametrized), so the report shows our
score and Node's from the same run, and a behaviour that differs shows as a failure on one side.
Both use the reference configuration of the official suites: pingInterval 300 ms, pingTimeout
200 ms, maxPayload 1,000,000, connect timeout 1 s.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.helpers.node import JS_DIR, node_with_modules
from tests.helpers.procs import free_port, spawn, wait_http

PING_INTERVAL_MS = 300
PING_TIMEOUT_MS = 200
MAX_PAYLOAD = 1_000_000
CONNECT_TIMEOUT_S = 1.0


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, str]]:
    """Base URLs of both servers, started once for the session."""
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        procs = []
        for name, cmd in (
            ("gateway", [sys.executable, "-m", "realtime.conformance", "--port"]),
            ("node", [node_with_modules("socket.io", "engine.io"),
                      str(JS_DIR / "conformance-reference.mjs")]),
        ):
            port = free_port()
            proc = stack.enter_context(spawn([*cmd, str(port)], name=f"conformance-{name}"))
            urls[name] = f"http://127.0.0.1:{port}"
            procs.append((proc, urls[name]))
        for proc, url in procs:
            wait_http(f"{url}/engine.io/?EIO=4&transport=polling", proc=proc, timeout=30)
        yield urls


@dataclass(frozen=True)
class Server:
    name: str  # "gateway" or "node"
    url: str


@pytest.fixture(params=["gateway", "node"])
def server(request: pytest.FixtureRequest, servers: dict[str, str]) -> Server:
    return Server(request.param, servers[request.param])


@dataclass
class Wire:
    """Raw Engine.IO traffic against one path of one server: HTTP requests and WebSocket frames
    exactly as written, no client library in between."""

    http: aiohttp.ClientSession
    server: Server
    path: str  # "/engine.io/" or "/socket.io/"

    @property
    def ours(self) -> bool:
        """Where Node is laxer than the protocol document, only our gateway is held to it."""
        return self.server.name == "gateway"

    def url(self, query: str, *, ws: bool = False) -> str:
        base = self.server.url
        base = base.replace("http", "ws", 1) if ws else base
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
            return msg.data  # type: ignore[no-any-return]

    async def handshake(self) -> dict[str, Any]:
        first = await self.recv()
        assert isinstance(first, str) and first.startswith("0"), first
        return json.loads(first[1:])  # type: ignore[no-any-return]

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

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def eio(http: aiohttp.ClientSession, server: Server) -> Wire:
    """The bare Engine.IO echo server of `server`."""
    return Wire(http, server, "/engine.io/")


@pytest.fixture
def sio(http: aiohttp.ClientSession, server: Server) -> Wire:
    """The Socket.IO server of `server` (its Engine.IO layer as well)."""
    return Wire(http, server, "/socket.io/")


async def sleep_ms(ms: float) -> None:
    await asyncio.sleep(ms / 1000)
