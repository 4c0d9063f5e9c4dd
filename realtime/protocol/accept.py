"""A WebSocket-only accept path in front of aiohttp, for new Engine.IO WebSocket connections.

Why: in a join storm of 10,000 clients, aiohttp's per-connection machinery was a third of the
gateway's loop (issue 20, BENCHMARKS.md): a `RequestHandler` with its HTTP parser and two
tasks, a `Request`, the router, a `WebSocketResponse` with its headers, the
`on_response_prepare` signal and a write for the 101, then one more write for Engine.IO's OPEN.
A client that connects with `transport=websocket` (the apps, `joinstorm.js`) needs none of it.

What: `AcceptServer` is aiohttp's low-level `web.Server` whose protocol factory gives each TCP
connection an `AcceptProtocol`. That looks at the request head once. A plain
`GET <engine path>?EIO=4&transport=websocket` upgrade, one that python-engineio would accept
as a new WebSocket session, is answered here: the head parsed by httptools (llhttp, the parser
of aiohttp and Node), the 101 and the session's OPEN packet in one write, frames read by
aiohttp's own C `WebSocketReader` and control frames written by its `WebSocketWriter`; the
session is python-engineio's like any other (`EngineServer._open_session`,
`EngineSocket._websocket_handler`). Everything else (polling, an upgrade from polling, the
health and metrics routes, a head that is not plain: a body, an unknown WebSocket version, a
sub-protocol, a refused origin, HTTP/1.0, ...) is handed to aiohttp's `RequestHandler` with the
bytes read so far, as if it had had the connection from the start, and gets today's answers.

`GatewayRunner` is the `AppRunner` that serves an application this way; `accept_websockets`
registers an engine's path on an application. Without them (aiohttp's own runner, its test
client) the same application works unchanged through aiohttp.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import socket
import urllib.parse
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import httptools
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http_websocket import WS_KEY
from aiohttp.streams import EMPTY_PAYLOAD
from multidict import CIMultiDict
from yarl import URL

from realtime.protocol.engine import (
    ACCEPT,
    AcceptPaths,
    EngineServer,
    EngineSocket,
    EngineWebSocket,
)
from realtime.protocol.environ import RequestEnviron
from realtime.protocol.framesocket import FrameSocket
from shared.tasks import cancel_and_wait

# aiohttp's own head limits (max_line_size, max_field_size): a longer head is aiohttp's to refuse.
MAX_HEAD = 8190
# A connection whose request head is not complete this long after it opened is closed (as
# Node's `headersTimeout`, 60 s): a half-sent head must not hold a socket for ever.
IDLE_HEAD_TIMEOUT_S = 60.0
# `web.run_app`'s keep-alive timeout, which the gateway ran with before `GatewayRunner`
# (aiohttp's `RequestHandler` alone would keep an idle connection for 3,630 s).
KEEPALIVE_TIMEOUT_S = 75.0
_HEAD_END = b"\r\n\r\n"


class GatewayRunner(web.AppRunner):
    """aiohttp's `AppRunner`, serving the paths registered with `accept_websockets` through
    `AcceptServer`."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_TIMEOUT_S)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        paths = self.app.get(ACCEPT)
        if paths is None or not paths.engines:
            return server
        return AcceptServer(server, paths)


