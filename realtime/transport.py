"""Transport tuning of python-socketio/engineio on aiohttp.

- orjson for packet encoding (the fan-out hot path encodes once per room emit).
- WebSocket permessage-deflate off: python-engineio's aiohttp driver opens `WebSocketResponse`
  with aiohttp's default `compress=True`, which keeps ~36 KB of zlib state per connection and
  compresses every broadcast once per client (DESIGN.md). Node's Engine.IO v4 turned it off by
  default for the same reason; python-engineio has no switch, so the driver's WebSocket class is
  replaced on this server instance only.
"""

from __future__ import annotations

from typing import Any

import engineio.packet
import orjson
import socketio
import socketio.packet
from aiohttp.web import WebSocketResponse
from engineio.async_drivers.aiohttp import WebSocket as _AiohttpWebSocket


class OrjsonJson:
    """The `json` module interface socket.io expects, backed by orjson."""

    @staticmethod
    def dumps(obj: Any, **_kw: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, **_kw: Any) -> Any:
        return orjson.loads(data)


class UncompressedWebSocket(_AiohttpWebSocket):
    async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        await self.handler(self)
        return self._sock


def disable_ws_compression(sio: socketio.AsyncServer) -> None:
    sio.eio._async = {**sio.eio._async, "websocket": UncompressedWebSocket}


class DirectFanout(socketio.AsyncManager):
    """Room emits without a task per recipient.

    python-socketio's `AsyncManager.emit` encodes a broadcast once but then creates one asyncio
    task per recipient (`_send_eio_packet`) and waits for them all: at 1,000 receivers that
    task churn alone was ~18 % of a gateway's CPU (py-spy, bench/fanout). Each Engine.IO socket
    already has an unbounded queue drained by its own writer, so a broadcast only needs to put
    the one encoded packet on every recipient's queue. Emits with a callback (acks) keep the
    library's path. Mixed in below AsyncPubSubManager so the Redis manager's local delivery
    (`_handle_emit` -> `super().emit`) takes it too.
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
        for eio_pkt in eio_pkts:
            eio_pkt.encode()  # fill the packet's encode cache once for every recipient
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            for eio_pkt in eio_pkts:
                sock.queue.put_nowait(eio_pkt)


class DirectFanoutRedisManager(socketio.AsyncRedisManager, DirectFanout):
    """The Redis manager (cross-node fan-out) with `DirectFanout` for its local delivery."""
