"""Pins with a flash-sale countdown: the end time reaches the room and late joiners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.realtime.clients import Client, World
from tests.realtime.conftest import GatewayFactory


async def test_a_flash_pin_carries_its_end_to_the_room_and_late_joiners(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    _, url = gateway_factory()
    await world.stream(1, host_id=1, product_ids=[5, 6])
    await world.product(5, stock=3)
    await world.product(6, stock=8)
    host = await Client("host").connect(url, world.token(1, "Host"))
    viewer = await Client("viewer").connect(url)
    clients.extend([host, viewer])
    await host.join(1)
    await viewer.join(1)

    before = datetime.now(UTC)
    assert await host.call(
        "pin", {"stream_id": 1, "product_id": 5, "flash_seconds": 300}) == {"ok": True}
    pinned = (await viewer.wait_for(lambda: viewer.of("product_pinned")))[0]["product"]
    ends = datetime.fromisoformat(pinned["flash_ends_at"])
    assert before + timedelta(seconds=299) <= ends <= datetime.now(UTC) + timedelta(seconds=300)
    late = await Client("late").connect(url)
    clients.append(late)
    assert (await late.join(1))["pinned"]["flash_ends_at"] == pinned["flash_ends_at"]

    # A plain pin has no countdown; out-of-range or non-integer durations change nothing.
    for bad in (0, 86_401, 1.5, "60"):
        ack = await host.call("pin", {"stream_id": 1, "product_id": 6, "flash_seconds": bad})
        assert ack["error"]["code"] == "invalid", (bad, ack)
    assert (await late.join(1))["pinned"]["id"] == 5
    assert await host.call("pin", {"stream_id": 1, "product_id": 6}) == {"ok": True}
    plain = (await late.join(1))["pinned"]
    assert plain["id"] == 6 and "flash_ends_at" not in plain
