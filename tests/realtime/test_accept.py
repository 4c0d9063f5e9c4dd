"""The WebSocket-only accept path (realtime/protocol/accept.py) answers as aiohttp did.

Two copies of the conformance application run in this process, one served by `GatewayRunner`
(the accept path) and one by aiohttp's own `AppRunner`; each case sends both the same bytes
over raw TCP and compares everything they answer (the 101's headers, Engine.IO packets,
WebSocket control frames, refusals, the close), the session id and the date masked.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import struct
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.app import transport_options, web_app
from realtime.conformance import create_conformance_app, suite_settings
from realtime.protocol import EngineServer
from realtime.protocol import accept as accept_module
from realtime.protocol.accept import AcceptProtocol, AcceptServer, GatewayRunner, GatewaySite
from tests.helpers.procs import free_port


@dataclass
class Served:
    port: int
    runner: web.AppRunner


@asynccontextmanager
async def serve_both(
    make_app: Callable[[], web.Application],
) -> AsyncIterator[tuple[Served, Served]]:
    """(accept path, aiohttp) serving the same application."""
    served = []
    for runner_class in (GatewayRunner, web.AppRunner):
        runner = runner_class(make_app(), shutdown_timeout=2)
        await runner.setup()
        port = free_port()
        site = GatewaySite if runner_class is GatewayRunner else web.TCPSite
        await site(runner, "127.0.0.1", port).start()
        served.append(Served(port, runner))
    assert isinstance(served[0].runner.server, AcceptServer)
    assert not isinstance(served[1].runner.server, AcceptServer)
    try:
        yield served[0], served[1]
    finally:
        for s in served:
            if s.runner.server is not None:  # not already cleaned up by the test
                await s.runner.cleanup()


@pytest.fixture
async def both() -> AsyncIterator[tuple[Served, Served]]:
    async with serve_both(lambda: create_conformance_app(suite_settings())) as served:
        yield served


def refusing_app() -> web.Application:
    """An Engine.IO server whose application refuses every connection."""
    settings = suite_settings()
    eio = EngineServer(**transport_options(settings))

    async def refuse(_sid: str, _environ: Any) -> bool:
        return False

    eio.on("connect", refuse)
    app = web_app(settings)
    eio.attach(app, engineio_path="engine.io")
    return app


def head(
    target: str = "/engine.io/?EIO=4&transport=websocket",
    *,
    version: str = "1.1",
    extra: str = "",
    drop: tuple[str, ...] = (),
    ws_version: str = "13",
    key: str = "dGhlIHNhbXBsZSBub25jZQ==",
) -> bytes:
    fields = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": ws_version,
    }
    lines = [f"GET {target} HTTP/{version}"]
    lines += [f"{k}: {v}" for k, v in fields.items() if k not in drop]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def client_frame(payload: bytes, opcode: int = 0x1, *, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 §5.3)."""
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


