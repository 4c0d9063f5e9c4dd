"""Socket.IO 5 fixes over python-socketio's `AsyncServer` (rules: the socket.io-protocol
document, v5, "Packet format" and "Exchange protocol"; where it is silent, the Node reference
server socket.io 4 and its parser socket.io-parser 4).

- A packet that does not decode, or whose payload is not what its type requires (an EVENT is a
  non-empty array whose first element is an event name that is not reserved: `connect`,
  `connect_error`, `disconnect`, `disconnecting`, `newListener`, `removeListener`; an ACK is an
  array with an id; DISCONNECT carries nothing), closes the
  connection, as the reference parser does. python-socketio raised from the message handler:
  an error line per packet, the connection kept, and client events named `connect` or
  `disconnect` reached the application's own handlers.
- Binary attachments: a text packet while attachments are pending, or binary data when none
  are, is a protocol error; a binary packet announcing 0 attachments is complete at once.
- An unknown namespace gets CONNECT_ERROR `{"message": "Invalid namespace"}` (it got the
  string "Unable to connect").
- A connection that has joined no namespace `connect_timeout` seconds after its handshake is
  closed (it stayed open for ever).
- Packets that the application emits to a socket from inside its `connect` handler follow the
  CONNECT reply (python-socketio sends the reply only after the handler has returned, so they
  arrived first, and clients dropped them).
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from engineio.packet import MESSAGE
from engineio.packet import Packet as EnginePacket
from socketio import packet as sio_packet

from realtime.protocol.engine import BadInputSink, EngineServer, EngineSocket, spawn
from realtime.protocol.environ import Environ

RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


class ProtocolError(ValueError):
    """A Socket.IO packet the protocol does not allow."""


def check_packet(pkt: sio_packet.Packet) -> None:
    """Raise ProtocolError unless the packet's payload fits its type (socket.io-parser's rule)."""
    kind, data = pkt.packet_type, pkt.data
    if kind == sio_packet.CONNECT:
        ok = True  # any auth payload reaches the application, which may refuse it
    elif kind == sio_packet.DISCONNECT:
        ok = data is None
    elif kind in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
        ok = isinstance(data, list) and bool(data) and _event_name_ok(data[0])
    elif kind in (sio_packet.ACK, sio_packet.BINARY_ACK):
        ok = isinstance(data, list) and pkt.id is not None
    elif kind == sio_packet.CONNECT_ERROR:
        ok = True  # server-bound CONNECT_ERROR is ignored, as in Node
    else:
        raise ProtocolError("unknown packet type")
    if not ok:
        raise ProtocolError(f"invalid payload for {sio_packet.packet_names[kind]}")


class SocketPacket(sio_packet.Packet):  # type: ignore[misc]  # untyped library base
    """python-socketio's packet with a cheaper binary check (every packet built runs it).

    The library's `data_is_binary` builds a list and folds it with a lambda at every level of
    the payload, and looks at every element even after finding bytes; a join ack's room state
    made it ~1 % of a join storm's CPU. This walks the same values (list items, dict values,
    at any depth) and stops at the first bytes; the answer is the same for every payload
    (`tests/realtime/test_socket_packet.py` compares the two).
    """

    @classmethod
    def data_is_binary(cls, data: Any) -> bool:
        if isinstance(data, bytes | bytearray):
            return True
        if isinstance(data, list):
            items: Any = data
        elif isinstance(data, dict):
            items = data.values()
        else:
            return False
        for item in items:
            if isinstance(item, str | int | float) or item is None:
                continue  # the common leaves, without a call
            if cls.data_is_binary(item):
                return True
        return False


def _event_name_ok(name: Any) -> bool:
    if isinstance(name, str):
        return name not in RESERVED_EVENTS
    return isinstance(name, int | float) and not isinstance(name, bool)


class SocketServer(socketio.AsyncServer):  # type: ignore[misc]  # untyped library base
    """python-socketio's `AsyncServer` on `EngineServer`, with the fixes of this module.

    Extra arguments: `connect_timeout` (seconds a connection may stay without a namespace;
    Node's default is 45) and `bad_input` (a `BadInputSink`, shared with the Engine.IO server).
    `serializer` defaults to `SocketPacket`. Every other argument goes to python-socketio and
    `EngineServer` as before.
    """

    def __init__(
        self,
        *args: Any,
        connect_timeout: float = 45.0,
        bad_input: BadInputSink | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("serializer", SocketPacket)
        super().__init__(*args, bad_input=bad_input, **kwargs)
        self.connect_timeout = connect_timeout
        self.bad_input = bad_input
        self._awaiting_connect: set[str] = set()  # Engine.IO sessions with no namespace yet
        self._tasks: set[asyncio.Task[Any]] = set()

    def _engineio_server_class(self) -> type[EngineServer]:
        return EngineServer

    # --- the connection's first seconds ------------------------------------------------------

    async def _handle_eio_connect(self, eio_sid: str, environ: Environ) -> Any:
        result = await super()._handle_eio_connect(eio_sid, environ)
        self._awaiting_connect.add(eio_sid)
        asyncio.get_running_loop().call_later(
            self.connect_timeout, self._connect_timer, eio_sid
        )
        return result

    def _connect_timer(self, eio_sid: str) -> None:
        """Time is up, counted from when the handshake was written (a loop that is behind must
        not blame the client), and after the frames the loop has already read are handled
        (`call_soon` runs after the reader's pending wake-up): a CONNECT on its way counts."""
        if eio_sid not in self._awaiting_connect:
            return
        loop = asyncio.get_running_loop()
        sock = self.eio.sockets.get(eio_sid)
        sent = getattr(sock, "handshake_sent_at", None)
        left = self.connect_timeout if sent is None else self.connect_timeout - (loop.time() - sent)
        if sock is not None and not sock.closed and left > 0.01:
            loop.call_later(left, self._connect_timer, eio_sid)
        else:
            loop.call_soon(self._connect_timed_out, eio_sid)

    def _connect_timed_out(self, eio_sid: str) -> None:
        if eio_sid not in self._awaiting_connect:
            return
        self._awaiting_connect.discard(eio_sid)
        self._report(eio_sid, "connect_timeout", "no namespace CONNECT")
        spawn(self._tasks, self.eio.disconnect(eio_sid))

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._awaiting_connect.discard(eio_sid)
        self._binary_packet.pop(eio_sid, None)
        try:
            await super()._handle_eio_disconnect(eio_sid, reason)
        finally:
            if self.bad_input is not None:
                self.bad_input.forget(eio_sid)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        namespace = namespace or "/"
        if not (
            namespace in self.handlers
            or namespace in self.namespace_handlers
            or self.namespaces == "*"
            or namespace in self.namespaces
        ):
            await self._send_packet(
                eio_sid,
                self.packet_class(
                    sio_packet.CONNECT_ERROR,
                    data={"message": "Invalid namespace"},
                    namespace=namespace,
                ),
            )
            return
        if self.manager.sid_from_eio_sid(eio_sid, namespace):
            self._report(eio_sid, "socketio", "second CONNECT to a connected namespace")
            return
        sock = self.eio.sockets.get(eio_sid)
        if not isinstance(sock, EngineSocket) or self.always_connect:
            sock = None
        if sock is not None:
            sock.hold()  # what the connect handler emits waits for the CONNECT reply
        try:
            await super()._handle_connect(eio_sid, namespace, data)
        finally:
            if sock is not None:
                await sock.release()
        if self.manager.sid_from_eio_sid(eio_sid, namespace):
            self._awaiting_connect.discard(eio_sid)  # connected: the timeout is over

    async def _send_packet(self, eio_sid: str, pkt: sio_packet.Packet) -> None:
        if pkt.packet_type in (sio_packet.CONNECT, sio_packet.CONNECT_ERROR):
            sock = self.eio.sockets.get(eio_sid)
            if isinstance(sock, EngineSocket) and sock.holding:
                await sock.send_first(EnginePacket(MESSAGE, pkt.encode()))
                return
        await super()._send_packet(eio_sid, pkt)

    # --- packets -----------------------------------------------------------------------------

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        try:
            pkt = self._decode(eio_sid, data)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            await self._protocol_error(eio_sid, exc)
            return
        if pkt is None:
            return  # waiting for more binary attachments
        kind = pkt.packet_type
        if kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        elif kind in (sio_packet.ACK, sio_packet.BINARY_ACK):
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)

    async def _handle_event(
        self, eio_sid: str, namespace: str | None, id: int | None, data: Any
    ) -> None:
        """An event for a namespace the socket is not (or no longer) connected to is dropped
        quietly, as the reference server drops it. python-socketio logs a warning for each one,
        so a client that kept sending after being disconnected for bad input (its queued frames
        are still read) grew the log with its flood."""
        namespace = namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if not self.manager.is_connected(sid, namespace):
            return
        # The rest is python-socketio 5.18.1's `_handle_event` without its INFO line per event
        # (`received event ...`, a logger call for every packet of a join storm) and its second
        # connection check.
        if self.async_handlers:
            spawn(self._tasks, self._handle_event_internal(self, sid, eio_sid, data, namespace, id))
        else:
            await self._handle_event_internal(self, sid, eio_sid, data, namespace, id)

    def _decode(self, eio_sid: str, data: str | bytes) -> sio_packet.Packet | None:
        """The packet `data` completes, None while attachments are pending; raises if invalid."""
        pending = self._binary_packet.get(eio_sid)
        if pending is not None:
            if not isinstance(data, bytes):
                raise ProtocolError("text packet while binary attachments are pending")
            if not pending.add_attachment(data):
                return None
            del self._binary_packet[eio_sid]
            return pending
        if not isinstance(data, str):
            raise ProtocolError("binary data with no binary packet pending")
        pkt = self.packet_class(encoded_packet=data)
        check_packet(pkt)
        if pkt.packet_type in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
            if not self.manager.sid_from_eio_sid(eio_sid, pkt.namespace or "/"):
                raise ProtocolError("binary packet outside a connected namespace")
            if pkt.attachment_count:
                self._binary_packet[eio_sid] = pkt
                return None
        return pkt

    async def _protocol_error(self, eio_sid: str, exc: Exception) -> None:
        """The reference server's answer to a packet it cannot decode: close the connection."""
        self._binary_packet.pop(eio_sid, None)
        self._report(eio_sid, "socketio", str(exc) or type(exc).__name__)
        await self.eio.disconnect(eio_sid)

    def _report(self, eio_sid: str, kind: str, detail: str) -> None:
        if isinstance(self.eio, EngineServer):
            self.eio.report_bad_input(eio_sid, kind, detail)
