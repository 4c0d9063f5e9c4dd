"""Moderation across two nodes: delete, mute/unmute, slow mode, ban (kick + no rejoin)."""

from __future__ import annotations

import asyncio

from tests.realtime.clients import Client, World, marker
from tests.realtime.conftest import GatewayFactory


async def test_moderation_actions(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    (_, url_a), (_, url_b) = gateway_factory.many("a", "b")
    await world.stream(1, host_id=1, moderator_ids=[2])
    host = await Client("host").connect(url_a, world.token(1, "Host"))
    mod = await Client("mod").connect(url_b, world.token(2, "Mod"))
    troll = [await Client(f"troll{u[-2:]}").connect(u, world.token(9, "Troll"))
             for u in (url_a, url_b)]
    viewer = await Client("viewer").connect(url_a, world.token(3, "Viewer"))
    guest = await Client("guest").connect(url_b)
    clients.extend([host, mod, *troll, viewer, guest])
    for c in [host, mod, *troll, viewer, guest]:
        await c.join(1)

    # Only staff; nobody acts on staff.
    for who, code in [(viewer, "forbidden"), (guest, "unauthorized")]:
        ack = await who.call("moderate", {"stream_id": 1, "action": "mute", "target": 9})
        assert ack["error"]["code"] == code
    ack = await mod.call("moderate", {"stream_id": 1, "action": "ban", "target": 1})
    assert ack["error"]["code"] == "forbidden"

    # delete: the room learns, the history forgets.
    sent = await troll[0].call("chat", {"stream_id": 1, "text": "spam"})
    assert await mod.call("moderate", {"stream_id": 1, "action": "delete",
                                       "target": sent["id"]}) == {"ok": True}
    deleted = await viewer.wait_for(lambda: viewer.of("chat_deleted"))
    assert deleted[0]["id"] == sent["id"] and deleted[0]["stream_id"] == 1
    assert (await viewer.join(1))["recent_messages"] == []

    # mute (on every node: the troll's other tab too), then unmute.
    assert await host.call("moderate", {"stream_id": 1, "action": "mute", "target": 9,
                                        "seconds": 60}) == {"ok": True}
    event = (await viewer.wait_for(lambda: viewer.of("moderation")))[0]
    assert event == {"action": "mute", "by": 1, "target": 9, "seconds": 60, "stream_id": 1,
                     "seq": event["seq"], "epoch": event["epoch"]}
    for t in troll:
        assert (await t.call("chat", {"stream_id": 1, "text": "x"}))["error"]["code"] == "muted"
    await host.call("moderate", {"stream_id": 1, "action": "unmute", "target": 9})
    assert (await troll[1].call("chat", {"stream_id": 1, "text": "sorry"}))["ok"]

    # slow mode: one message per user per N seconds; 0 turns it off.
    await mod.call("moderate", {"stream_id": 1, "action": "slow_mode", "seconds": 30})
    assert (await viewer.call("chat", {"stream_id": 1, "text": "one"}))["ok"]
    slow = await viewer.call("chat", {"stream_id": 1, "text": "two"})
    assert slow["error"]["code"] == "rate_limited"
    await mod.call("moderate", {"stream_id": 1, "action": "slow_mode", "seconds": 0})
    assert (await viewer.call("chat", {"stream_id": 1, "text": "three"}))["ok"]

    # ban: every socket of the user leaves the room on both nodes and cannot come back.
    assert await mod.call("moderate", {"stream_id": 1, "action": "ban", "target": 9}) == \
        {"ok": True}
    await viewer.wait_for(lambda: any(m["action"] == "ban" for m in viewer.of("moderation")))
    for t in troll:
        for _ in range(50):  # the kick reaches the other node through Redis
            ack = await t.call("chat", {"stream_id": 1, "text": "still here?"})
            if ack["error"]["message"] == "join the stream first":
                break
            assert ack["error"]["code"] == "forbidden"  # banned, not yet kicked
            await asyncio.sleep(0.1)
        assert ack["error"] == {"code": "forbidden", "message": "join the stream first"}
        rejoin = await t.call("join", {"stream_id": 1})
        assert rejoin["error"]["code"] == "forbidden"
    await marker(mod, 1, [viewer])  # said after every refused line of the banned user
    assert "still here?" not in {m["text"] for m in viewer.chats(1)}  # nothing got through


async def test_moderate_rejects_malformed_commands(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    _, url = gateway_factory()
    await world.stream(1, host_id=1)
    host = await Client("host").connect(url, world.token(1))
    clients.append(host)
    for bad in [
        {"stream_id": 1, "action": "delete"},
        {"stream_id": 1, "action": "delete", "target": 5},
        {"stream_id": 1, "action": "mute", "target": "nine"},
        {"stream_id": 1, "action": "slow_mode"},
        {"stream_id": 1, "action": "slow_mode", "seconds": 99999},
        {"stream_id": 1, "action": "explode", "target": 9},
        {"stream_id": 1, "action": "ban", "target": 9, "extra": True},
    ]:
        ack = await host.call("moderate", bad)
        assert ack["error"]["code"] == "invalid", bad
