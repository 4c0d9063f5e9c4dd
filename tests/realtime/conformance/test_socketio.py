"""Socket.IO 5 conformance (the socket.io-protocol document, v5: "Packet format", "Exchange
protocol"), against our gateway's transport and the Node reference alike, with raw WebSocket
frames.

These are the behaviours the official Socket.IO suite checks, in our own words and code. The
handlers on both servers: `/` and `/custom` emit `auth` (the CONNECT payload) on connect; `/`
echoes `message` as `message-back` and acknowledges `message-with-ack` with its arguments.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.realtime.conformance.conftest import CONNECT_TIMEOUT_S, Frames, Wire

PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


async def connected(sio: Wire) -> Frames:
    """A WebSocket connected to the main namespace, past its handshake and `auth` event."""
    ws = await sio.websocket()
    await ws.handshake()
    await ws.send("40")
    assert (await ws.recv_text()).startswith("40")
    assert await ws.recv() == '42["auth",{}]'
    return ws


# --- Connection to a namespace -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("connect", "prefix", "auth"),
    [
        ("40", "40", "{}"),
        ('40{"token":"123"}', "40", '{"token":"123"}'),
        ("40/custom,", "40/custom,", "{}"),
        ('40/custom,{"token":"abc"}', "40/custom,", '{"token":"abc"}'),
    ],
)
async def test_connect_to_a_namespace(sio: Wire, connect: str, prefix: str, auth: str) -> None:
    # The CONNECT reply carries the namespace's socket id and comes before anything the
    # server emits to that socket (here the `auth` event sent from the connect handler).
    ws = await sio.websocket()
    await ws.handshake()
    await ws.send(connect)
    reply = await ws.recv()
    assert isinstance(reply, str) and reply.startswith(prefix)
    assert set(json.loads(reply[len(prefix):])) == {"sid"}
    namespace = prefix[2:]
    assert await ws.recv() == f'42{namespace}["auth",{auth}]'
    await ws.close()


async def test_unknown_namespace_is_refused(sio: Wire) -> None:
    ws = await sio.websocket()
    await ws.handshake()
    await ws.send("40/random")
    assert await ws.recv() == '44/random,{"message":"Invalid namespace"}'
    await ws.close()


async def test_invalid_handshake_closes_the_connection(sio: Wire) -> None:
    ws = await sio.websocket()
    await ws.handshake()
    await ws.send("4abc")
    assert await ws.closed()


async def test_no_namespace_connect_closes_the_connection(sio: Wire) -> None:
    opened = time.monotonic()
    ws = await sio.websocket()
    await ws.handshake()
    # Closed by the connect timeout (its timer cannot start before `opened`), however late a
    # loaded machine lets it fire; the bound is only for a server that never closes. PINGs are
    # answered, so the heartbeat's timeout (0.5 s here) cannot be what closes it.
    _, closed_at = await ws.until_closed(10.0, pong=True)
    assert closed_at - opened >= CONNECT_TIMEOUT_S


# --- Disconnection from a namespace --------------------------------------------------------------


async def test_disconnect_from_the_main_namespace_keeps_the_connection(sio: Wire) -> None:
    ws = await connected(sio)
    await ws.send("41")
    assert await ws.recv() == "2"  # Engine.IO carries on: the next heartbeat comes
    await ws.close()


async def test_connect_then_disconnect_a_custom_namespace(sio: Wire) -> None:
    ws = await connected(sio)
    await ws.send("40/custom")
    assert (await ws.recv_text(skip_pings=True)).startswith("40/custom,")
    assert await ws.recv(skip_pings=True) == '42/custom,["auth",{}]'
    await ws.send("41/custom")
    await ws.send('42["message","message to main namespace"]')
    assert await ws.recv(skip_pings=True) == '42["message-back","message to main namespace"]'
    await ws.close()


# --- Sending and receiving data, acknowledgements ------------------------------------------------


async def test_event(sio: Wire) -> None:
    ws = await connected(sio)
    await ws.send('42["message",1,"2",{"3":[true]}]')
    assert await ws.recv(skip_pings=True) == '42["message-back",1,"2",{"3":[true]}]'
    await ws.close()


async def test_event_with_ack(sio: Wire) -> None:
    ws = await connected(sio)
    await ws.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert await ws.recv(skip_pings=True) == '43456[1,"2",{"3":[false]}]'
    await ws.close()


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        (f'452-["message",{PH0},{PH1}]', f'452-["message-back",{PH0},{PH1}]'),  # event
        (f'452-789["message-with-ack",{PH0},{PH1}]', f"462-789[{PH0},{PH1}]"),  # ... with ack
    ],
)
async def test_binary_attachments(sio: Wire, sent: str, answer: str) -> None:
    # BINARY_EVENT / BINARY_ACK: placeholders in the JSON, the attachments in the next frames.
    ws = await connected(sio)
    await ws.send(sent)
    await ws.send(bytes([1, 2, 3]))
    await ws.send(bytes([4, 5, 6]))
    assert await ws.recv(skip_pings=True) == answer
    assert await ws.recv(skip_pings=True) == bytes([1, 2, 3])
    assert await ws.recv(skip_pings=True) == bytes([4, 5, 6])
    await ws.close()


@pytest.mark.parametrize(
    "packet",
    [
        "4abc",  # unknown packet type
        "42{}",  # an EVENT's payload is an array
        '42abc["message-with-ack",1]',  # the ack id is digits
        "42[]",  # ... and names an event
        '42["connect"]',  # reserved event names are never the client's
        '42["disconnect","x"]',
        "9",  # not a Socket.IO packet type at all
    ],
)
async def test_invalid_packet_closes_the_connection(sio: Wire, packet: str) -> None:
    ws = await connected(sio)
    await ws.send(packet)
    assert await ws.closed()


async def test_text_while_attachments_are_pending_closes_the_connection(sio: Wire) -> None:
    ws = await connected(sio)
    await ws.send(f'451-["message",{PH0}]')
    await ws.send('42["message","not an attachment"]')
    assert await ws.closed()
