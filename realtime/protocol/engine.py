"""Engine.IO 4 fixes over python-engineio's asyncio server and its aiohttp driver.

Each fix names the rule it follows: the Engine.IO protocol document (engine.io-protocol, v4,
"Transports", "Heartbeat", "Upgrade", "Packet encoding") and, where the document is silent, the
Node reference server (engine.io 6), which is what clients are written against.

- Handshake: `pingInterval` is advertised in exact milliseconds (python-engineio truncates the
  seconds first, so 0.3 s became 0); a missing or unknown `transport` is 400 (it was taken as
  polling), as is any method but GET, POST and OPTIONS (a PUT was 405, or aiohttp's 405).
- Heartbeat: the server closes the session `pingTimeout` after an unanswered PING, at that
  moment (python-engineio noticed only lazily, up to `pingInterval + pingTimeout` later).
- Polling: a POST is answered `ok`; a POST that does not decode closes the session and gets 400
  (it was answered 200 and logged as a server error); a second concurrent GET closes the session
  (the waiting one gets the CLOSE packet, the duplicate 400); closing a session releases a waiting
  GET with NOOP; the body is read whole up to `maxPayload` (a short read cut payloads, and a
  too-large POST with no poll waiting hung for ever in `close(wait=True)`).
- Upgrade: the NOOP that ends the pending poll goes to that poll only (it leaked onto the
  WebSocket as an extra `6`); a WebSocket for a session that is already upgraded, upgrading or
  unknown is accepted and closed (it was refused with HTTP 400, which WebSocket clients report
  as an error, not as a close).
- WebSocket: a frame that is not an Engine.IO packet closes the session at once, running the
  disconnect handler (it aborted the handler and left the session, and the application's
  presence, alive until the ping timeout); a CLOSE packet or a server-side close ends the
  connection at once (it waited for the next read timeout). Message data is passed on as sent
  (python-engineio JSON-decoded text that looked like JSON).
- WebSocket message limit = polling body limit = the advertised `maxPayload`, inclusive on
  both (aiohttp refused a WebSocket message of exactly the limit); compression optional
  (python-engineio's aiohttp driver always offered permessage-deflate).
- CORS: `*` answers `Access-Control-Allow-Origin: *` without credentials; credentials are
  allowed only for origins listed by name (python-engineio echoed any origin with credentials).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import inspect
import os
import struct
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import engineio
from aiohttp import web
from aiohttp.http_websocket import WSMessage
from engineio import exceptions
from engineio.async_socket import AsyncSocket
from engineio.packet import CLOSE, MESSAGE, NOOP, OPEN, PING, PONG, UPGRADE, Packet

from realtime.protocol.environ import Environ, translate_request

PACKET_TYPES = "0123456"
# A WebSocket frame is written straight to the transport only while it has less than this
# buffered; past it, the socket's packets wait in its queue for a writer task that waits for
# the transport to drain (a slow reader is not written to faster than it reads).
DIRECT_WRITE_MAX_BUFFER = 64 * 1024
# Longest wait for the writer before held packets are sent anyway (a writer blocked on a slow
# reader must not hold up the connect handshake).
HELD_FLUSH_WAIT_S = 0.5
# Random bytes in a session id (python-engineio's `generate_id`).
ID_RANDOM_BYTES = 12


def websocket_frame(payload: bytes, *, binary: bool = False) -> bytes:
    """A final, unmasked, uncompressed WebSocket frame (RFC 6455 §5.2), as a server sends."""
    head = 0x82 if binary else 0x81
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", head, n) + payload
    if n < 65536:
        return struct.pack("!BBH", head, 126, n) + payload
    return struct.pack("!BBQ", head, 127, n) + payload


def packet_frame(pkt: Packet) -> bytes:
    """An Engine.IO packet as one WebSocket frame (text, or binary for bytes)."""
    encoded = pkt.encode()
    if isinstance(encoded, str):
        return websocket_frame(encoded.encode())
    return websocket_frame(encoded, binary=True)


def spawn(tasks: set[asyncio.Task[Any]], coro: Any) -> None:
    """Run `coro` as a task kept referenced in `tasks` until it ends (asyncio holds tasks
    weakly, so an unreferenced one can be collected mid-run)."""
    task = asyncio.ensure_future(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def is_websocket_upgrade(environ: Environ) -> bool:
    """`Connection: upgrade` and `Upgrade: websocket` (python-engineio's test)."""
    connections = [s.strip() for s in environ.get("HTTP_CONNECTION", "").lower().split(",")]
    return "upgrade" in connections and environ.get("HTTP_UPGRADE", "").lower() == "websocket"


class InvalidPacketError(exceptions.EngineIOError):  # type: ignore[misc]  # untyped library base
    """What the client sent is not an Engine.IO packet or payload."""


class BadInputSink(Protocol):
    """Told about each protocol violation of a connection (logging, metrics, limits)."""

    def report(self, eio_sid: str, kind: str, detail: str) -> bool: ...

    def forget(self, eio_sid: str) -> None: ...


def decode_packet(encoded: str | bytes) -> Packet:
    """One Engine.IO packet; message data stays exactly as sent (no JSON decoding)."""
    if isinstance(encoded, bytes | bytearray):
        return Packet(MESSAGE, bytes(encoded))
    if not encoded:
        raise InvalidPacketError("empty packet")
    if encoded[0] == "b":
        try:
            return Packet(MESSAGE, base64.b64decode(encoded[1:], validate=True))
        except binascii.Error:
            raise InvalidPacketError("bad base64 packet") from None
    if encoded[0] not in PACKET_TYPES:
        raise InvalidPacketError("unknown packet type")
    return Packet(int(encoded[0]), encoded[1:])


async def read_body(stream: Any, declared: str | None, limit: int) -> bytes:
    """The whole request body, refusing more than `limit` bytes (declared or actually sent)."""
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise InvalidPacketError("bad Content-Length") from None
        if length > limit:
            raise exceptions.ContentTooLongError()
    chunks: list[bytes] = []
    size = 0
    while chunk := await stream.read(65536):
        size += len(chunk)
        if size > limit:
            raise exceptions.ContentTooLongError()
        chunks.append(chunk)
    return b"".join(chunks)


class EngineSocket(AsyncSocket):  # type: ignore[misc]  # untyped library base
    """One Engine.IO session (see the module docstring for what differs from the library)."""

    _queue: asyncio.Queue[Any] | None  # behind the `queue` property

    def __init__(self, server: EngineServer, sid: str) -> None:
        super().__init__(server, sid)
        self.polling = False  # a GET poll is waiting for packets
        self._awaiting_pong: int | None = None
        self._pings = 0
        self._hold = 0
        self._held: list[Packet] = []
        self._tasks: set[asyncio.Task[Any]] | None = None  # made when first needed (~200 B)
        self._ping_timer: asyncio.TimerHandle | None = None
        # While a WebSocket serves this socket without compression: its transport (set by
        # realtime.transport.DirectWebSocket), the aiohttp WebSocket, and a writer task that
        # exists only while packets wait for the transport to drain.
        self.direct_transport: asyncio.WriteTransport | None = None
        self._ws: EngineWebSocket | None = None
        self._writer: asyncio.Task[None] | None = None
        # Loop time at which the OPEN packet was handed to the transport: the client cannot
        # answer before that, so timeouts on its first answer count from here.
        self.handshake_sent_at: float | None = None

    # --- sending, and holding packets back while an application handshake is answered ------

    def hold(self) -> None:
        """Keep packets sent from now on until `release()` (nested calls nest)."""
        self._hold += 1

    @property
    def holding(self) -> bool:
        return self._hold > 0

    async def release(self) -> None:
        """Send what was held, after the WebSocket writer has taken what was sent past it.

        Waiting for the writer gives the handshake answer a write of its own, as Node's
        Engine.IO does (it flushes the next packets only once a write has completed).
        """
        self._hold = max(0, self._hold - 1)
        if self._hold or not self._held:
            return
        if self.upgraded and not self.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), HELD_FLUSH_WAIT_S)
        held, self._held = self._held, []
        for pkt in held:
            await self._send_now(pkt)

    async def send(self, pkt: Packet) -> None:
        if self._hold:
            self._held.append(pkt)
        else:
            await self._send_now(pkt)

    async def send_first(self, pkt: Packet) -> None:
        """Send past a hold (the handshake answer that the held packets must follow)."""
        await self._send_now(pkt)

    def send_nowait(self, pkt: Packet) -> None:
        """Queue a packet without waiting (room fan-out), keeping the hold's order."""
        if self._hold:
            self._held.append(pkt)
        elif self._ws is None:
            self.queue.put_nowait(pkt)
        else:
            self._send_ws(pkt)

    async def _send_now(self, pkt: Packet) -> None:
        if self._ws is None:  # polling, or before the WebSocket opened: the library's queue
            await AsyncSocket.send(self, pkt)
            return
        if self.closed:
            raise exceptions.SocketIsClosedError()
        self._send_ws(pkt)

    # --- the send queue, only while there is something in it ----------------------------

    @property
    def queue(self) -> asyncio.Queue[Any]:
        """python-engineio's send queue. A WebSocket that is written to directly needs none
        between backlogs, so it is dropped when emptied and made again when next needed (an
        asyncio.Queue with its deques and Event is ~3 KB per idle connection)."""
        queue = self._queue
        if queue is None:
            queue = asyncio.Queue()
            self._queue = queue
        return queue

    @queue.setter
    def queue(self, queue: asyncio.Queue[Any]) -> None:
        self._queue = queue

    def _queued(self) -> bool:
        return self._queue is not None and not self._queue.empty()

    # --- writing to the WebSocket without a task per socket -------------------------------

    def direct_write_transport(self) -> asyncio.WriteTransport | None:
        """The transport if a frame may be written to it now, else None.

        Now means: a WebSocket serves the socket (not polling, not mid-upgrade), nothing is
        queued or held before it, no writer task is waiting for a drain, and the transport has
        room. Then the frame is written whole before any other coroutine runs (asyncio is
        single-threaded), so frames never interleave and nothing queued earlier is overtaken.
        """
        transport = self.direct_transport
        if (
            transport is None
            or self._ws is None
            or self._writer is not None
            or self._hold
            or self.closed
            or self._queued()
            or transport.is_closing()
            or transport.get_write_buffer_size() > DIRECT_WRITE_MAX_BUFFER
        ):
            return None
        return transport

    def _flush(self) -> None:
        """Write what is queued straight to the WebSocket's transport while it has room.

        An idle WebSocket costs no task: packets are framed and written as they are sent. Only
        a transport with a backlog (a slow reader) or a compressed WebSocket gets a writer
        task, which waits for the drain and ends when the queue is empty.
        """
        ws = self._ws
        queue = self._queue
        if ws is None or self._writer is not None or queue is None:
            return
        transport = self.direct_transport
        while not queue.empty():
            if (
                transport is None
                or transport.is_closing()
                or transport.get_write_buffer_size() > DIRECT_WRITE_MAX_BUFFER
            ):
                self._writer = asyncio.ensure_future(self._write_backlog(ws))
                return
            pkt = queue.get_nowait()
            queue.task_done()
            if pkt is None:  # closed: the WebSocket goes too (which ends the reader)
                self._close_ws(ws)
                return
            self._write_frame(transport, pkt)
        self._queue = None  # empty: made again when a backlog needs one

    def _close_ws(self, ws: EngineWebSocket) -> None:
        """The session is closed and nothing is left to write: close the WebSocket (which ends
        its reader), as the writer task this replaces would have."""
        self._ws = None
        self._writer = asyncio.ensure_future(ws.close())

    def _send_ws(self, pkt: Packet) -> None:
        """Write now if nothing waits before this packet and the transport has room; else
        queue it behind the rest."""
        if self._writer is not None:
            self.queue.put_nowait(pkt)  # the backlog's writer takes it, in order
            return
        transport = self.direct_transport
        if (
            not self._queued()
            and transport is not None
            and not transport.is_closing()
            and transport.get_write_buffer_size() <= DIRECT_WRITE_MAX_BUFFER
        ):
            self._write_frame(transport, pkt)
            return
        self.queue.put_nowait(pkt)
        self._flush()

    def _write_frame(self, transport: asyncio.WriteTransport, pkt: Packet) -> None:
        transport.write(packet_frame(pkt))
        if self.handshake_sent_at is None:
            self.handshake_sent_at = asyncio.get_running_loop().time()

    def take_frames(self) -> bytes:
        """What was sent before the WebSocket opened (the OPEN packet), framed and taken off
        the queue, for the accept path to write in one go with the 101
        (`realtime.protocol.accept`). A closed session's packets stay for `_flush`."""
        queue = self._queue
        if queue is None or self.closed:
            return b""
        frames = []
        while not queue.empty():
            pkt = queue.get_nowait()
            queue.task_done()
            frames.append(packet_frame(pkt))
        if frames and self.handshake_sent_at is None:
            self.handshake_sent_at = asyncio.get_running_loop().time()
        return b"".join(frames)

    async def _write_backlog(self, ws: EngineWebSocket) -> None:
        """Write the queue through aiohttp (which waits for the transport to drain), then
        hand writing back to `_flush`."""
        queue = self.queue
        try:
            while not queue.empty():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:
                    self._ws = None
                    await ws.close()
                    return
                await ws.send(pkt.encode())
                if self.handshake_sent_at is None:
                    self.handshake_sent_at = asyncio.get_running_loop().time()
        except (OSError, RuntimeError, ConnectionError):
            # The connection broke: the reader sees it too and closes the session.
            self._ws = None
            with contextlib.suppress(Exception):
                await ws.close()
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None
        self._flush()  # anything sent during the last write

    # --- heartbeat ---------------------------------------------------------------------------

    def schedule_ping(self) -> None:
        """Arm the next heartbeat on a loop timer, not a sleeping task per socket: an idle
        connection then holds a small TimerHandle instead of a task and its coroutine frame
        (issue 20: memory per connection). Tasks run only at ping time, briefly."""
        self.last_ping = None
        self._awaiting_pong = None
        self._cancel_ping_timer()
        self._ping_timer = asyncio.get_running_loop().call_later(
            self.server.ping_interval, self._ping_due
        )

    def _cancel_ping_timer(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None

    def _ping_due(self) -> None:
        self._ping_timer = None
        if self.closing or self.closed:
            return
        self._pings += 1
        ping = self._awaiting_pong = self._pings
        self.last_ping = time.time()  # type: ignore[assignment]
        self.send_nowait(Packet(PING))  # no task: a WebSocket's frame is written at once
        self._ping_timer = asyncio.get_running_loop().call_later(
            self.server.ping_timeout, self._pong_overdue, ping
        )

    def _pong_overdue(self, ping: int) -> None:
        self._ping_timer = None
        if self._awaiting_pong == ping and not (self.closing or self.closed):
            # No CLOSE packet to a peer that stopped answering, as in Node's Engine.IO (the
            # library's send refused it too, seeing the ping overdue): the transport just goes.
            if self._tasks is None:
                self._tasks = set()
            spawn(self._tasks, self.close(wait=False, abort=True,
                                          reason=self.server.reason.PING_TIMEOUT))

    # --- receiving ---------------------------------------------------------------------------

    async def receive(self, pkt: Packet) -> None:
        kind = pkt.packet_type
        if kind == MESSAGE:
            await self.server.deliver_message(self.sid, pkt.data)
        elif kind == PONG:
            if self._awaiting_pong is not None:  # an unsolicited PONG changes nothing
                self.schedule_ping()
        elif kind == CLOSE:
            await self.close(wait=False, abort=True, reason=self.server.reason.CLIENT_DISCONNECT)
        elif kind == PING:
            # v4 heartbeats go server -> client; a client PING outside the upgrade probe is an
            # error in the reference server too ("invalid heartbeat direction").
            raise exceptions.UnknownPacketError("invalid heartbeat direction")
        elif kind not in (OPEN, UPGRADE, NOOP):  # these three are ignored, as in Node
            raise exceptions.UnknownPacketError("unknown packet type")

    async def _invalid(self, exc: Exception) -> None:
        """The client broke the protocol: report it and close the session now."""
        self.server.report_bad_input(self.sid, "engineio", str(exc) or type(exc).__name__)
        await self.close(wait=False, reason=self.server.reason.TRANSPORT_ERROR)

    # --- polling -----------------------------------------------------------------------------

    async def handle_get_request(self, environ: Environ) -> Any:
        if is_websocket_upgrade(environ):
            return await self._upgrade_websocket(environ)
        if self.upgrading or self.upgraded:
            return [Packet(NOOP)]  # the poll that the upgrade ends
        if self.polling:
            # Two polls at once: the protocol closes the session; the waiting poll carries the
            # CLOSE packet, this one fails.
            await self._invalid(exceptions.EngineIOError("duplicate poll"))
            raise exceptions.EngineIOError("duplicate poll")
        self.polling = True
        try:
            return await self.poll()
        except exceptions.QueueEmpty:
            await self.close(wait=False, reason=self.server.reason.TRANSPORT_ERROR)
            raise
        finally:
            self.polling = False

    async def handle_post_request(self, environ: Environ) -> None:
        try:
            body = await read_body(
                environ["wsgi.input"],
                environ.get("CONTENT_LENGTH"),
                self.server.max_http_buffer_size,
            )
            packets = [decode_packet(p) for p in body.decode("utf-8").split("\x1e")]
        except (InvalidPacketError, UnicodeDecodeError, exceptions.ContentTooLongError) as exc:
            await self._invalid(exc)
            raise InvalidPacketError(str(exc)) from None
        for pkt in packets:
            if self.closed:
                break
            try:
                await self.receive(pkt)
            except exceptions.UnknownPacketError as exc:
                await self._invalid(exc)
                raise InvalidPacketError(str(exc)) from None

    # --- closing -----------------------------------------------------------------------------

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Close now and release whoever waits for packets (a poll, the WebSocket writer).

        Never waits for the queue to drain: with no poll coming, `wait=True` hung for ever.
        """
        if self.closed or self.closing:
            return
        self._cancel_ping_timer()
        self._hold = 0
        self._held.clear()
        await super().close(wait=False, abort=abort, reason=reason)
        ws = self._ws
        if ws is not None and self._queue is None and self._writer is None:
            # A WebSocket written to directly, with nothing queued: what `_flush` does with
            # the None below, without making a queue (and its Event) only to put it there.
            self._close_ws(ws)
            return
        if not self.upgraded and self.queue.empty():
            self.queue.put_nowait(Packet(NOOP))  # a waiting poll ends with NOOP
        self.queue.put_nowait(None)  # ... and the WebSocket writer stops
        self._flush()

    # --- WebSocket ---------------------------------------------------------------------------

    async def _websocket_handler(self, ws: EngineWebSocket) -> None:
        if self.connected and not await self._upgrade(ws):  # type: ignore[has-type]
            return
        if not self.connected:  # type: ignore[has-type]
            self.connected = True
            self.upgraded = True
        writer: asyncio.Future[None] | None = None
        if self.direct_transport is None:
            # Compressed (aiohttp frames and deflates every message): the library's design, a
            # writer task for the connection's life.
            writer = asyncio.ensure_future(self._websocket_writer(ws))
        else:
            self._ws = ws
            self._flush()  # what was sent before the WebSocket opened: OPEN, ...
        reason = self.server.reason.TRANSPORT_CLOSE
        # `ws.wait()` inlined: a helper coroutine would be one more suspended frame per idle
        # connection (issue 20, memory).
        response = ws.response
        try:
            while not self.closed:
                try:
                    frame = (await response.receive()).data
                except OSError:
                    break  # the network broke
                if not isinstance(frame, str | bytes):
                    break  # closed by the client, by the network or by our writer
                try:
                    await self.receive(decode_packet(frame))
                except (InvalidPacketError, exceptions.UnknownPacketError) as exc:
                    reason = self.server.reason.TRANSPORT_ERROR
                    await self._invalid(exc)
                    break
        finally:
            await self.close(wait=False, abort=True, reason=reason)
            if writer is not None:
                self.queue.put_nowait(None)
                await writer
            else:
                # The backlog's writer, or the WebSocket's close after the session's: let it end
                # before the handler returns the response to aiohttp.
                while (task := self._writer) is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(task)
                    if self._writer is task:
                        self._writer = None
                self._ws = None

    async def _upgrade(self, ws: EngineWebSocket) -> bool:
        """The probe exchange of an upgrade from polling; False if the client gave up."""
        self.upgrading = True
        try:
            probe = decode_packet(await ws.wait())
            if probe.packet_type != PING or probe.data != "probe":
                return False
            await ws.send(Packet(PONG, data="probe").encode())
            if self.polling:
                self.queue.put_nowait(Packet(NOOP))  # ends the waiting poll, and only it
            if decode_packet(await ws.wait()).packet_type != UPGRADE:
                return False
            self.upgraded = True
            return True
        except (OSError, InvalidPacketError):
            return False
        finally:
            self.upgrading = False

    async def _websocket_writer(self, ws: EngineWebSocket) -> None:
        try:
            while True:
                try:
                    packets = await self.poll()
                except exceptions.QueueEmpty:
                    break
                if not packets:
                    break
                for pkt in packets:
                    await ws.send(pkt.encode())
                if self.handshake_sent_at is None:
                    self.handshake_sent_at = asyncio.get_running_loop().time()
        except (OSError, RuntimeError, ConnectionError):
            pass  # the connection broke: the reader sees it too and closes the session
        finally:
            await ws.close()


class WebSocketLike(Protocol):
    """What the Engine.IO session uses of a server WebSocket: aiohttp's `WebSocketResponse`,
    or the accept path's `FrameSocket`."""

    async def receive(self) -> WSMessage: ...

    async def send_str(self, data: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def close(self) -> bool: ...


class EngineWebSocket:
    """python-engineio's aiohttp WebSocket wrapper, with the server's message limit and an
    explicit compression choice (aiohttp offers permessage-deflate unless told not to).

    One per connection for its life: slots, no instance dict (subclasses: `__slots__ = ()`).
    """

    __slots__ = ("_sock", "environ", "handler", "server")

    def __init__(self, handler: Callable[..., Any], server: EngineServer) -> None:
        self.handler = handler
        self.server = server
        self._sock: WebSocketLike | None = None
        self.environ: Environ = {}

    async def __call__(self, environ: Environ) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        sock = web.WebSocketResponse(
            # aiohttp refuses a message of exactly `max_msg_size` bytes; maxPayload is inclusive
            # (a polling body of maxPayload bytes is accepted), so the two limits agree with +1.
            max_msg_size=self.server.max_http_buffer_size + 1,
            compress=self.server.websocket_compression,
        )
        self._sock = sock
        await sock.prepare(request)
        release_http_parser(request.protocol)
        self.environ = environ
        # The handler is awaited here, not from a helper coroutine: each coroutine in this
        # chain is a suspended frame for the connection's life (issue 20, memory).
        self.opened(request)
        try:
            await self.handler(self)
        finally:
            self.closing()
        return sock

    def opened(self, request: web.Request) -> None:
        """The WebSocket is open and the handler about to run (subclasses' hook)."""

    def closing(self) -> None:
        """The handler has returned (subclasses' hook)."""

    @property
    def response(self) -> WebSocketLike:
        """The WebSocket (once the handshake is answered)."""
        assert self._sock is not None
        return self._sock

    async def close(self) -> None:
        assert self._sock is not None
        await self._sock.close()

    async def send(self, message: str | bytes) -> None:
        assert self._sock is not None
        if isinstance(message, bytes):
            await self._sock.send_bytes(message)
        else:
            await self._sock.send_str(message)

    async def wait(self) -> str | bytes:
        """The next text or binary message; OSError once the connection is closing."""
        assert self._sock is not None
        msg = await self._sock.receive()
        if not isinstance(msg.data, str | bytes):
            raise OSError("websocket closed")
        return msg.data


def release_http_parser(protocol: Any) -> None:
    """Drop what aiohttp keeps of the HTTP/1 request parser once the connection is a WebSocket.

    aiohttp's `RequestHandler` keeps its HTTP parser and request queue (a deque) for the
    connection's life, though after an accepted upgrade it reads only through the WebSocket
    reader (`_payload_parser`): ~1.5 KB per idle WebSocket (issue 20). In aiohttp 3.14.5
    (guarded by `realtime.protocol.PINNED`) nothing reads `_parser` once `_upgraded` and
    `_payload_parser` are set but two `None` checks, and the queue is only tested for
    emptiness and length, so an empty tuple serves. Anything else is left as it is.
    """
    if (
        getattr(protocol, "_upgraded", False) is True
        and getattr(protocol, "_payload_parser", None) is not None
        and not getattr(protocol, "_messages", True)
    ):
        protocol._parser = None
        protocol._messages = ()


def _create_route(app: web.Application, server: EngineServer, endpoint: str) -> None:
    # Every method reaches the server, so that a wrong one gets the protocol's 400 rather
    # than aiohttp's 405.
    app.router.add_route("*", endpoint, server.handle_request)
    # New WebSockets at this path skip aiohttp where the app is served by `GatewayRunner`.
    accept_websockets(app, server, endpoint)


# The registry of the accept path (`realtime.protocol.accept`), here so that the engine's route
# can fill it without importing the accept path, which is built on this module.
@dataclass
class AcceptPaths:
    """The engines whose new WebSockets the accept path serves, by request path."""

    engines: dict[str, EngineServer] = field(default_factory=dict)


ACCEPT = web.AppKey("accept_websockets", AcceptPaths)


def accept_websockets(app: web.Application, engine: EngineServer, path: str) -> None:
    """Let `realtime.protocol.accept.GatewayRunner` accept `engine`'s new WebSockets at `path`
    (e.g. `/socket.io/`) itself. An engine with WebSocket compression keeps aiohttp's path (its
    writer task)."""
    if engine.websocket_compression or "websocket" not in engine.transports:
        return
    if ACCEPT not in app:
        app[ACCEPT] = AcceptPaths()
    app[ACCEPT].engines["/" + path.strip("/") + "/"] = engine


class EngineServer(engineio.AsyncServer):  # type: ignore[misc]  # untyped library base
    """python-engineio's `AsyncServer` (aiohttp only) with the fixes of this module.

    Extra arguments: `websocket_compression` (permessage-deflate, default off as in Node's
    Engine.IO 4), `websocket_class` (an `EngineWebSocket` subclass) and `bad_input` (a
    `BadInputSink` told about every protocol violation; by default the first of each connection
    is logged at INFO).
    """

    socket_class: type[EngineSocket] = EngineSocket

    def __init__(
        self,
        *args: Any,
        websocket_compression: bool = False,
        websocket_class: type[EngineWebSocket] = EngineWebSocket,
        bad_input: BadInputSink | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._random_ids = b""  # see generate_id
        self._inline_message: Callable[..., Any] | None = None  # see deliver_message
        if self.async_mode != "aiohttp":
            raise ValueError("EngineServer supports async_mode='aiohttp' only")
        self.websocket_compression = websocket_compression
        self.bad_input = bad_input
        self._async = {
            **self._async,  # type: ignore[has-type]
            "websocket": websocket_class,
            "create_route": _create_route,
            "translate_request": translate_request,
        }

    def generate_id(self) -> str:
        """python-engineio's id (12 random bytes and a 3-byte sequence number, in URL-safe
        base64: 20 characters), with the random bytes taken from a buffer filled by
        `os.urandom` 4 KiB at a time: `secrets.token_bytes` made a `getrandom` system call for
        each of the two ids of every connection (Engine.IO's and Socket.IO's)."""
        random = self._random_ids
        if len(random) < ID_RANDOM_BYTES:
            random = os.urandom(ID_RANDOM_BYTES * 341)
        self._random_ids = random[ID_RANDOM_BYTES:]
        seq: int = self.sequence_number  # type: ignore[has-type]  # the library's counter
        self.sequence_number = (seq + 1) & 0xFFFFFF
        return base64.urlsafe_b64encode(random[:ID_RANDOM_BYTES] + seq.to_bytes(3, "big")).decode()

    async def deliver_message(self, sid: str, data: Any) -> None:
        """A MESSAGE packet's data to the application's `message` handler.

        `_trigger_event` asks `inspect.iscoroutinefunction` about the handler and builds a
        closure for every message; a coroutine handler run in line (python-socketio's, which
        turns `async_handlers` off for Engine.IO) is awaited here directly, with the library's
        error handling (an exception is logged, never raised into the read loop)."""
        handler = self.handlers.get("message")
        if handler is not self._inline_message:
            self._inline_message = handler if inspect.iscoroutinefunction(handler) else None
        inline = self._inline_message
        if inline is None or self.async_handlers:
            await self._trigger_event("message", sid, data, run_async=self.async_handlers)
            return
        try:
            await inline(sid, data)
        except asyncio.CancelledError:
            pass  # as the library's handler wrapper
        except Exception:
            self.logger.exception("message async handler error")

    def report_bad_input(self, sid: str, kind: str, detail: str) -> None:
        if self.bad_input is not None:
            self.bad_input.report(sid, kind, detail)
        else:
            self.logger.info("%s: protocol violation (%s): %s", sid, kind, detail)

    async def handle_request(self, *args: Any, **kwargs: Any) -> Any:
        """The library's entry point, with a direct path for a new WebSocket connection.

        A WebSocket's request handler stays suspended for the connection's life, and so does
        every coroutine frame between aiohttp and the read loop, with its locals (the parsed
        query, the environ). A new WebSocket connection, the common case, therefore goes
        straight to the WebSocket (`_connect_websocket`), past the library's `handle_request`
        and our `_handle_connect`, `handle_get_request` and `_upgrade_websocket` (issue 20:
        ~1.3 KB per idle connection). Everything else takes the library's path.
        """
        environ = self._async["translate_request"](*args, **kwargs)
        method = environ["REQUEST_METHOD"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        transport = query.get("transport", [None])[0]
        sid = query.get("sid", [None])[0]
        direct = query.get("EIO") == ["4"] and "j" not in query
        del query  # not kept alive in this frame for the connection's life
        if method not in ("GET", "POST", "OPTIONS"):
            return await self._make_response(self._bad_request("Bad request method"), environ)
        if method != "OPTIONS" and transport not in self.transports:
            return await self._make_response(self._bad_request("Invalid transport"), environ)
        if (
            direct
            and sid is None
            and method == "GET"
            and transport == "websocket"
            and is_websocket_upgrade(environ)
            and self._origin_allowed(environ)
        ):
            return await self._connect_websocket(environ)
        if (
            sid is not None
            and method == "GET"
            and transport == "websocket"
            and environ.get("HTTP_UPGRADE", "").lower() == "websocket"
            and self._origin_allowed(environ)
        ):
            existing = self.sockets.get(sid)
            if existing is None or existing.closed or existing.upgraded or existing.upgrading:
                return await self._accept_and_close(environ)
        return await super().handle_request(*args, **kwargs)

    def _origin_allowed(self, environ: Environ) -> bool:
        origin = environ.get("HTTP_ORIGIN")
        if self.cors_allowed_origins == [] or not origin:
            return True
        allowed = self._cors_allowed_origins(environ)
        return allowed is None or origin in allowed

    async def _accept_and_close(self, environ: Environ) -> web.WebSocketResponse:
        async def close_at_once(ws: EngineWebSocket) -> None:
            await ws.close()

        ws = self._async["websocket"](close_at_once, self)
        response: web.WebSocketResponse = await ws(environ)
        return response

    async def _handle_connect(
        self, environ: Environ, transport: str, jsonp_index: int | None = None
    ) -> Any:
        # python-engineio 4.15.1's `_handle_connect`, with `socket_class` and exact timings.
        s = await self._open_session(environ, transport)
        if not isinstance(s, EngineSocket):
            return s  # refused
        if transport == "websocket":
            ret = await s.handle_get_request(environ)
            if s.closed and s.sid in self.sockets:
                del self.sockets[s.sid]
            return ret
        s.connected = True
        try:
            packets = await s.poll()
            s.handshake_sent_at = asyncio.get_running_loop().time()
            return self._ok(packets, jsonp_index=jsonp_index)
        except exceptions.QueueEmpty:
            return self._bad_request()

    async def _connect_websocket(self, environ: Environ) -> Any:
        """`_handle_connect` for a new WebSocket, awaiting the WebSocket itself: no frame of
        `_handle_connect`, `handle_get_request` or `_upgrade_websocket` stays suspended under
        the read loop for the connection's life."""
        s = await self._open_session(environ, "websocket")
        if not isinstance(s, EngineSocket):
            return await self._make_response(s, environ)  # refused
        ret = await self._async["websocket"](s._websocket_handler, self)(environ)
        if s.closed and s.sid in self.sockets:
            del self.sockets[s.sid]
        return ret

    async def _open_session(self, environ: Environ, transport: str) -> EngineSocket | Any:
        """A new session: OPEN sent (or queued) and the application's `connect` accepted, or
        the refusal's response dict."""
        if self.start_service_task:  # type: ignore[has-type]
            self.start_service_task = False
            self.service_task_handle = self.start_background_task(self._service_task)
        sid = self.generate_id()
        s = self.socket_class(self, sid)
        self.sockets[sid] = s
        interval = self.ping_interval + self.ping_interval_grace_period
        await s.send(
            Packet(
                OPEN,
                {
                    "sid": sid,
                    "upgrades": self._upgrades(sid, transport),
                    "pingTimeout": round(self.ping_timeout * 1000),
                    "pingInterval": round(interval * 1000),
                    "maxPayload": self.max_http_buffer_size,
                },
            )
        )
        ret = await self._trigger_event("connect", sid, environ, run_async=False)
        if ret is not None and ret is not True:
            del self.sockets[sid]
            self.logger.warning("Application rejected connection")
            return self._unauthorized(ret or None)
        s.schedule_ping()
        return s

    def _ok(
        self,
        packets: list[Packet] | None = None,
        headers: list[tuple[str, str]] | None = None,
        jsonp_index: int | None = None,
    ) -> dict[str, Any]:
        if packets is None:  # a POST's answer: lower-case "ok", as the protocol shows it
            return {
                "status": "200 OK",
                "headers": [("Content-Type", "text/plain; charset=UTF-8")],
                "response": b"ok",
            }
        answer: dict[str, Any] = super()._ok(packets, headers=headers, jsonp_index=jsonp_index)
        return answer

    def _cors_headers(self, environ: Environ) -> list[tuple[str, str]]:
        if self.cors_allowed_origins == []:
            return []
        headers: list[tuple[str, str]] = []
        origin = environ.get("HTTP_ORIGIN")
        allowed = self._cors_allowed_origins(environ)
        if origin and allowed is None:
            headers.append(("Access-Control-Allow-Origin", "*"))
        elif origin and origin in allowed:
            headers += [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
            if self.cors_credentials:
                headers.append(("Access-Control-Allow-Credentials", "true"))
        if environ["REQUEST_METHOD"] == "OPTIONS":
            headers.append(("Access-Control-Allow-Methods", "OPTIONS, GET, POST"))
            if "HTTP_ACCESS_CONTROL_REQUEST_HEADERS" in environ:
                headers.append(
                    ("Access-Control-Allow-Headers", environ["HTTP_ACCESS_CONTROL_REQUEST_HEADERS"])
                )
        return headers
