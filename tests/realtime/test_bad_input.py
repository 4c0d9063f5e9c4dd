"""Whatever a client sends, it gets an error ack (or nothing) and the gateway stays up."""

from __future__ import annotations

from typing import Any

import httpx

from realtime import rooms
from tests.realtime.clients import Client, World
from tests.realtime.conftest import GatewayFactory

BAD_PAYLOADS: list[tuple[str, Any]] = [
    ("join", None),
    ("join", "1"),
    ("join", 1),
    ("join", []),
    ("join", {}),
    ("join", {"stream_id": "1"}),
    ("join", {"stream_id": 1.5}),
    ("join", {"stream_id": True}),
    ("join", {"stream_id": -1}),
    ("join", {"stream_id": 2**70}),
    ("join", {"stream_id": 1, "extra": 1}),
    ("leave", {"stream_id": None}),
    ("chat", {"stream_id": 1}),
    ("chat", {"stream_id": 1, "text": 5}),
    ("chat", {"stream_id": 1, "text": ["a"]}),
    ("chat", {"stream_id": 1, "text": "x" * 5000}),
    ("react", {"stream_id": 1, "kind": None}),
    ("react", {"stream_id": 1, "kind": "HEART"}),
    ("pin", {"stream_id": 1, "product_id": "5"}),
    ("unpin", {"product_id": 5}),
    ("moderate", {"stream_id": 1, "action": None}),
    ("resume", {"stream_id": 1, "since_seq": -1}),
    ("resume", {"stream_id": 1, "since_seq": "0"}),
    ("resume", {"stream_id": 1}),
]


async def test_bad_payloads_get_invalid_acks(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    # Limits off: here every bad payload must reach validation (test_hostile.py tests them).
    _, url = gateway_factory(
        EVENT_RATE_LIMIT="1000/second", BAD_INPUT_DISCONNECT_AFTER="1000"
    )
    await world.stream(1)
    c = await Client("c").connect(url, world.token(1))
    clients.append(c)
    for event, payload in BAD_PAYLOADS:
        ack = await c.call(event, payload)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", (event, payload, ack)
        assert isinstance(ack["error"]["message"], str)

    # No payload, several payloads, a binary payload, an unknown event.
    assert (await c.sio.call("join", timeout=5))["error"]["code"] == "invalid"
    assert (await c.sio.call("join", ({"stream_id": 1}, 2), timeout=5))["error"]["code"] == \
        "invalid"
    assert (await c.call("join", b"\x00\x01"))["error"]["code"] == "invalid"
    assert await c.call("launch_missiles", {"stream_id": 1}) == {
        "ok": False, "error": {"code": "invalid", "message": "unknown event"}}
    # Unknown streams are not found; the connection and node survived all of the above.
    assert (await c.call("join", {"stream_id": 12345}))["error"]["code"] == "not_found"
    assert (await c.join(1))["ok"]
    assert httpx.get(f"{url}/healthz").status_code == 200


async def test_oversized_packet_is_dropped_not_fatal(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    """Beyond the 64 KB packet limit the socket is closed; the node keeps serving others."""
    _, url = gateway_factory()
    await world.stream(1)
    big = await Client("big").connect(url)
    other = await Client("other").connect(url)
    clients.extend([big, other])
    await big.sio.emit("chat", {"stream_id": 1, "text": "x" * 70_000})
    await big.wait_for(lambda: big.disconnected.is_set(), 5)
    assert (await other.join(1))["ok"]


async def test_an_unexpected_failure_is_answered_with_an_internal_error_ack(
    gateway_factory: GatewayFactory, world: World, aredis: Any, clients: list[Client]
) -> None:
    """A dependency failing in a way no handler expects (here Redis answers WRONGTYPE, because
    the room's chat history is not a list) still gets an ack, and the socket keeps working."""
    _, url = gateway_factory()
    await world.stream(1)
    await world.stream(2)
    await aredis.set(rooms.chat_history(1), "not a list")
    c = await Client("c").connect(url, world.token(1))
    clients.append(c)
    ack = await c.call("join", {"stream_id": 1})
    assert ack == {"ok": False, "error": {"code": "internal_error", "message": "internal error"}}
    assert (await c.join(2))["ok"]
