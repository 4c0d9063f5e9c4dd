"""The server side of a WebSocket accepted by `realtime.protocol.accept`, on aiohttp's own C
frame reader and its frame writer, without a `WebSocketResponse` (nor the request it needs)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp._websocket.reader import WebSocketDataQueue  # the C one, as WebSocketReader
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_websocket import (
    WS_CLOSED_MESSAGE,
    WS_CLOSING_MESSAGE,
    WebSocketError,
    WebSocketReader,
    WebSocketWriter,
    WSCloseCode,
    WSMessage,
    WSMsgType,
)
from aiohttp.streams import EofStream

# aiohttp's WebSocketResponse defaults: its reader's buffer and the closing handshake's wait.
READ_LIMIT = 2**16
CLOSE_TIMEOUT_S = 10.0
_INTERNAL = frozenset((WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.PING, WSMsgType.PONG))


class FrameSocket:
    """The server side of an accepted WebSocket: what `EngineSocket` uses of aiohttp's
    `WebSocketResponse` (receive, send, close), with its semantics (answer PING, finish the
    closing handshake, close with the reader's error code), on the same C frame reader and
    writer; no compression, no heartbeat and no receive timeout, as the gateway opens it."""

    __slots__ = (
        "_close_wait",
        "_closed",
        "_closing",
        "_eof",
        "_parser",
        "_protocol",
        "_reader",
        "_transport",
        "_waiting",
        "_writer",
    )

    def __init__(
        self, protocol: BaseProtocol, transport: asyncio.Transport, *, max_msg_size: int
    ) -> None:
        self._protocol = protocol
        self._transport = transport
        self._reader = WebSocketDataQueue(protocol, READ_LIMIT, loop=protocol._loop)
        self._parser: Any = WebSocketReader(
            self._reader, max_msg_size, compress=False, decode_text=True
        )
        self._writer: WebSocketWriter | None = None  # made when first needed (~1 KB)
        self._closed = False
        self._closing = False
        self._waiting = False
        self._eof = False
        self._close_wait: asyncio.Future[None] | None = None

    @property
    def writer(self) -> WebSocketWriter:
        """aiohttp's frame writer, for what is not written straight to the transport (control
        frames, a backlog). Most connections never need one."""
        writer = self._writer
        if writer is None:
            writer = self._writer = WebSocketWriter(self._protocol, self._transport, compress=0)
        return writer

    # --- bytes in (from the protocol) ---------------------------------------------------------

    def feed_data(self, data: bytes) -> None:
        if self._eof:
            return
        eof, _ = self._parser.feed_data(data)
        if eof:
            self._eof = True  # a protocol error: the reader has it; nothing more is read

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    # --- aiohttp's WebSocketResponse API, the part the Engine.IO session uses ----------------

    async def receive(self) -> Any:
        while True:
            if self._closed:
                return WS_CLOSED_MESSAGE
            if self._closing:
                return WS_CLOSING_MESSAGE
            try:
                self._waiting = True
                try:
                    msg = await self._reader.read()
                finally:
                    self._waiting = False
                    if self._close_wait is not None and not self._close_wait.done():
                        self._close_wait.set_result(None)
            except EofStream:
                await self.close()
                return WSMessage(WSMsgType.CLOSED, None, None)
            except WebSocketError as exc:
                await self.close(code=exc.code)
                return WSMessage(WSMsgType.ERROR, exc, None)
            except Exception as exc:
                self._closing = True
                await self.close()
                return WSMessage(WSMsgType.ERROR, exc, None)
            if msg.type not in _INTERNAL:
                return msg
            if msg.type is WSMsgType.CLOSE:
                self._closing = True
                if not self._closed:
                    # The client is closing the connection: nothing to drain towards it.
                    await self.close(drain=False)
            elif msg.type is WSMsgType.CLOSING:
                self._closing = True
            elif msg.type is WSMsgType.PING:
                await self.writer.send_frame(msg.data, WSMsgType.PONG)
                continue
            elif msg.type is WSMsgType.PONG:
                continue
            return msg

    async def send_str(self, data: str) -> None:
        await self.writer.send_frame(data.encode("utf-8"), WSMsgType.TEXT)

    async def send_bytes(self, data: bytes) -> None:
        await self.writer.send_frame(data, WSMsgType.BINARY)

    async def close(self, *, code: int = WSCloseCode.OK, drain: bool = True) -> bool:
        """Send CLOSE, then wait (up to 10 s) for the client's CLOSE, then close the
        connection; as `WebSocketResponse.close`."""
        if self._closed:
            return False
        self._closed = True
        try:
            try:
                await self.writer.close(code, b"")
                if drain:
                    await self._protocol._drain_helper()
            except (TimeoutError, asyncio.CancelledError):
                self._transport.close()
                raise
            except Exception:
                self._transport.close()
                return True
            if self._waiting:  # break the pending receive() before reading here
                self._close_wait = self._protocol._loop.create_future()
                self._reader.feed_data(WS_CLOSING_MESSAGE, 0)
                await self._close_wait
            if self._closing:
                self._transport.close()
                return True
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    while True:
                        msg = await self._reader.read()
                        if msg.type is WSMsgType.CLOSE:
                            self._transport.close()
                            return True
            except asyncio.CancelledError:
                self._transport.close()
                raise
            except Exception:
                self._transport.close()
                return True
        finally:
            self._parser = _CLOSED_PARSER  # release the parser and what it holds


class _ClosedParser:
    """What a closed FrameSocket's bytes go to: nowhere."""

    @staticmethod
    def feed_data(_data: bytes) -> tuple[bool, bytes]:
        return True, b""

    @staticmethod
    def feed_eof() -> None:
        pass


_CLOSED_PARSER = _ClosedParser()
