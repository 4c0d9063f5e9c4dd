"""A hostile client against a real gateway process: raw WebSocket frames and real socket.io
clients (issue 16). Each case was once a hole: phantom viewers, unanswered events, a log flood,
presence kept for ~40 s after an aborted socket, unlimited join/leave, any origin with
credentials, a version banner, a polling POST that hung."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from realtime import rooms
from tests.helpers.procs import Proc
from tests.realtime.clients import Client, World, viewers_of
from tests.realtime.conftest import GatewayFactory
from tests.realtime.wire import Frames, Wire


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def member(wire: Wire, stream_id: int, token: str | None = None) -> Frames:
    """A raw socket connected to `/` and joined to the stream's room."""
    ws = await wire.websocket()
    await ws.handshake()
    await ws.send("40" + (json.dumps({"token": token}) if token else ""))
    assert (await ws.recv_text()).startswith("40{")
    await ws.send(f'4299["join",{{"stream_id":{stream_id}}}]')
    ack = await ws.ack(99)
    assert ack["ok"], ack
    return ws


async def viewer_count(redis: aioredis.Redis, stream_id: int) -> int:
    return int(await redis.hlen(rooms.viewers(stream_id)))


async def wait_count(redis: aioredis.Redis, stream_id: int, expected: int, within: float) -> float:
    """Seconds until the room's viewer count is `expected`; fails after `within`."""
    started = time.monotonic()
    while (count := await viewer_count(redis, stream_id)) != expected:
        assert time.monotonic() - started < within, f"viewers {count}, expected {expected}"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_200_phantom_viewers_leave_the_count_right(
    gateway_factory: GatewayFactory, world: World, aredis: aioredis.Redis,
    http: aiohttp.ClientSession, clients: list[Client],
) -> None:
    # A guest joins, then sends an event under a reserved name (which once re-ran the connect
    # handler and orphaned the room membership) and goes away.
    _, url = gateway_factory()
    await world.stream(1)
    watcher = await Client("watcher").connect(url)
    clients.append(watcher)
    await watcher.join(1)
    real = [await Client(f"v{i}").connect(url) for i in range(9)]
    clients.extend(real)
    for c in real:
        await c.join(1)
    await wait_count(aredis, 1, 10, 5)
    wire = Wire(http, url, "/socket.io/")
    reserved = ['42["connect"]', '42["disconnect","x"]', '42["connect_error",{}]',
                '421["disconnecting"]']

    async def phantom(i: int) -> None:
        ws = await member(wire, 1)
        await ws.send(reserved[i % len(reserved)])
        assert await ws.closed(), "a reserved event name closes the connection"

    for batch in range(0, 200, 25):
        await asyncio.gather(*(phantom(i) for i in range(batch, batch + 25)))
    await wait_count(aredis, 1, 10, 5)
    await viewers_of(watcher, 1, 10, timeout=5)
    assert await viewer_count(aredis, 1) == 10


# Every one of these gets an `invalid` ack with its own id: lone surrogates (as JSON escapes,
# which JavaScript strings can carry), wrong arity, unknown or numeric event names, huge numbers.
UNANSWERED_ONCE = [
    '["chat",{"stream_id":1,"text":"\\ud800"}]',
    '["join",{"stream_id":1,"note":"\\udfff"}]',
    '["react",{"stream_id":1,"kind":"heart\\ud83d"}]',
    '["\\ud800",{"stream_id":1}]',
    '["join"]',
    '["join",{"stream_id":1},2]',
    '[5,{"stream_id":1}]',
    '["launch_missiles",{}]',
    '["join",{"stream_id":1e400}]',
    '["chat",{"stream_id":1,"text":"' + "x" * 300 + '"}]',
]


