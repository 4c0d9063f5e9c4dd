"""Room emits written straight to idle WebSocket transports (realtime/transport.py): the frame
bytes, when the direct path may be taken, and a room mixing WebSocket and polling clients
receiving every message in order on a real gateway."""

from __future__ import annotations

import asyncio
import re
import struct

import httpx
from engineio.packet import MESSAGE, Packet

from realtime.protocol import EngineServer, EngineSocket
from realtime.protocol.engine import DIRECT_WRITE_MAX_BUFFER
from realtime.transport import direct_transport, text_frame
from tests.realtime.clients import Client, World
from tests.realtime.conftest import GatewayFactory


def test_text_frames_follow_rfc_6455() -> None:
    # RFC 6455 §5.7: "A single-frame unmasked text message" containing "Hello".
    assert text_frame(b"Hello") == bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    # Payload length encodings (§5.2): 7 bits up to 125, 16 bits up to 65535, then 64 bits.
    assert text_frame(b"x" * 125)[:2] == bytes([0x81, 125])
    assert text_frame(b"x" * 126)[:4] == bytes([0x81, 126]) + struct.pack("!H", 126)
    assert text_frame(b"x" * 65535)[:4] == bytes([0x81, 126]) + struct.pack("!H", 65535)
    big = text_frame(b"x" * 65536)
    assert big[:10] == bytes([0x81, 127]) + struct.pack("!Q", 65536) and len(big) == 65546


class _Transport:
    """The two questions the direct path asks of an asyncio transport, and what it wrote."""

    def __init__(self, buffered: int = 0, closing: bool = False) -> None:
        self.buffered, self.closing = buffered, closing
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.written.append(data)


class _WebSocket:
    """What the backlog writer calls on aiohttp's WebSocket (it waits for the drain there)."""

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []
        self.closed = False

    async def send(self, message: str | bytes) -> None:
        self.sent.append(message)

    async def close(self) -> None:
        self.closed = True


def _websocket_socket(transport: _Transport) -> tuple[EngineSocket, _WebSocket]:
    """A real Engine.IO socket as `_websocket_handler` leaves it while a WebSocket serves it."""
    sock = EngineSocket(EngineServer(async_mode="aiohttp"), "sid")
    ws = _WebSocket()
    sock.connected = sock.upgraded = True
    sock.direct_transport = transport  # type: ignore[assignment]
    sock._ws = ws  # type: ignore[assignment]
    sock._flush()  # as the handler does once the WebSocket is open
    return sock, ws


async def test_direct_path_only_for_an_idle_websocket() -> None:
    transport = _Transport()
    sock, _ = _websocket_socket(transport)
    assert direct_transport(sock) is transport
    for attr, value in (("closed", True), ("_hold", 1)):
        setattr(sock, attr, value)
        assert direct_transport(sock) is None, attr
        setattr(sock, attr, type(value)(0))
    sock.queue.put_nowait(Packet(MESSAGE, "earlier"))
    assert direct_transport(sock) is None, "must not overtake a queued packet"
    sock.queue.get_nowait()
    transport.buffered = DIRECT_WRITE_MAX_BUFFER + 1
    assert direct_transport(sock) is None, "a slow reader's frames wait in its queue"
    transport.buffered, transport.closing = 0, True
    assert direct_transport(sock) is None
    transport.closing = False
    sock._ws = None  # polling, or mid-upgrade
    assert direct_transport(sock) is None
    sock._ws, sock.direct_transport = _WebSocket(), None  # type: ignore[assignment]
    assert direct_transport(sock) is None, "compression on: aiohttp frames every message"


async def test_an_idle_websocket_is_written_without_a_task_and_a_backlog_with_one() -> None:
    transport = _Transport()
    sock, ws = _websocket_socket(transport)
    sock.send_nowait(Packet(MESSAGE, "a"))
    await sock.send(Packet(MESSAGE, "b"))
    assert transport.written == [text_frame(b"4a"), text_frame(b"4b")]
    assert sock._writer is None and sock._queue is None, "no queue kept between backlogs"

    transport.buffered = DIRECT_WRITE_MAX_BUFFER + 1  # the reader is slow
    sock.send_nowait(Packet(MESSAGE, "c"))
    sock.send_nowait(Packet(MESSAGE, "d"))
    assert len(transport.written) == 2 and sock._writer is not None
    assert direct_transport(sock) is None, "fan-out must not overtake the backlog"
    writer = sock._writer
    await writer
    assert ws.sent == ["4c", "4d"], "the backlog went through aiohttp, in order"
    assert sock._writer is None

    transport.buffered = 0  # drained: straight to the transport again
    sock.send_nowait(Packet(MESSAGE, "e"))
    assert transport.written[-1] == text_frame(b"4e") and sock._writer is None

    await sock.close(wait=False, abort=True)
    assert sock._writer is not None
    await sock._writer
    assert ws.closed, "closing the session closes its WebSocket (which ends the reader)"


def _writes(metrics: str, path: str) -> float:
    found = re.search(rf'gateway_fanout_writes_total{{path="{path}"}} ([0-9.e+]+)', metrics)
    return float(found.group(1)) if found else 0.0


async def test_websocket_and_polling_clients_get_every_message_in_order(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    _, url = gateway_factory(CHAT_RATE_LIMIT="100/10 seconds")
    await world.stream(7)
    talker = await Client("talker").connect(url, world.token(70, "Talk"))
    ws_viewer = await Client("ws").connect(url)
    poll_viewer = await Client("poll").connect(url, transports=["polling"])
    clients.extend([talker, ws_viewer])
    try:
        await _check_order(url, talker, ws_viewer, poll_viewer)
    finally:
        # A polling client's graceful disconnect waits ~25 s for its open long-poll: abort it.
        await poll_viewer.sio.eio.disconnect(abort=True)


async def _check_order(url: str, talker: Client, ws_viewer: Client, poll_viewer: Client) -> None:
    await asyncio.gather(talker.join(7), ws_viewer.join(7), poll_viewer.join(7))

    sent = []
    for i in range(30):
        ack = await talker.call("chat", {"stream_id": 7, "text": f"m{i}"})
        assert ack["ok"], ack
        sent.append(ack["seq"])
    for viewer in (ws_viewer, poll_viewer):
        got = await viewer.wait_for(lambda v=viewer: len(v.chats(7)) >= 30 and v.chats(7), 10)
        assert [m["seq"] for m in got] == sent, viewer
        assert [m["text"] for m in got] == [f"m{i}" for i in range(30)]

    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{url}/metrics")).text
    # The WebSocket viewer's chat frames were written directly (its writer idle between them);
    # the polling viewer's went through its queue, as every frame to a polling client must.
    frames = {v: len(v.of("chat")) + len(v.of("chat_batch")) for v in (ws_viewer, poll_viewer)}
    assert _writes(metrics, "direct") >= frames[ws_viewer] > 0
    assert _writes(metrics, "queued") >= frames[poll_viewer] > 0
