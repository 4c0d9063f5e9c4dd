"""Transport tuning of python-socketio/engineio on aiohttp.

- orjson for packet encoding (the fan-out hot path encodes once per room emit).
- WebSocket permessage-deflate off unless `WEBSOCKET_COMPRESSION` (realtime/protocol/engine.py
  has the switch python-engineio lacks): it keeps ~36 KB of zlib state per connection and
  compresses every broadcast once per client (DESIGN.md), which is why Node's Engine.IO v4 turned
  it off by default.
- Room emits write one pre-built WebSocket frame straight to each idle recipient's transport
  (`DirectFanout`), instead of a task, a queue hop and a frame build per recipient.

Several of these reach into library internals: importing `realtime.protocol` (below) fails on
python-engineio/python-socketio versions they were not checked against
(`realtime.protocol.check_versions`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import engineio.packet
import orjson
import socketio
import socketio.packet
from aiohttp import web

from realtime.metrics import FANOUT_WRITES, PUBSUB_RECEIVED
from realtime.protocol import EngineSocket, EngineWebSocket, IndexedRooms
from realtime.protocol.engine import websocket_frame

_DIRECT_WRITES = FANOUT_WRITES.labels("direct")
_QUEUED_WRITES = FANOUT_WRITES.labels("queued")
_SINGLE_RECEIVED = PUBSUB_RECEIVED.labels("single")


class OrjsonJson:
    """The `json` module interface socket.io expects, backed by orjson.

    orjson refuses what JSON allows but UTF-8 cannot hold: lone surrogates (`"\\ud800"`, which a
    JavaScript client can send). Those go through the standard library instead, so the packet
    still reaches its handler (which answers `invalid`) instead of failing to decode, unanswered.
    """

    @staticmethod
    def dumps(obj: Any, **_kw: Any) -> str:
        try:
            return orjson.dumps(obj).decode()
        except TypeError:
            return json.dumps(obj, separators=(",", ":"))

    @staticmethod
    def loads(data: str | bytes, **_kw: Any) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return json.loads(data, parse_constant=_no_constants)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: refused, as by orjson and Node


class DirectWebSocket(EngineWebSocket):
    """Gives the Engine.IO socket its raw transport while the WebSocket is open, so that
    `DirectFanout` can write frames to it (uncompressed: one frame's bytes serve everyone)."""

    __slots__ = ()

    def opened(self, request: web.Request) -> None:
        if eio_socket := self._direct_socket():
            eio_socket.direct_transport = request.transport

    def closing(self) -> None:
        if eio_socket := self._direct_socket():
            eio_socket.direct_transport = None

    def _direct_socket(self) -> EngineSocket | None:
        # `handler` is the Engine.IO socket's bound `_websocket_handler`.
        eio_socket = getattr(self.handler, "__self__", None)
        if isinstance(eio_socket, EngineSocket) and not self.server.websocket_compression:
            return eio_socket
        return None


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked, uncompressed WebSocket text frame (RFC 6455 §5.2), as a server sends."""
    return websocket_frame(payload)


def direct_transport(sock: Any) -> asyncio.WriteTransport | None:
    """The socket's transport if a frame may be written to it now, else None (see
    `EngineSocket.direct_write_transport`; other sockets never take the direct path)."""
    if not isinstance(sock, EngineSocket):
        return None
    return sock.direct_write_transport()


class DirectFanout(IndexedRooms, socketio.AsyncManager):  # type: ignore[misc]  # untyped library base
    """Room emits without a task, a queue hop or a frame build per recipient.

    python-socketio's `AsyncManager.emit` encodes a broadcast once but then creates one asyncio
    task per recipient (`_send_eio_packet`) and waits for them all: at 1,000 receivers that
    task churn alone was ~18 % of a gateway's CPU (py-spy, bench/fanout). Putting the packet on
    each socket's Engine.IO queue instead still woke one writer task per recipient, which built
    the same frame again and wrote it. So a broadcast builds its WebSocket frame once and writes
    those bytes to every recipient whose writer is idle (`direct_transport`), one
    `transport.write` each; the others (polling clients, a writer busy or behind, a slow reader)
    get the packet on their queue as before, so per-socket order is kept. Emits with a callback
    (acks) keep the library's path. Mixed in below AsyncPubSubManager so the Redis manager's
    local delivery (`_handle_emit` -> `super().emit`) takes it too. Every manager of the
    gateway derives from it, so `IndexedRooms` (a disconnect without a scan of every room)
    comes with it.
    """

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: str | list[str] | None = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to,
                **kwargs,
            )
            return
        room = to or room
        if namespace not in self.rooms:
            return
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        pkt = self.server.packet_class(socketio.packet.EVENT, namespace=namespace,
                                       data=[event, *args])
        encoded = pkt.encode()
        eio_pkts = [
            engineio.packet.Packet(engineio.packet.MESSAGE, p)
            for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        encoded_eio = [p.encode() for p in eio_pkts]  # also fills each packet's encode cache
        # One frame for everyone, if the packets are text (binary attachments take the queue).
        frame = (
            b"".join(text_frame(e.encode()) for e in encoded_eio)
            if all(isinstance(e, str) for e in encoded_eio) else None
        )
        sockets = self.server.eio.sockets
        direct = queued = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            transport = direct_transport(sock) if frame is not None else None
            if transport is not None:
                transport.write(frame)  # type: ignore[arg-type]
                direct += 1
            else:
                for eio_pkt in eio_pkts:
                    sock.send_nowait(eio_pkt)
                queued += 1
        _DIRECT_WRITES.inc(direct)
        _QUEUED_WRITES.inc(queued)


class DirectFanoutRedisManager(socketio.AsyncRedisManager, DirectFanout):  # type: ignore[misc]  # untyped library base
    """python-socketio's Redis manager (every emit on one channel every node decodes) with
    `DirectFanout` for its local delivery: `SOCKETIO_MANAGER=single`, the baseline that
    `realtime.sharding.ShardedRedisManager` replaces by default."""

    async def _listen(self) -> AsyncIterator[Any]:
        async for message in super()._listen():
            _SINGLE_RECEIVED.inc()
            yield message