async def test_every_event_is_answered_and_a_persistent_offender_is_disconnected(
    gateway_factory: GatewayFactory, world: World, http: aiohttp.ClientSession,
    clients: list[Client],
) -> None:
    proc, url = gateway_factory(BAD_INPUT_DISCONNECT_AFTER="12")
    await world.stream(1)
    ws = await member(Wire(http, url, "/socket.io/"), 1, world.token(7))
    for i, payload in enumerate(UNANSWERED_ONCE, start=1):
        await ws.send(f"42{i}{payload}")
    for i, payload in enumerate(UNANSWERED_ONCE, start=1):
        ack = await ws.ack(i)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", (payload, ack)
    # A real socket.io client sending a lone surrogate gets its ack too.
    c = await Client("c").connect(url)
    clients.append(c)
    ack = await c.call("chat", {"stream_id": 1, "text": "\ud800"})
    assert ack["error"]["code"] == "invalid" and "surrogate" in ack["error"]["message"]
    # 10 bad events so far, limit 12: the 13th is still answered, then the socket is dropped.
    for i in range(100, 103):
        await ws.send(f'42{i}["join",{{"stream_id":"x"}}]')
    for i in range(100, 103):
        assert (await ws.ack(i))["error"]["code"] == "invalid"
    assert await ws.closed(), "disconnected past BAD_INPUT_DISCONNECT_AFTER"
    assert (await c.call("join", {"stream_id": 1}))["ok"], "others are unaffected"
    metrics = await (await http.get(f"{url}/metrics")).text()
    assert 'gateway_bad_input_total{kind="invalid"} 14.0' in metrics
    assert "gateway_bad_input_disconnects_total 1.0" in metrics
    assert _log_lines(proc, "bad_client_input") == 2  # one per offending connection


def _log_lines(proc: Proc, event: str) -> int:
    return sum(1 for line in proc.log().splitlines() if f'"event": "{event}"' in line)


async def test_a_junk_flood_does_not_grow_the_log(
    gateway_factory: GatewayFactory, world: World, http: aiohttp.ClientSession,
) -> None:
    proc, url = gateway_factory()
    await world.stream(1)
    wire = Wire(http, url, "/socket.io/")
    lines_before = len(proc.log().splitlines())
    junk = ["4abc", "42{}", '42abc["x"]', "abc", "", "9", "4" + "9" * 50, '451-["x",{}]']

    async def junk_connection(i: int) -> None:
        ws = await wire.websocket()
        await ws.handshake()
        await ws.send("40")
        await ws.recv()
        for _ in range(20):  # the first frame closes it; the rest are a flood into nothing
            await ws.send(junk[i % len(junk)])
        assert await ws.closed()

    for batch in range(0, 120, 30):
        await asyncio.gather(*(junk_connection(i) for i in range(batch, batch + 30)))
    # ... and one connection flooding well-formed but invalid events (chat: join would hit
    # its rate limit first).
    ws = await member(wire, 1)
    for i in range(300):
        await ws.send(f'42["chat",{{"stream_id":"{i}","text":1}}]')
    assert await ws.closed(5)
    added = proc.log().splitlines()[lines_before:]
    records = [json.loads(line) for line in added if line.startswith("{")]
    per_connection = Counter(r["eio_sid"] for r in records if r["event"] == "bad_client_input")
    assert per_connection and max(per_connection.values()) == 1
    assert len(added) <= 121 + 5, f"{len(added)} log lines for 121 junk connections"
    assert not [r for r in records if r["level"] in ("error", "critical")]
    assert "Traceback" not in "\n".join(added)
    metrics = await (await http.get(f"{url}/metrics")).text()
    assert 'gateway_bad_input_total{kind="socketio"}' in metrics
    assert 'gateway_bad_input_total{kind="engineio"}' in metrics


async def test_presence_is_released_within_5_s_of_an_aborted_socket(
    gateway_factory: GatewayFactory, world: World, aredis: aioredis.Redis,
    http: aiohttp.ClientSession,
) -> None:
    # The real 20 s heartbeat: nothing here may wait for a ping timeout.
    _, url = gateway_factory(PING_INTERVAL_S="20", PING_TIMEOUT_S="20")
    await world.stream(1)
    wire = Wire(http, url, "/socket.io/")

    garbage = await member(wire, 1)  # an Engine.IO-level garbage frame
    await wait_count(aredis, 1, 1, 5)
    await garbage.send("abc")
    assert await wait_count(aredis, 1, 0, 5) < 5

    aborted = await member(wire, 1)  # the TCP connection dies without a WebSocket close
    await wait_count(aredis, 1, 1, 5)
    transport = aborted.ws._conn.transport if aborted.ws._conn else None
    assert transport is not None
    transport.abort()
    assert await wait_count(aredis, 1, 0, 5) < 5

    closing = await member(wire, 1)  # an Engine.IO CLOSE packet, connection left open
    await wait_count(aredis, 1, 1, 5)
    await closing.send("1")
    assert await wait_count(aredis, 1, 0, 5) < 5
    assert await closing.closed(2)