class GatewaySite(web.TCPSite):
    """aiohttp's `TCPSite` whose listening sockets have SO_KEEPALIVE.

    aiohttp's `RequestHandler` sets SO_KEEPALIVE on every connection it is given (so that a
    peer gone without a FIN is found by the kernel). Linux and the BSDs copy a listening
    socket's SO_KEEPALIVE to each connection accepted from it, so it is set here once instead
    of per connection in `AcceptProtocol.connection_made`: a `setsockopt`, and uvloop making a
    Python socket object to call it on, were ~1 % of a join storm's CPU (issue 20)."""

    async def start(self) -> None:
        await super().start()
        server = self._server
        for sock in getattr(server, "sockets", None) or ():
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def run_app(
    app: web.Application,
    *,
    host: str,
    port: int,
    backlog: int = 128,
    shutdown_timeout: float = 60.0,
    ready: Callable[[], None] | None = None,
) -> None:
    """`web.run_app` with `GatewayRunner`: serve until SIGINT or SIGTERM, then clean up, as
    `web.run_app` does (not `asyncio.run`, which also waits for the default executor's
    threads: half a second more at each stop)."""

    async def serve() -> None:
        runner = GatewayRunner(
            app, handle_signals=True, access_log=None, shutdown_timeout=shutdown_timeout
        )
        await runner.setup()
        try:
            await GatewaySite(runner, host, port, backlog=backlog).start()
            if ready is not None:
                ready()
            await asyncio.Event().wait()  # until a signal raises GracefulExit
        finally:
            await runner.cleanup()

    loop = asyncio.new_event_loop()
    main = loop.create_task(serve())
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()  # its `finally` cleans the runner up
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            loop.run_until_complete(cancel_and_wait(*asyncio.all_tasks(loop)))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


class AcceptServer(web.Server):
    """aiohttp's low-level server (same handler, request factory and options as `http`) whose
    connections start with an `AcceptProtocol`."""

    def __init__(self, http: web.Server, paths: AcceptPaths) -> None:
        super().__init__(
            http.request_handler,
            request_factory=http.request_factory,
            handler_cancellation=http.handler_cancellation,
            loop=http._loop,
            **http._kwargs,
        )
        self.loop = http._loop
        # b"GET /socket.io/?" -> (engine, path): the first bytes of a head this path may serve.
        self.prefixes = {
            f"GET {path}?".encode(): (engine, path) for path, engine in paths.engines.items()
        }
        self.accepted: set[AcceptProtocol] = set()

    def __call__(self) -> AcceptProtocol:  # type: ignore[override]  # a protocol either way
        return AcceptProtocol(self)

    def http_protocol(self) -> asyncio.Protocol:
        """aiohttp's own `RequestHandler` for a connection this path does not serve."""
        return super().__call__()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109  # aiohttp's signature
        """As aiohttp shuts a WebSocket's request down: wait for its handler up to `timeout`,
        then cancel it and close the connection."""
        await asyncio.gather(*(conn.shutdown(timeout) for conn in list(self.accepted)))
        await super().shutdown(timeout)


class AcceptedRequest:
    """The parts of an aiohttp request that `RequestEnviron` reads, from an accepted head."""

    __slots__ = ("_target", "headers", "path", "transport")

    method = "GET"
    version = (1, 1)
    content = EMPTY_PAYLOAD

    def __init__(
        self, target: bytes, path: str, headers: CIMultiDict[str], transport: asyncio.Transport
    ) -> None:
        self._target = target
        self.path = path
        self.headers = headers
        self.transport = transport

    @property
    def path_qs(self) -> str:
        return self._target.decode("utf-8", "surrogateescape")

    @property
    def query_string(self) -> str:
        """Percent-decoded, as aiohttp's `request.query_string` (yarl) gives it."""
        return URL(self.path_qs, encoded=True).query_string


class _Head:
    """httptools' callbacks: the request target and the header fields, as sent."""

    __slots__ = ("fields", "target")

    def __init__(self) -> None:
        self.target = b""
        self.fields: list[tuple[bytes, bytes]] = []

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name, value))


def websocket_accept(key: str) -> str | None:
    """RFC 6455's Sec-WebSocket-Accept for a valid key (16 bytes, base64), else None."""
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except binascii.Error:
        return None
    digest = hashlib.sha1(key.encode() + WS_KEY).digest()  # noqa: S324  # RFC 6455 says SHA-1
    return base64.b64encode(digest).decode()


