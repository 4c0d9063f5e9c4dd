"""Commerce's domain events, published on the Redis stream, reach each room exactly once."""

from __future__ import annotations

import asyncio
import os
import signal

import redis.asyncio as aioredis

from shared import events as ev
from shared import livedata
from shared.bus import RedisStreamBus
from tests.realtime.clients import Client, World, marker
from tests.realtime.conftest import GatewayFactory


def bus_for(aredis: aioredis.Redis, channel: str) -> RedisStreamBus:
    return RedisStreamBus(aredis, stream=f"events-{channel}")


async def all_acknowledged(aredis: aioredis.Redis, channel: str) -> None:
    """Wait until the relay has read every entry published so far and acknowledged it.

    An empty pending list alone also holds before the relay has read the newest entries, so the
    group's last delivered id must reach the stream's last id too.
    """
    stream = f"events-{channel}"
    state: object = None
    for _ in range(100):
        last_id = (await aredis.xinfo_stream(stream))["last-generated-id"]
        groups = {g["name"]: g for g in await aredis.xinfo_groups(stream)}
        group = groups.get(b"gateway") or groups.get("gateway")
        state = (last_id, group)
        if group is not None and group["last-delivered-id"] == last_id and group["pending"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(state)


async def test_stock_events_reach_every_pinning_room_once_across_nodes(
    gateway_factory: GatewayFactory, world: World, aredis: aioredis.Redis, channel: str,
    clients: list[Client],
) -> None:
    (_, url_a), (_, url_b) = gateway_factory.many("a", "b")
    await world.product(5, stock=10)
    await world.stream(1, host_id=1, product_ids=[5])
    await world.stream(2, host_id=2, product_ids=[5])
    await world.stream(3, host_id=3)
    hosts = [await Client(f"h{i}").connect(u, world.token(i)) for i, u in
             [(1, url_a), (2, url_b)]]
    watchers = {s: [await Client(f"w{s}{u[-2:]}").connect(u) for u in (url_a, url_b)]
                for s in (1, 2, 3)}
    everyone = [*hosts, *(c for cs in watchers.values() for c in cs)]
    clients.extend(everyone)
    await hosts[0].join(1)
    await hosts[1].join(2)
    for s, cs in watchers.items():
        for c in cs:
            await c.join(s)
    for i, h in enumerate(hosts, start=1):
        assert await h.call("pin", {"stream_id": i, "product_id": 5}) == {"ok": True}

    bus = bus_for(aredis, channel)
    # An order in stream 3 (where 5 is not pinned) changes the stock of product 5.
    await bus.publish(ev.StockChanged(stream_id=3, data=ev.StockChangedData(product_id=5,
                                                                            stock=4)))
    await bus.publish(ev.ProductSoldOut(data=ev.SoldOutData(product_id=5)))
    await bus.publish(ev.OrderPlaced(stream_id=1, data=ev.OrderPlacedData(
        order_id=9, buyer_id=7, buyer_masked="N***", items=[ev.OrderLine(product_id=5,
                                                                          quantity=2)],
        total_minor=258000, currency="TWD")))
    await bus.publish(ev.StreamStatusChanged(stream_id=2, data=ev.StreamStatusData(
        status="ended")))

    # Stock goes to the rooms pinning the product and to the order's room (3); sold_out, with no
    # stream, to the pinning rooms only. Each in stream order, each room once.
    for s, cs in watchers.items():
        for c in cs:
            await c.wait_for(lambda c=c, s=s: c.of("stock") and (s == 3 or c.of("sold_out")))
            stock = c.of("stock")
            assert [(x["stream_id"], x["product_id"], x["stock"]) for x in stock] == \
                [(s, 5, 4)], c.events
            if s != 3:
                assert [e for e, _ in c.events if e in ("stock", "sold_out")] == \
                    ["stock", "sold_out"]
                assert c.of("sold_out")[0]["seq"] > stock[0]["seq"]
    await watchers[2][0].wait_for(lambda: watchers[2][0].of("stream_status"))
    await watchers[1][1].wait_for(lambda: watchers[1][1].of("order_placed"))
    # Nothing else (no duplicate from the other node) arrives: every relay emit precedes its
    # XACK, so once all are acknowledged a marker said in each room comes after all of them.
    await all_acknowledged(aredis, channel)
    speaker = await Client("speaker").connect(url_a, world.token(90))
    clients.append(speaker)
    for s, cs in watchers.items():
        await speaker.join(s)
        await marker(speaker, s, cs)
    for s, cs in watchers.items():
        for c in cs:
            assert len(c.of("stock")) == 1 and len(c.of("sold_out")) == (0 if s == 3 else 1)
            assert len(c.of("order_placed")) == (1 if s == 1 else 0)
            assert len(c.of("stream_status")) == (1 if s == 2 else 0)
    placed = watchers[1][0].of("order_placed")[0]
    assert placed == {
        "stream_id": 1, "product_id": 5, "quantity": 2, "buyer": "N***", "order_id": 9,
        "seq": placed["seq"], "epoch": placed["epoch"]}

    # The stored pin snapshot followed the stock, so late joiners see it.
    late = await Client("late").connect(url_b)
    clients.append(late)
    assert (await late.join(1))["pinned"]["stock"] == 0


async def test_events_published_while_no_gateway_runs_are_delivered_after_restart(
    gateway_factory: GatewayFactory, world: World, aredis: aioredis.Redis, channel: str,
    clients: list[Client],
) -> None:
    proc, url = gateway_factory("first")
    await world.stream(1)
    proc.stop()
    bus = bus_for(aredis, channel)
    for status in ("live", "ended"):
        await bus.publish(ev.StreamStatusChanged(stream_id=1, data=ev.StreamStatusData(
            status=status)))
    _, url = gateway_factory("second")
    watcher = await Client("watcher").connect(url)
    clients.append(watcher)
    await watcher.join(1)
    # Delivered while nobody watched: they are in the resume log, once each.
    missed: list[dict[str, object]] = []
    for _ in range(50):
        ack = await watcher.call("resume", {"stream_id": 1, "since_seq": 0})
        missed = ack["missed"]
        if len(missed) >= 2:
            break
        await asyncio.sleep(0.1)
    assert [(m["event"], m["data"]["status"]) for m in missed] == [
        ("stream_status", "live"), ("stream_status", "ended")]
    await all_acknowledged(aredis, channel)


async def test_revoked_tokens_drop_sockets_on_every_node(
    gateway_factory: GatewayFactory, world: World, aredis: aioredis.Redis, channel: str,
    clients: list[Client],
) -> None:
    (_, url_a), (_, url_b) = gateway_factory.many("a", "b")
    token_1, principal_1 = world.issuer.issue_access(user_id=70, role="buyer", name="T")
    token_2, _ = world.issuer.issue_access(user_id=70, role="buyer", name="T")
    other = await Client("other").connect(url_a, world.token(71))
    first = [await Client(f"t1{u[-2:]}").connect(u, token_1) for u in (url_a, url_b)]
    second = await Client("t2").connect(url_b, token_2)
    clients.extend([other, *first, second])
    bus = bus_for(aredis, channel)

    # Only the sockets of the revoked token (by jti) go first...
    await bus.publish(ev.UserTokensRevoked(data=ev.TokensRevokedData(
        user_id=70, jti=principal_1.jti)))
    for c in first:
        await asyncio.wait_for(c.disconnected.wait(), 5)
    assert second.sio.connected
    # ...then all of the user's sockets, and nobody else's.
    await bus.publish(ev.UserTokensRevoked(data=ev.TokensRevokedData(user_id=70)))
    await asyncio.wait_for(second.disconnected.wait(), 5)
    assert other.sio.connected


async def test_family_revocation_drops_only_that_familys_sockets(
    gateway_factory: GatewayFactory, world: World, aredis: aioredis.Redis, channel: str,
    clients: list[Client],
) -> None:
    (_, url_a), (_, url_b) = gateway_factory.many("a", "b")
    stolen, _ = world.issuer.issue_access(user_id=80, role="buyer", name="F", family="fam-a")
    kept, _ = world.issuer.issue_access(user_id=80, role="buyer", name="F", family="fam-b")
    victims = [await Client(f"a{u[-2:]}").connect(u, stolen) for u in (url_a, url_b)]
    survivor = await Client("b").connect(url_b, kept)
    clients.extend([*victims, survivor])
    # Refresh-token reuse detected for family "fam-a" (commerce publishes this).
    await bus_for(aredis, channel).publish(ev.UserTokensRevoked(data=ev.TokensRevokedData(
        user_id=80, family="fam-a")))
    for c in victims:
        await asyncio.wait_for(c.disconnected.wait(), 5)
    await all_acknowledged(aredis, channel)
    assert survivor.sio.connected


async def test_order_status_reaches_the_room_and_the_buyer(
    gateway_factory: GatewayFactory, world: World, aredis: aioredis.Redis, channel: str,
    clients: list[Client],
) -> None:
    (_, url_a), (_, url_b) = gateway_factory.many("a", "b")
    await world.stream(1)
    watcher = await Client("watcher").connect(url_a)
    buyer = await Client("buyer").connect(url_b, world.token(7))
    clients.extend([watcher, buyer])
    await watcher.join(1)
    bus = bus_for(aredis, channel)
    await bus.publish(ev.OrderPaid(stream_id=1, data=ev.OrderStateData(
        order_id=9, buyer_id=7, status="paid")))
    await bus.publish(ev.OrderExpired(data=ev.OrderStateData(
        order_id=10, buyer_id=7, status="expired")))
    await bus.publish(ev.OrderShipped(data=ev.OrderShippedData(
        order_id=9, buyer_id=7, seller_id=3, status="fulfilled", product_ids=[5],
        carrier="black_cat", tracking_number="TW123")))
    await bus.publish(ev.OrderCompleted(data=ev.OrderStateData(
        order_id=9, buyer_id=7, status="completed")))
    await bus.publish(ev.OrderRefunded(data=ev.OrderRefundedData(
        order_id=11, buyer_id=7, status="refunded", product_ids=[5], amount_minor=12900,
        currency="TWD")))
    paid = await watcher.wait_for(lambda: watcher.of("order_paid"))
    assert paid[0]["order_id"] == 9 and paid[0]["stream_id"] == 1 and paid[0]["seq"] >= 1
    assert "buyer_id" not in paid[0]
    await buyer.wait_for(lambda: len(buyer.of("order_status")) == 5)
    assert buyer.of("order_status") == [
        {"order_id": 9, "status": "paid", "stream_id": 1},
        {"order_id": 10, "status": "expired", "stream_id": None},
        {"order_id": 9, "status": "fulfilled", "stream_id": None},
        {"order_id": 9, "status": "completed", "stream_id": None},
        {"order_id": 11, "status": "refunded", "stream_id": None},
    ]
    await all_acknowledged(aredis, channel)
    assert watcher.of("order_status") == []


async def test_a_killed_relay_leader_is_replaced_and_its_events_delivered(
    gateway_factory: GatewayFactory, world: World, aredis: aioredis.Redis, channel: str,
    clients: list[Client],
) -> None:
    env = {"RELAY_LEASE_MS": "1500"}
    nodes = dict(zip(("a", "b"), gateway_factory.many("a", "b", **env), strict=True))
    await world.stream(1)
    leader = (await aredis.get(f"events-{channel}:gateway:leader") or b"").decode()
    assert leader in nodes
    survivor = next(name for name in nodes if name != leader)
    watcher = await Client("watcher").connect(nodes[survivor][1])
    clients.append(watcher)
    await watcher.join(1)

    os.killpg(nodes[leader][0].pid, signal.SIGKILL)
    nodes[leader][0].popen.wait(5)
    bus = bus_for(aredis, channel)
    await bus.publish(ev.StreamStatusChanged(stream_id=1, data=ev.StreamStatusData(
        status="live")))
    # As if the leader had read it just before dying: it sits in the dead consumer's pending
    # list (the survivor cannot have read it yet: the lease is still the dead leader's).
    read = await aredis.xreadgroup("gateway", leader, {f"events-{channel}": ">"}, count=10)
    assert len(read[0][1]) == 1
    await bus.publish(ev.StreamStatusChanged(stream_id=1, data=ev.StreamStatusData(
        status="ended")))
    await watcher.wait_for(lambda: len(watcher.of("stream_status")) == 2, timeout=10)
    assert [e["status"] for e in watcher.of("stream_status")] == ["live", "ended"]
    assert (await aredis.get(f"events-{channel}:gateway:leader")).decode() == survivor
    await all_acknowledged(aredis, channel)


async def test_the_relayed_stock_outranks_snapshots_written_out_of_order(
    gateway: tuple[object, str], world: World, aredis: aioredis.Redis, channel: str,
    clients: list[Client],
) -> None:
    """Commerce's processes write product snapshots after their commits, in no guaranteed
    order; the stock a host pins and a late joiner sees is the last relayed `stock.changed`."""
    _, url = gateway
    await world.product(5, stock=10)
    await world.stream(1, host_id=1, product_ids=[5])
    bus = bus_for(aredis, channel)
    await bus.publish(ev.StockChanged(data=ev.StockChangedData(product_id=5, stock=3)))
    await bus.publish(ev.StockChanged(data=ev.StockChangedData(product_id=5, stock=0)))
    await bus.publish(ev.ProductSoldOut(data=ev.SoldOutData(product_id=5)))
    await all_acknowledged(aredis, channel)
    # A snapshot written late by another process (say after an image change) with the stock
    # its transaction read before the sale ended.
    await world.product(5, stock=3)
    snapshot = await livedata.get_product(aredis, 5)
    assert snapshot is not None and snapshot.stock == 0 and snapshot.name == "product 5"

    host = await Client("host").connect(url, world.token(1))
    clients.append(host)
    await host.join(1)
    assert await host.call("pin", {"stream_id": 1, "product_id": 5}) == {"ok": True}
    late = await Client("late").connect(url)
    clients.append(late)
    assert (await late.join(1))["pinned"]["stock"] == 0
    # Restocked: the next event moves both the record and the pin.
    await bus.publish(ev.StockChanged(data=ev.StockChangedData(product_id=5, stock=7)))
    await late.wait_for(lambda: late.of("stock"))
    assert late.of("stock")[0]["stock"] == 7
    later = await Client("later").connect(url)
    clients.append(later)
    assert (await later.join(1))["pinned"]["stock"] == 7
    assert (await livedata.get_product(aredis, 5)).stock == 7  # type: ignore[union-attr]