async def test_join_and_leave_are_rate_limited_per_socket(
    gateway_factory: GatewayFactory, world: World, clients: list[Client],
) -> None:
    _, url = gateway_factory(EVENT_RATE_LIMIT="5/10 seconds")
    await world.stream(1)
    c = await Client("c").connect(url)
    other = await Client("other").connect(url)
    clients.extend([c, other])
    acks: list[Any] = []
    for _ in range(3):
        acks.append(await c.call("join", {"stream_id": 1}))
        acks.append(await c.call("leave", {"stream_id": 1}))
    assert all(a["ok"] for a in acks)
    for event in ("join", "leave"):
        for _ in range(2):
            assert (await c.call(event, {"stream_id": 1}))["ok"]
        assert (await c.call(event, {"stream_id": 1}))["error"]["code"] == "rate_limited"
    for event, payload in (("resume", {"stream_id": 1, "since_seq": 0}),
                           ("unpin", {"stream_id": 1})):
        codes = [(await c.call(event, payload)).get("error", {}).get("code") for _ in range(6)]
        assert codes[-1] == "rate_limited" and "rate_limited" not in codes[:5], (event, codes)
    assert (await other.join(1))["ok"], "the limit is per socket"


async def test_transport_limits_cors_and_banner(
    gateway_factory: GatewayFactory, http: aiohttp.ClientSession,
) -> None:
    _, url = gateway_factory(CORS_ORIGINS='["https://shop.example"]', CONNECT_TIMEOUT_S="1")
    wire = Wire(http, url, "/socket.io/")
    poll = "EIO=4&transport=polling"

    async with http.get(f"{url}/healthz") as r:
        assert "aiohttp" not in r.headers.get("Server", "") and "Python" not in r.headers.get(
            "Server", "")
    async with http.get(wire.url(poll), headers={"Origin": "https://shop.example"}) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "https://shop.example"
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        assert "aiohttp" not in r.headers.get("Server", "")
        limit = json.loads((await r.text())[1:])["maxPayload"]
    assert limit == 64 * 1024  # SOCKET_MAX_PAYLOAD_BYTES, the default
    async with http.get(wire.url(poll), headers={"Origin": "https://evil.example"}) as r:
        assert r.status == 400
        assert "Access-Control-Allow-Origin" not in r.headers
        assert "Access-Control-Allow-Credentials" not in r.headers

    # A 1 MB polling POST with no poll waiting is refused at once (it once hung for ever).
    sid = await wire.open_polling()
    started = time.monotonic()
    assert await wire.post(f"{poll}&sid={sid}", "4" + "x" * 1_000_000) in (400, 413)
    assert time.monotonic() - started < 2

    # The advertised maxPayload is the WebSocket message limit too, inclusive.
    ws = await wire.websocket()
    await ws.handshake()
    await ws.send("40")
    await ws.recv()
    filler = "x" * (limit - len('421["chat",{"stream_id":1,"text":""}]'))
    await ws.send('421["chat",{"stream_id":1,"text":"' + filler + '"}]')
    assert (await ws.ack(1))["error"]["code"] == "invalid"  # too long a text, but delivered
    await ws.send('422["chat",{"stream_id":1,"text":"' + filler + 'x"}]')  # limit + 1
    assert await ws.closed()

    # No namespace CONNECT within CONNECT_TIMEOUT_S: closed.
    idle = await wire.websocket()
    await idle.handshake()
    assert await idle.closed(2.5)


async def test_wildcard_cors_never_allows_credentials(
    gateway_factory: GatewayFactory, http: aiohttp.ClientSession,
) -> None:
    _, url = gateway_factory(CORS_ORIGINS='["*"]')
    headers = {"Origin": "https://anywhere.example"}
    async with http.get(f"{url}/socket.io/?EIO=4&transport=polling", headers=headers) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in r.headers
