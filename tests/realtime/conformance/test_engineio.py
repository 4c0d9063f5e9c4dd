"""Engine.IO 4 conformance (the engine.io-protocol document, v4), against our gateway's
transport and the Node reference alike.

These are the behaviours the official Engine.IO suite checks, written here in our own words
(the suite's code is not part of this repository). Transport-level checks run on both paths:
the bare Engine.IO echo server (`/engine.io/`) and the Engine.IO layer under Socket.IO
(`/socket.io/`); message echo checks need the echo server.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from tests.realtime.conformance.conftest import (
    MAX_PAYLOAD,
    PING_INTERVAL_MS,
    PING_TIMEOUT_MS,
    Frames,
    Server,
    Wire,
    sleep_ms,
)

POLL = "EIO=4&transport=polling"
HANDSHAKE_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


@pytest.fixture(params=["/engine.io/", "/socket.io/"])
def wire(request: pytest.FixtureRequest, http: aiohttp.ClientSession, server: Server) -> Wire:
    return Wire(http, server.url, request.param, ours=server.name == "gateway")


def check_handshake(value: dict[str, object], upgrades: list[str]) -> None:
    # "Handshake": the OPEN packet's JSON object, timings in milliseconds.
    assert set(value) == HANDSHAKE_KEYS
    assert isinstance(value["sid"], str)
    assert value["upgrades"] == upgrades
    assert value["pingInterval"] == PING_INTERVAL_MS
    assert value["pingTimeout"] == PING_TIMEOUT_MS
    assert value["maxPayload"] == MAX_PAYLOAD


# --- Handshake ---------------------------------------------------------------------------------


async def test_polling_handshake(wire: Wire) -> None:
    status, body = await wire.get(POLL)
    assert status == 200 and body.startswith("0")
    check_handshake(json.loads(body[1:]), ["websocket"])


@pytest.mark.parametrize("query", ["transport=polling", "EIO=abc&transport=polling",
                                   "EIO=3&transport=polling"])
async def test_polling_handshake_refuses_a_bad_protocol_version(wire: Wire, query: str) -> None:
    assert (await wire.get(query))[0] == 400


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc"])
async def test_polling_handshake_refuses_a_bad_transport(wire: Wire, query: str) -> None:
    assert (await wire.get(query))[0] == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_handshake_refuses_other_methods(wire: Wire, method: str) -> None:
    # A session starts with a GET; a POST needs a session id; other methods are not part of
    # the polling transport.
    assert await wire.post(POLL, method=method) == 400


async def test_websocket_handshake(wire: Wire) -> None:
    ws = await wire.websocket()
    check_handshake(await ws.handshake(), [])
    await ws.close()


@pytest.mark.parametrize("query", ["EIO=4", "EIO=4&transport=abc"])
async def test_websocket_handshake_refuses_a_bad_transport(wire: Wire, query: str) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await wire.websocket(query)
    assert err.value.status == 400


@pytest.mark.parametrize("query", ["transport=websocket", "EIO=abc&transport=websocket"])
async def test_websocket_handshake_refuses_a_bad_protocol_version(wire: Wire, query: str) -> None:
    # Refused with 400 (ours), or (Node, which also speaks v3 there) never opened as v4.
    try:
        ws = await wire.websocket(query)
    except aiohttp.WSServerHandshakeError as err:
        assert err.status == 400
        return
    assert not wire.ours, "the gateway refuses the upgrade itself"
    try:
        first = await ws.recv(1)
    except AssertionError:
        return  # closed
    assert not (isinstance(first, str) and first.startswith("0{")), first
    await ws.close()


# --- Messages (echo server) ----------------------------------------------------------------------


@pytest.mark.parametrize("payload", ["4hello", "4test1\x1e4test2\x1e4test3",
                                     "4hello\x1ebAQIDBA==", '4{"not": "json-decoded"}'])
async def test_polling_payloads_are_echoed_exactly(eio: Wire, payload: str) -> None:
    # "HTTP long-polling": packets in one payload are separated by \x1e; binary is base64 after
    # a "b"; message data is opaque to Engine.IO. A POST is answered "ok".
    sid = await eio.open_polling()
    assert await eio.post_text(f"{POLL}&sid={sid}", payload) == (200, "ok")
    assert await eio.get(f"{POLL}&sid={sid}") == (200, payload)


@pytest.mark.parametrize("garbage", ["abc", "", "9"])
async def test_polling_invalid_packet_closes_the_session(wire: Wire, garbage: str) -> None:
    sid = await wire.open_polling()
    status = await wire.post(f"{POLL}&sid={sid}", garbage)
    assert status == 400 if wire.ours else status in (200, 400)  # Node answers, then closes
    assert (await wire.get(f"{POLL}&sid={sid}"))[0] == 400


async def test_duplicate_poll_closes_the_session(wire: Wire) -> None:
    # Only one GET may be pending per session: a second one closes it, and the first one
    # carries the CLOSE packet.
    sid = await wire.open_polling()
    first = asyncio.ensure_future(wire.get(f"{POLL}&sid={sid}"))
    await sleep_ms(20)
    status, _ = await wire.get(f"{POLL}&sid={sid}&t=burst")
    assert status in (400, 500)  # Node answers 500, the protocol document leaves it open
    assert await first == (200, "1")
    assert (await wire.get(f"{POLL}&sid={sid}"))[0] == 400


async def test_polling_body_limit_is_the_advertised_max_payload(wire: Wire) -> None:
    sid = await wire.open_polling()
    assert await wire.post(f"{POLL}&sid={sid}", "4" + "x" * (MAX_PAYLOAD - 1)) == 200
    assert await wire.post(f"{POLL}&sid={sid}", "4" + "x" * MAX_PAYLOAD) in (400, 413)
    if wire.ours:  # the gateway treats it as a protocol violation; Node keeps the session
        assert (await wire.get(f"{POLL}&sid={sid}"))[0] == 400


async def test_websocket_text_and_binary_are_echoed(eio: Wire) -> None:
    ws = await eio.websocket()
    await ws.handshake()
    await ws.send("4hello")
    assert await ws.recv() == "4hello"
    await ws.send(bytes([1, 2, 3, 4]))
    assert await ws.recv() == bytes([1, 2, 3, 4])
    await ws.close()


@pytest.mark.parametrize("garbage", ["abc", "", "9"])
async def test_websocket_invalid_packet_closes_the_connection(wire: Wire, garbage: str) -> None:
    ws = await wire.websocket()
    await ws.handshake()
    await ws.send(garbage)
    assert await ws.closed(), "an invalid packet must close the connection"


async def test_websocket_message_limit_is_the_advertised_max_payload(eio: Wire) -> None:
    ws = await eio.websocket()
    limit = (await ws.handshake())["maxPayload"]
    body = "4" + "x" * (limit - 1)
    await ws.send(body)
    assert await ws.recv(5) == body
    await ws.send("4" + "x" * limit)
    assert await ws.closed(5), "a message over maxPayload must close the connection"


# --- Heartbeat -----------------------------------------------------------------------------------


async def test_polling_ping_pong(wire: Wire) -> None:
    # "Heartbeat": the server sends PING every pingInterval; the client answers PONG. Under
    # /socket.io/ the session first connects the namespace: otherwise the Socket.IO connect
    # timeout (1 s) ends it, which three heartbeats on a loaded machine can outlast.
    sid = await wire.open_polling()
    if wire.path == "/socket.io/":
        assert await wire.post(f"{POLL}&sid={sid}", "40") == 200
    pings = 0
    while pings < 3:
        status, body = await wire.get(f"{POLL}&sid={sid}")
        assert status == 200, (status, body)
        for packet in body.split("\x1e"):  # the CONNECT answer may share a poll with a PING
            if packet.startswith("4"):  # Socket.IO's CONNECT answer and the suite's auth echo
                continue
            assert packet == "2", body
            pings += 1
            assert await wire.post(f"{POLL}&sid={sid}", "3") == 200


# The heartbeat's timers run on the server's clock, which a loaded machine delays but never
# advances: so the close is checked from a time taken before the session opened (the server's
# timers cannot start earlier, so at least pingInterval + pingTimeout pass before the close),
# with only a generous bound for a server that never closes. What the close follows is checked
# by order, not by time: the PING is the last thing sent before it (no second PING, no data).
HEARTBEAT_S = (PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000
NEVER_CLOSES_S = 5.0  # a quarter of the libraries' default pingTimeout (20 s)


async def test_polling_ping_timeout_closes_the_session(wire: Wire) -> None:
    opened = time.monotonic()
    sid = await wire.open_polling()
    assert await wire.get(f"{POLL}&sid={sid}") == (200, "2")  # the PING, never answered
    deadline = time.monotonic() + NEVER_CLOSES_S
    while (answer := await wire.get(f"{POLL}&sid={sid}"))[0] != 400:
        # A poll that was waiting when the session closed ends with CLOSE (Node) or NOOP.
        assert answer in ((200, "1"), (200, "6")), answer
        assert time.monotonic() < deadline, "the session outlived a missed PONG"
    assert time.monotonic() - opened >= HEARTBEAT_S


async def test_websocket_ping_pong(wire: Wire) -> None:
    ws = await wire.websocket()
    await ws.handshake()
    if wire.path == "/socket.io/":  # connected, so the connect timeout does not end it first
        await ws.send("40")
        assert (await ws.recv_text()).startswith("40{")
    for _ in range(3):
        while (frame := await ws.recv()) != "2":
            assert isinstance(frame, str) and frame.startswith("42"), frame  # the auth echo
        await ws.send("3")
    await ws.close()


async def test_websocket_ping_timeout_closes_the_connection(wire: Wire) -> None:
    opened = time.monotonic()
    ws = await wire.websocket()
    await ws.handshake()
    assert await ws.recv() == "2"  # never answered
    between, closed_at = await ws.until_closed(NEVER_CLOSES_S)
    assert between == [], "nothing (no second PING) between the unanswered PING and the close"
    assert closed_at - opened >= HEARTBEAT_S


# --- Close ---------------------------------------------------------------------------------------


async def test_polling_close_packet_releases_the_waiting_poll(wire: Wire) -> None:
    sid = await wire.open_polling()
    poll = asyncio.ensure_future(wire.get(f"{POLL}&sid={sid}"))
    await sleep_ms(20)
    assert await wire.post(f"{POLL}&sid={sid}", "1") == 200
    assert await poll == (200, "6")  # the pending poll ends with NOOP at once
    assert (await wire.get(f"{POLL}&sid={sid}"))[0] == 400


async def test_websocket_close_packet_closes_the_connection(wire: Wire) -> None:
    ws = await wire.websocket()
    await ws.handshake()
    await ws.send("1")
    # Ours closes at once, before the first PING is due; Node's WebSocket transport ignores the
    # packet, so its connection ends only by the ping timeout: after one unanswered PING.
    between, _ = await ws.until_closed(NEVER_CLOSES_S)
    assert between == ([] if wire.ours else ["2"])


# --- Upgrade -------------------------------------------------------------------------------------


async def probe(wire: Wire, sid: str) -> Frames:
    """A WebSocket for the polling session `sid`, past the probe (PING probe -> PONG probe)."""
    ws = await wire.websocket(f"EIO=4&transport=websocket&sid={sid}")
    await ws.send("2probe")
    assert await ws.recv() == "3probe"
    return ws


async def test_upgrade_from_polling_to_websocket(eio: Wire) -> None:
    # "Upgrade": probe over the WebSocket, the pending poll ends with NOOP, UPGRADE completes;
    # from then on the WebSocket carries everything, and nothing extra (no stray NOOP).
    sid = await eio.open_polling()
    ws = await probe(eio, sid)
    # A heartbeat that fell due meanwhile (a slow run) is answered; the poll then ends in NOOP.
    while (answer := await eio.get(f"{POLL}&sid={sid}")) != (200, "6"):
        assert answer == (200, "2"), answer
        assert await eio.post(f"{POLL}&sid={sid}", "3") == 200
    await ws.send("5")
    await ws.send("4hello")
    assert await ws.recv(skip_pings=True) == "4hello"
    await ws.close()


async def test_upgrade_ends_a_poll_that_was_already_waiting(eio: Wire) -> None:
    sid = await eio.open_polling()
    poll = asyncio.ensure_future(eio.get(f"{POLL}&sid={sid}"))
    await sleep_ms(20)
    ws = await probe(eio, sid)
    assert await poll == (200, "6")
    await ws.send("5")
    await ws.send("4after")
    assert await ws.recv() == "4after"
    await ws.close()


async def test_http_requests_after_upgrade_are_refused(wire: Wire) -> None:
    sid = await wire.open_polling()
    ws = await probe(wire, sid)
    await ws.send("5")
    await sleep_ms(20)
    assert (await wire.get(f"{POLL}&sid={sid}"))[0] == 400
    assert await ws.recv(skip_pings=False) == "2"  # the session lives on over the WebSocket
    await ws.close()


async def test_second_websocket_for_an_upgraded_session_is_closed(wire: Wire) -> None:
    sid = await wire.open_polling()
    ws = await probe(wire, sid)
    await ws.send("5")
    await sleep_ms(20)
    second = await wire.websocket(f"EIO=4&transport=websocket&sid={sid}")
    assert await second.closed(), "the duplicate WebSocket is accepted, then closed"
    assert await ws.recv() == "2"  # the first one is untouched
    await ws.close()