def switching_protocols(accept: str) -> bytes:
    """The 101 with the headers aiohttp's `WebSocketResponse` sends (and the gateway's
    `Server`), in its order."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\nDate: {rfc822_formatted_time()}\r\n"
        "Server: livecommerce\r\n\r\n"
    ).encode()


def http_response(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """An Engine.IO refusal as aiohttp writes it (python-engineio gives its status as
    "401 UNAUTHORIZED"; aiohttp sends the code's standard phrase), but closing the connection:
    aiohttp kept it open, unusable, since the request had asked for an upgrade."""
    code = int(status.split()[0])
    lines = [f"HTTP/1.1 {code} {HTTPStatus(code).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [
        f"Content-Length: {len(body)}",
        f"Date: {rfc822_formatted_time()}",
        "Server: livecommerce",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class AcceptProtocol(BaseProtocol):
    """One TCP connection: a new Engine.IO WebSocket served here, or aiohttp's from the start.

    The head is read until it is complete (or plainly not ours: then aiohttp gets it at once).
    After the 101 the connection is a WebSocket: bytes go to `FrameSocket`'s reader, and one
    task runs the Engine.IO session's read loop, as aiohttp's request task did.
    """

    __slots__ = ("_head", "_server", "_task", "_timer", "ws")

    def __init__(self, server: AcceptServer) -> None:
        super().__init__(server.loop)
        self._server = server
        self._head = b""
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.ws: FrameSocket | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr: asyncio.Transport = transport  # type: ignore[assignment]  # a TCP transport
        self.transport = tr
        # SO_KEEPALIVE (as aiohttp's RequestHandler sets it) comes from the listening socket
        # (`GatewaySite`); TCP_NODELAY both asyncio's and uvloop's transports have set already.
        self._timer = self._loop.call_later(IDLE_HEAD_TIMEOUT_S, tr.close)

    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(exc)
        self._cancel_timer()
        self._head = b""
        if self.ws is not None:
            self.ws.feed_eof()

    def eof_received(self) -> None:
        pass  # as aiohttp: the transport closes itself

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        if ws is not None:
            ws.feed_data(data)
            return
        head = self._head + data if self._head else data
        if not any(head[: len(p)] == p[: len(head)] for p in self._server.prefixes):
            self._hand_off(head)
        elif _HEAD_END in head:
            self._head = b""
            self._decide(head)
        elif len(head) > MAX_HEAD:
            self._hand_off(head)
        else:
            self._head = head

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _hand_off(self, head: bytes) -> None:
        """aiohttp's `RequestHandler` takes the connection, with what was read of it."""
        self._cancel_timer()
        self._head = b""
        transport = self.transport
        if transport is None:
            return
        handler = self._server.http_protocol()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if head:
            handler.data_received(head)

    def _decide(self, head: bytes) -> None:
        """Accept a new Engine.IO WebSocket here, or hand the connection to aiohttp."""
        parsed = _Head()
        parser = httptools.HttpRequestParser(parsed)
        try:
            parser.feed_data(head)
        except httptools.HttpParserUpgrade as upgrade:
            offset = upgrade.args[0]
        except httptools.HttpParserError:
            return self._hand_off(head)
        else:
            return self._hand_off(head)  # not an upgrade
        found = self._server.prefixes.get(head[: head.index(b"?") + 1])
        accepted = None if found is None else self._accept(parser, parsed, *found)
        if accepted is None:
            return self._hand_off(head)
        engine, environ, accept_key = accepted
        transport = self.transport
        assert transport is not None
        self._cancel_timer()
        self._upgraded = True  # BaseProtocol: pausing reading leaves the (absent) HTTP parser
        self.ws = FrameSocket(self, transport, max_msg_size=engine.max_http_buffer_size + 1)
        if offset < len(head):
            self.ws.feed_data(head[offset:])  # frames sent right behind the head
        self._server.accepted.add(self)
        self._task = self._loop.create_task(self._serve(engine, environ, accept_key))

    def _accept(
        self, parser: Any, parsed: _Head, engine: EngineServer, path: str
    ) -> tuple[EngineServer, RequestEnviron, str] | None:
        """The engine, environ and Sec-WebSocket-Accept of a head python-engineio would accept
        as a new WebSocket session without a word more; None for anything else."""
        if parser.get_method() != b"GET" or parser.get_http_version() != "1.1":
            return None
        query = query_params(parsed.target.partition(b"?")[2].decode("latin-1"))
        if (
            query.get("EIO") != ["4"]
            or query.get("transport") != ["websocket"]
            or "sid" in query
            or "j" in query
        ):
            return None
        headers: CIMultiDict[str] = CIMultiDict(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
            for name, value in parsed.fields
        )
        if (
            headers.get("Upgrade", "").lower().strip() != "websocket"
            or "upgrade"
            not in [s.strip() for s in headers.get("Connection", "").lower().split(",")]
            or headers.get("Sec-WebSocket-Version") != "13"
            or "Sec-WebSocket-Protocol" in headers
            or "Content-Length" in headers
            or "Transfer-Encoding" in headers
        ):
            return None
        accept_key = websocket_accept(headers.get("Sec-WebSocket-Key", ""))
        if accept_key is None:
            return None
        assert self.transport is not None
        environ = RequestEnviron(AcceptedRequest(parsed.target, path, headers, self.transport))
        if not engine._origin_allowed(environ):
            return None
        return engine, environ, accept_key

    async def _serve(self, engine: EngineServer, environ: RequestEnviron, accept: str) -> None:
        """python-engineio's connect of a new WebSocket session (`_connect_websocket`), with
        the 101 and the OPEN packet in one write."""
        transport = self.transport
        ws = self.ws
        assert transport is not None and ws is not None
        try:
            s = await engine._open_session(environ, "websocket")
            if not isinstance(s, EngineSocket):  # refused by the application
                s["headers"] = [*s["headers"], *engine._cors_headers(environ)]
                transport.write(http_response(s["status"], s["headers"], s["response"]))
                return
            s.direct_transport = transport
            try:
                transport.write(switching_protocols(accept) + s.take_frames())
                await s._websocket_handler(AcceptedWebSocket(ws, engine, environ))
            finally:
                s.direct_transport = None
                if s.closed and s.sid in engine.sockets:
                    del engine.sockets[s.sid]
        finally:
            transport.close()
            self._server.accepted.discard(self)

    async def shutdown(self, timeout: float | None) -> None:  # noqa: ASYNC109  # as aiohttp's
        """aiohttp's `RequestHandler.shutdown` for an accepted WebSocket."""
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), timeout)
            task.cancel()
        if self.transport is not None:
            self.transport.close()