async def exchange(port: int, steps: list[bytes | float], *, read_s: float = 0.4) -> bytes:
    """Send each bytes step (a float: wait that long first), then read until the server
    closes or has been quiet for `read_s`; everything the server sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        for step in steps:
            if isinstance(step, float):
                await asyncio.sleep(step)
            else:
                writer.write(step)
                await writer.drain()
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), read_s)
            except TimeoutError:
                return received + b"<open>"
            if not chunk:
                return received + b"<closed>"
            received += chunk
    except ConnectionResetError:
        # The server closed while the client was still sending (a refused message): the
        # kernel resets the connection, and what was in flight towards the client may be lost.
        return b"<reset>"
    finally:
        writer.close()


def masked(answer: bytes) -> bytes:
    answer = re.sub(rb"Date: [^\r]*\r\n", b"Date: *\r\n", answer)
    return re.sub(rb'"sid":"[^"]+"', b'"sid":"*"', answer)


async def same(both: tuple[Served, Served], steps: list[bytes | float], **kw: float) -> bytes:
    accept, aiohttp_ = both
    ours, theirs = await asyncio.gather(
        exchange(accept.port, steps, **kw), exchange(aiohttp_.port, steps, **kw)
    )
    assert masked(ours) == masked(theirs)
    return masked(ours)


async def test_new_websocket_is_accepted_here_with_101_and_open_in_one_write(
    both: tuple[Served, Served],
) -> None:
    accept, _ = both
    reader, writer = await asyncio.open_connection("127.0.0.1", accept.port)
    writer.write(head())
    first = await asyncio.wait_for(reader.read(65536), 5)
    assert first.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b'\r\n\r\n\x81' in first and b'"pingInterval":300' in first  # the OPEN, same read
    server = accept.runner.server
    assert isinstance(server, AcceptServer) and len(server.accepted) == 1
    assert isinstance(next(iter(server.accepted)), AcceptProtocol)
    writer.close()


async def test_messages_pings_and_close_as_aiohttp(both: tuple[Served, Served]) -> None:
    answer = await same(both, [
        head(),
        client_frame(b"4hello"),  # an Engine.IO message: echoed
        client_frame(b"\x01\x02", opcode=0x2),  # binary: echoed
        client_frame(b"ping!", opcode=0x9),  # WebSocket PING: PONG
        client_frame("4h\u00e9".encode()),
        0.1,  # the echoes are sent from tasks of their own
        client_frame(struct.pack("!H", 1000), opcode=0x8),  # CLOSE: answered, connection closed
    ])
    assert answer.endswith(b"<closed>")
    assert b"4hello" in answer and b"\x8a\x05ping!" in answer


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([head()[:7], 0.05, head()[7:40], 0.05, head()[40:]], id="head-in-pieces"),
        pytest.param([head() + client_frame(b"4right-behind")], id="frame-behind-head"),
        pytest.param([head(), client_frame(b"5")], id="upgrade-packet-ignored"),
        pytest.param([head(), client_frame(b"x")], id="not-engineio"),
        # Only the frame's start: aiohttp refuses the declared length before reading the
        # payload, and nothing unread is left to turn the close into a reset.
        pytest.param([head(), struct.pack("!BBQ", 0x81, 0x80 | 127, 1_000_002) + b"mask4aaa"],
                     id="too-big"),
        pytest.param([head(), b"\x81\x05hello"], id="unmasked-client-frame"),
        pytest.param([head(), client_frame(b"\xff\xfe", opcode=0x1)], id="invalid-utf8"),
        pytest.param([head(), client_frame(b"4a", fin=False), client_frame(b"b", opcode=0)],
                     id="fragmented"),
        pytest.param([head(), client_frame(b"", opcode=0x8)], id="close-without-code"),
        pytest.param([head(), 0.7], id="ping-timeout"),  # 300 + 200 ms: closed unanswered
    ],
)
async def test_websocket_cases_as_aiohttp(
    both: tuple[Served, Served], steps: list[bytes | float]
) -> None:
    await same(both, steps, read_s=1.0)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(head(version="1.0"), id="http-1.0"),
        pytest.param(head(ws_version="8"), id="ws-version-8"),
        pytest.param(head(ws_version="12"), id="ws-version-12"),
        pytest.param(head(key="short"), id="bad-key"),
        pytest.param(head(drop=("Sec-WebSocket-Key",)), id="no-key"),
        pytest.param(head(drop=("Upgrade",)), id="no-upgrade"),
        pytest.param(head(drop=("Connection",)), id="no-connection"),
        pytest.param(head(extra="Sec-WebSocket-Protocol: chat\r\n"), id="subprotocol"),
        pytest.param(head(extra="Content-Length: 3\r\n") + b"abc", id="body"),
        pytest.param(head(extra="Origin: https://elsewhere.example\r\n"), id="origin-any"),
        pytest.param(head("/engine.io/?EIO=3&transport=websocket"), id="eio3"),
        pytest.param(head("/engine.io/?EIO=4&transport=polling"), id="polling-upgrade-head"),
        pytest.param(head("/engine.io/?EIO=4&transport=websocket&sid=nope"), id="unknown-sid"),
        pytest.param(head("/engine.io/?EIO=4&transport=websocket&j=1"), id="jsonp"),
        pytest.param(head("/engine.io/?EIO=4&transport=websocket&EIO=4"), id="eio-twice"),
        pytest.param(head("/engine.io/?transport=websocket&EIO=4"), id="other-order"),
        pytest.param(head("/engine.io/x?EIO=4&transport=websocket"), id="other-path"),
        pytest.param(head("/engine.io?EIO=4&transport=websocket"), id="no-slash"),
        pytest.param(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n",
                     id="polling"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", id="other-route"),
        pytest.param(b"PUT /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n\r\n",
                     id="put"),
        pytest.param(b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nBad Header\r\n\r\n",
                     id="malformed"),
        pytest.param(b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nX: "
                     + b"y" * 9000 + b"\r\n\r\n", id="head-too-long"),
        pytest.param(b"\x16\x03\x01\x02\x00\x01", id="tls-hello"),
    ],
)
async def test_everything_else_is_aiohttps(both: tuple[Served, Served], raw: bytes) -> None:
    answer = await same(both, [raw], read_s=0.5)
    assert answer.startswith(b"HTTP/1.")  # every head gets an answer


async def test_socketio_path_is_accepted_too(both: tuple[Served, Served]) -> None:
    answer = await same(both, [
        head("/socket.io/?EIO=4&transport=websocket"),
        client_frame(b"40"),  # Socket.IO CONNECT to "/": the conformance app answers
    ])
    assert answer.startswith(b"HTTP/1.1 101") and b"40{" in answer


async def test_client_gone_ends_the_session(both: tuple[Served, Served]) -> None:
    accept, _ = both
    reader, writer = await asyncio.open_connection("127.0.0.1", accept.port)
    writer.write(head())
    await asyncio.wait_for(reader.read(65536), 5)
    server = accept.runner.server
    assert isinstance(server, AcceptServer)
    writer.transport.abort()  # no CLOSE frame: the TCP connection just goes
    for _ in range(100):
        if not server.accepted:
            break
        await asyncio.sleep(0.02)
    assert not server.accepted


async def test_shutdown_ends_open_websockets(both: tuple[Served, Served]) -> None:
    for served in both:  # the accept path as aiohttp: the handler ends, the connection closes
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(head())
        await asyncio.wait_for(reader.read(65536), 5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await served.runner.cleanup()  # waits for the handler up to shutdown_timeout (2 s)
        assert loop.time() - started < 4
        await asyncio.wait_for(reader.read(), 5)  # to the end: the connection is closed
        writer.close()


async def test_refused_by_the_application_as_aiohttp() -> None:
    steps: list[bytes | float] = [head(extra="Origin: https://shop.example\r\n")]
    async with serve_both(refusing_app) as (accept, aiohttp_):
        ours = masked(await exchange(accept.port, steps))
        theirs = masked(await exchange(aiohttp_.port, steps))
    # The same answer; the accept path closes the connection (aiohttp kept it, unusable).
    assert ours.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert ours == theirs.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n").replace(
        b"<open>", b"<closed>"
    )


async def test_a_half_sent_head_is_closed_after_the_head_timeout(
    both: tuple[Served, Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow client that never finishes its head does not hold the socket for ever."""
    monkeypatch.setattr(accept_module, "IDLE_HEAD_TIMEOUT_S", 0.3)
    accept, _ = both
    reader, writer = await asyncio.open_connection("127.0.0.1", accept.port)
    writer.write(head()[:30])  # "GET /engine.io/?EIO=4&transpor": ours to read, never ended
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed, nothing answered
    writer.close()


