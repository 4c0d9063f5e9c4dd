"""Several gateway nodes on one Redis: rooms, pins and viewer counts span them all."""

from __future__ import annotations

import itertools
import os
import signal

from shared import roomstats
from tests.realtime.clients import Client, World, viewers_of
from tests.realtime.conftest import GatewayFactory

PRODUCT = {"id": 5, "name": "product 5", "price": "1290.00", "currency": "TWD", "stock": 10,
           "image_url": "https://cdn.example/p/5.jpg"}


async def test_three_nodes_share_chat_pins_and_join_state(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    urls = [url for _, url in gateway_factory.many("a", "b", "c")]
    await world.stream(1, host_id=1, product_ids=[5, 6], moderator_ids=[2])
    await world.product(5)
    host = await Client("host").connect(urls[0], world.token(1, "Host"))
    mod = await Client("mod").connect(urls[1], world.token(2, "Mod"))
    viewers = [await Client(f"v{i}").connect(urls[i % 3], world.token(30 + i, f"V{i}"))
               for i in range(3)]
    clients.extend([host, mod, *viewers])
    for c in [host, mod, *viewers]:
        await c.join(1)

    # Only the host pins (a moderator may not), and only products of the lineup.
    assert (await mod.call("pin", {"stream_id": 1, "product_id": 5}))["error"]["code"] == \
        "forbidden"
    assert (await host.call("pin", {"stream_id": 1, "product_id": 7}))["error"]["code"] == \
        "not_found"
    assert (await host.call("pin", {"stream_id": 1, "product_id": 6}))["error"]["code"] == \
        "not_found"  # in the lineup, but commerce has no snapshot of it
    assert await host.call("pin", {"stream_id": 1, "product_id": 5}) == {"ok": True}
    for c in [host, mod, *viewers]:
        pinned = await c.wait_for(lambda c=c: c.of("product_pinned"))
        assert pinned[0]["product"] == PRODUCT and pinned[0]["stream_id"] == 1
        assert isinstance(pinned[0]["seq"], int)

    sent = await viewers[1].call("chat", {"stream_id": 1, "text": "from node b"})
    for c in [host, mod, *viewers]:
        got = await c.wait_for(lambda c=c: c.chats(1))
        assert got[0]["id"] == sent["id"] and got[0]["seq"] == sent["seq"]

    # A late joiner sees the same state on any node.
    late = [await Client(f"late{i}").connect(u) for i, u in enumerate(urls)]
    clients.extend(late)
    acks = [await c.join(1) for c in late]
    for ack in acks:
        ack.pop("viewers")  # grows by one per late joiner
        assert ack == acks[0]
    assert acks[0]["pinned"] == PRODUCT
    assert [m["text"] for m in acks[0]["recent_messages"]] == ["from node b"]

    assert await host.call("unpin", {"stream_id": 1}) == {"ok": True}
    await viewers[2].wait_for(lambda: viewers[2].of("product_unpinned"))
    assert (await late[2].join(1))["pinned"] is None


async def test_viewer_counts_are_exact_across_nodes_and_tabs(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    (_, url_a), (_, url_b) = gateway_factory.many("a", "b")
    await world.stream(1)
    token = world.token(40, "Tabs")
    tabs = [await Client(f"tab{i}").connect(u, token) for i, u in enumerate([url_a, url_b,
                                                                             url_a])]
    guests = [await Client(f"g{i}").connect(u) for i, u in enumerate([url_a, url_b])]
    clients.extend([*tabs, *guests])
    for c in [*tabs, *guests]:
        await c.join(1)
    # One signed-in user in three tabs on two nodes + two guest sockets = 3 viewers.
    await viewers_of(guests[0], 1, 3)
    await viewers_of(guests[1], 1, 3)
    for t in tabs[:2]:
        assert (await t.call("leave", {"stream_id": 1}))["ok"]
    # A tab is still open: the count every broadcast reports (Redis' `viewers` hash, updated
    # before `leave` answers) still says 3.
    assert await world.redis.hlen(roomstats.viewers(1)) == 3
    await tabs[2].close()
    await viewers_of(guests[1], 1, 2)
    await guests[0].close()
    await viewers_of(guests[1], 1, 1)

    # Throttled: never two `viewers` for a room within the interval (1 s by default) on Redis'
    # clock (`at`, whatever the delivery delays), and only on a change.
    seen = sorted(guests[1].of("viewers"), key=lambda v: v["at"])
    assert all(b["at"] - a["at"] >= 1000 for a, b in itertools.pairwise(seen)), seen
    assert all(a["count"] != b["count"] for a, b in itertools.pairwise(seen)), seen


async def test_sigkilled_node_viewers_leave_the_count(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    env = {"PRESENCE_TTL_S": "3", "VIEWERS_BROADCAST_INTERVAL_S": "0.5"}
    (_, url_a), (proc_b, url_b) = gateway_factory.many("a", "b", **env)
    await world.stream(1)
    watcher = await Client("watcher").connect(url_a, world.token(50))
    doomed = [await Client(f"d{i}").connect(url_b, world.token(60 + i)) for i in range(3)]
    clients.append(watcher)
    for c in [watcher, *doomed]:
        await c.join(1)
    await viewers_of(watcher, 1, 4)
    seconds, micros = await world.redis.time()
    killed_ms = seconds * 1000 + micros // 1000  # Redis' clock, which `viewers.at` reads too
    os.killpg(proc_b.pid, signal.SIGKILL)
    await viewers_of(watcher, 1, 1, timeout=15)
    # TTL + one sweep interval + the viewers tick, on the server's clock: how late the event
    # then reaches this client is not the gateway's doing.
    gone = next(v for v in watcher.of("viewers") if v["count"] == 1)
    assert gone["at"] - killed_ms < (3 + 3) * 1000, gone
    ack = await watcher.join(1)
    assert ack["viewers"] == 1