def query_params(query: str) -> dict[str, list[str]]:
    """`urllib.parse.parse_qs(query)`, without its generality for the common query.

    A client's `EIO=4&transport=websocket` has nothing to unquote; parse_qs still coerces,
    splits, unquotes and builds a list per field (~1 % of a join storm's CPU). A query with
    `%` or `+` goes to parse_qs itself. Without them the rules are parse_qs's: fields split on
    `&`, a field without `=` or with an empty value is dropped, the first `=` separates name
    and value (`tests/realtime/test_accept.py` compares the two).
    """
    if "%" in query or "+" in query:
        return urllib.parse.parse_qs(query)
    params: dict[str, list[str]] = {}
    for field in query.split("&"):
        name, eq, value = field.partition("=")
        if eq and value:
            if name in params:
                params[name].append(value)
            else:
                params[name] = [value]
    return params


class AcceptedWebSocket(EngineWebSocket):
    """The `EngineWebSocket` that `EngineSocket._websocket_handler` reads and writes, over an
    accepted `FrameSocket` instead of an aiohttp `WebSocketResponse`."""

    __slots__ = ()

    def __init__(self, sock: FrameSocket, server: EngineServer, environ: RequestEnviron) -> None:
        super().__init__(_no_handler, server)
        self._sock = sock
        self.environ = environ


async def _no_handler(_ws: EngineWebSocket) -> None:
    raise RuntimeError("an accepted WebSocket is already open")  # __call__ is never used