@pytest.mark.parametrize("site_class", [GatewaySite, web.TCPSite])
async def test_accepted_websockets_have_tcp_keepalive_from_the_gateway_site(
    site_class: type[web.TCPSite],
) -> None:
    """SO_KEEPALIVE on an accepted WebSocket, as aiohttp's RequestHandler sets it on its
    connections: the accept path leaves it to the listening socket (`GatewaySite`), from which
    the kernel copies it; a plain `TCPSite`'s connections would not have it."""
    runner = GatewayRunner(create_conformance_app(suite_settings()), shutdown_timeout=2)
    await runner.setup()
    port = free_port()
    await site_class(runner, "127.0.0.1", port).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        server = runner.server
        assert isinstance(server, AcceptServer)
        (accepted,) = server.accepted
        assert accepted.transport is not None
        sock = accepted.transport.get_extra_info("socket")
        keepalive = sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert bool(keepalive) is (site_class is GatewaySite)
        writer.close()
    finally:
        await runner.cleanup()


def test_the_runner_keeps_run_apps_keepalive_timeout() -> None:
    runner = GatewayRunner(web.Application())
    assert runner._kwargs["keepalive_timeout"] == accept_module.KEEPALIVE_TIMEOUT_S == 75.0
    assert GatewayRunner(web.Application(), keepalive_timeout=5)._kwargs["keepalive_timeout"] == 5


@pytest.mark.parametrize(
    "origin", ["https://shop.example", "https://elsewhere.example", "null", None]
)
async def test_origin_checks_as_aiohttp(origin: str | None) -> None:
    """With origins listed by name, an allowed one is accepted here and any other gets
    python-engineio's refusal through aiohttp, as before."""
    settings = suite_settings(cors_origins=["https://shop.example"])
    extra = "" if origin is None else f"Origin: {origin}\r\n"
    async with serve_both(lambda: create_conformance_app(settings)) as served:
        answer = await same(served, [head(extra=extra)])
    accepted = origin in ("https://shop.example", None)
    assert answer.startswith(b"HTTP/1.1 101" if accepted else b"HTTP/1.1 400")


# --- the query fast path -------------------------------------------------------------------

QUERY_ALPHABET = "ab=&%+;?EIO4tj2F \x00é"


@given(st.text(alphabet=QUERY_ALPHABET, max_size=40))
@settings(max_examples=2000, deadline=None)
def test_query_params_is_parse_qs(query: str) -> None:
    assert accept_module.query_params(query) == urllib.parse.parse_qs(query)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "EIO=4&transport=websocket",
        "EIO=4&transport=websocket&t=PXa1b2c",
        "EIO=4&EIO=3",
        "EIO=&transport",
        "=4&&a=b=c",
        "EIO=%34&transport=web+socket",
    ],
)
def test_query_params_cases(query: str) -> None:
    assert accept_module.query_params(query) == urllib.parse.parse_qs(query)
