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

import orjson
import socketio
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
