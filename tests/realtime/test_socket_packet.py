"""`SocketPacket.data_is_binary` answers as python-socketio's own check does, for any payload.

The gateway's packets run the cheaper check (realtime/protocol/sio.py); whether a packet is
sent as BINARY_EVENT/BINARY_ACK with attachments depends on it, so the two must never differ.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from socketio import packet as sio_packet

from realtime.protocol.sio import SocketPacket, SocketServer

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.binary(max_size=3)
    | st.binary(max_size=3).map(bytearray)
    | st.tuples(st.binary(max_size=2))  # not walked by either: a tuple is a leaf
)
payloads = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=4),
    max_leaves=20,
)


@given(payloads)
@settings(max_examples=3000, deadline=None)
def test_data_is_binary_agrees_with_the_library(data: Any) -> None:
    assert SocketPacket.data_is_binary(data) == sio_packet.Packet.data_is_binary(data)


def test_a_join_ack_packet_is_text_and_one_with_bytes_is_binary() -> None:
    ack = [{"ok": True, "state": {"pins": [{"id": 1, "price": "9.99"}], "viewers": 3}}]
    assert SocketPacket(sio_packet.ACK, data=ack, id=1).packet_type == sio_packet.ACK
    binary = [{"ok": True, "blob": [b"\x00"]}]
    assert SocketPacket(sio_packet.ACK, data=binary, id=1).packet_type == sio_packet.BINARY_ACK


def test_the_server_builds_its_packets_with_it() -> None:
    server = SocketServer(async_mode="aiohttp")
    assert server.packet_class is SocketPacket
