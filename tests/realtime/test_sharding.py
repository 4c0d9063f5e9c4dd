"""Sharded room fan-out (realtime/sharding.py): a node hears a room only while it has members.

Run on the test Redis and on a private six-process Redis Cluster (scripts/redis_cluster.sh,
127.0.0.1:7001-7006; `SOCKETIO_REDIS_URL=redis+cluster://...`). Three gateway nodes: room A's
members all on node 1, room B's on node 2, room C's on node 3. Each node's
`gateway_pubsub_messages_received_total` counts what Redis delivered to it. The same traffic on
python-socketio's single channel reaches every node, which the last test shows with the same
counter (so the counter is able to fail the first test).
"""

from __future__ import annotations

import asyncio
import os
import signal
from urllib.parse import urlsplit

import httpx
import pytest
import redis as sync_redis
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from realtime.sharding import ShardedRedisManager
from shared.redis import cluster_nodes, is_cluster
from tests.conftest import REDIS_URL
from tests.helpers import redis_cluster as cluster_servers
from tests.helpers.waiting import until
from tests.realtime.clients import Client, World, marker, viewers_of
from tests.realtime.conftest import GatewayFactory


@pytest.fixture(params=["redis", "cluster"])
def fanout_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "cluster":
        return {"SOCKETIO_REDIS_URL": request.getfixturevalue("redis_cluster")}
    return {}


async def received(url: str) -> float:
    """The node's count of fan-out messages received from Redis, over all channel kinds."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{url}/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "gateway_pubsub_messages_received"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


async def chat_burst(sender: Client, stream_id: int, texts: list[str],
                     audience: list[Client]) -> None:
    for text in texts:
        assert "id" in await sender.call("chat", {"stream_id": stream_id, "text": text})
    for c in audience:
        await c.wait_for(lambda c=c: {m["text"] for m in c.chats(stream_id)} >= set(texts))


async def three_rooms_on_three_nodes(
    gateway_factory: GatewayFactory, world: World, clients: list[Client], **env: str
) -> tuple[list[str], list[list[Client]]]:
    env = {"CHAT_RATE_LIMIT": "1000/second", **env}
    urls = [url for _, url in gateway_factory.many("n1", "n2", "n3", **env)]
    members: list[list[Client]] = []
    for node, stream_id in enumerate((1, 2, 3)):
        await world.stream(stream_id, host_id=100 + stream_id)
        room = [
            await Client(f"s{stream_id}m{i}").connect(urls[node], world.token(10 * stream_id + i))
            for i in range(2)
        ]
        clients.extend(room)
        for c in room:
            await c.join(stream_id)
        members.append(room)
    # The join traffic is over once every member has the room's final count: `viewers` is only
    # sent on a change, so nothing more comes unless someone joins or leaves.
    for stream_id, room in enumerate(members, start=1):
        for c in room:
            await viewers_of(c, stream_id, 2)
    return urls, members


async def own_rooms_said(members: list[list[Client]], nodes: list[int]) -> None:
    """A marker in the room of each node in `nodes` (its members are all on that node): once its
    members have it, the node's listener has handled everything published to it before (one
    subscriber connection per node on one Redis, read in order), so its counter is final. On a
    Redis Cluster a node reads one connection per shard, so this orders only its own shard."""
    for n in nodes:
        await marker(members[n][0], n + 1, members[n])


async def test_a_node_hears_only_the_rooms_it_has_members_in(
    gateway_factory: GatewayFactory, world: World, clients: list[Client],
    fanout_env: dict[str, str],
) -> None:
    urls, rooms_ = await three_rooms_on_three_nodes(gateway_factory, world, clients, **fanout_env)
    room_a, room_b, _room_c = rooms_
    before = [await received(u) for u in urls]
    await chat_burst(room_a[0], 1, [f"a{i}" for i in range(10)], room_a)
    await own_rooms_said(rooms_, [1, 2])  # one message each on nodes 2 and 3
    after_a = [await received(u) for u in urls]
    assert after_a[0] > before[0]  # node 1 hears its own room's channel
    assert after_a[1] == before[1] + 1  # node 2: its own marker, none of A's traffic
    assert after_a[2] == before[2] + 1  # node 3: the same

    await chat_burst(room_b[0], 2, [f"b{i}" for i in range(10)], room_b)
    await own_rooms_said(rooms_, [0, 2])
    after_b = [await received(u) for u in urls]
    assert after_b[1] > after_a[1]
    assert after_b[0] == after_a[0] + 1 and after_b[2] == after_a[2] + 1

    # A member of A arriving on node 3 subscribes it: A's traffic now reaches node 3 and the
    # newcomer; once it leaves, node 3 stops hearing A.
    visitor = await Client("visitor").connect(urls[2], world.token(99))
    clients.append(visitor)
    await visitor.join(1)
    await chat_burst(room_a[0], 1, ["hello node 3"], [visitor, *room_a])
    assert await received(urls[2]) > after_b[2]
    await viewers_of(room_a[0], 1, 3)
    await visitor.call("leave", {"stream_id": 1})
    # Gone from A's channel on Redis itself (node 1 alone is subscribed), and A's count is
    # back to 2 for its members: no more of A's traffic can be on its way to node 3.
    channel = f"{world_channel(gateway_factory)}#/#stream:1#"
    url = fanout_env.get("SOCKETIO_REDIS_URL", REDIS_URL)
    await until(lambda: shard_subscribers(url, channel, 1), "node 3 leaves A's channel",
                timeout=10)
    await viewers_of(room_a[0], 1, 2)
    await own_rooms_said(rooms_, [2])
    settled = await received(urls[2])
    await chat_burst(room_a[0], 1, ["node 3 is gone"], room_a)
    await own_rooms_said(rooms_, [2])
    assert await received(urls[2]) == settled + 1  # its own marker only
    assert "node 3 is gone" not in {m["text"] for m in visitor.chats(1)}


@pytest.mark.skipif(
    is_cluster(os.environ.get("TEST_REDIS_URL")),
    reason="python-socketio's single-channel manager speaks to one Redis (the gateway refuses "
    "SOCKETIO_MANAGER=single with a redis+cluster:// REDIS_URL); this pass runs on the cluster",
)
async def test_single_channel_manager_reaches_every_node(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    urls, (room_a, _room_b, _room_c) = await three_rooms_on_three_nodes(
        gateway_factory, world, clients, SOCKETIO_MANAGER="single"
    )
    before = [await received(u) for u in urls]
    await chat_burst(room_a[0], 1, [f"a{i}" for i in range(10)], room_a)
    # The single channel: every node hears every emit (the wait is a bound, not a guess).
    await until(lambda: _grew(urls, before), "every node hears room A", timeout=10)


async def test_room_fanout_survives_a_cluster_master_killed(
    gateway_factory: GatewayFactory, world: World, clients: list[Client], redis_cluster: str
) -> None:
    """SIGKILL the master owning room A's channel: after the replica takes over, the nodes
    subscribe again and room A's chat crosses nodes again. The killed server is started again
    afterwards (it rejoins as a replica) by the same script."""
    (_, url_1), (_, url_2) = gateway_factory.many(
        "k1", "k2", SOCKETIO_REDIS_URL=redis_cluster, CHAT_RATE_LIMIT="1000/second"
    )
    await world.stream(1, host_id=101)
    sender = await Client("sender").connect(url_1, world.token(11))
    listener = await Client("listener").connect(url_2, world.token(12))
    clients.extend([sender, listener])
    for c in (sender, listener):
        await c.join(1)
    await chat_burst(sender, 1, ["before"], [listener])

    channel = f"{world_channel(gateway_factory)}#/#stream:1#"
    probe = sync_redis.Redis(port=cluster_nodes(redis_cluster)[0].port)
    slot = int(probe.execute_command("CLUSTER", "KEYSLOT", channel))
    owner = next(int(s[2][1]) for s in probe.execute_command("CLUSTER", "SLOTS")
                 if s[0] <= slot <= s[1])
    probe.close()
    os.kill(cluster_servers.pid(owner), signal.SIGKILL)
    try:
        # Until the failover (node timeout 2 s) emits to room A may not cross nodes; keep
        # chatting until one does, then every later one must.
        deadline = asyncio.get_running_loop().time() + 30
        n = 0
        while True:
            n += 1
            await sender.call("chat", {"stream_id": 1, "text": f"retry {n}"})
            await asyncio.sleep(0.5)
            if any(m["text"].startswith("retry") for m in listener.chats(1)):
                break
            assert asyncio.get_running_loop().time() < deadline, "no delivery after failover"
        await chat_burst(sender, 1, [f"after {i}" for i in range(10)], [listener])
    finally:
        cluster_servers.start(cluster_nodes(redis_cluster)[0].port)


async def _grew(urls: list[str], before: list[float]) -> bool:
    now = [await received(u) for u in urls]
    return all(n > b for n, b in zip(now, before, strict=True))


async def shard_subscribers(url: str, channel: str, expected: int) -> bool:
    """Whether Redis itself (on a cluster: the shard owning the channel) counts `expected`
    sharded subscribers of `channel`: a node is gone from a room when Redis says so."""
    if is_cluster(url):
        probe = sync_redis.Redis(port=cluster_nodes(url)[0].port)
        slot = int(probe.execute_command("CLUSTER", "KEYSLOT", channel))
        port = next(int(s[2][1]) for s in probe.execute_command("CLUSTER", "SLOTS")
                    if s[0] <= slot <= s[1])
        probe.close()
    else:
        port = urlsplit(url).port or 6379
    owner = sync_redis.Redis(port=port)
    try:
        reply = owner.execute_command("PUBSUB", "SHARDNUMSUB", channel)
    finally:
        owner.close()
    return int(reply[1]) == expected


def world_channel(gateway_factory: GatewayFactory) -> str:
    return gateway_factory.service_env["SOCKETIO_CHANNEL"]


async def test_a_signed_in_socket_hears_its_user_room_once_connected(
    gateway_factory: GatewayFactory, world: World, clients: list[Client],
    fanout_env: dict[str, str],
) -> None:
    """The user room is entered in the connect handler: Redis counts the node's subscription to
    its channel by the time the CONNECT ack arrives, so an order status relayed at once after
    it reaches the buyer (it was lost when the ack beat the SSUBSCRIBE)."""
    _, url = gateway_factory("solo", **fanout_env)
    redis_url = fanout_env.get("SOCKETIO_REDIS_URL", REDIS_URL)
    channel = world_channel(gateway_factory)
    for user_id in range(401, 406):
        buyer = await Client(f"buyer{user_id}").connect(url, world.token(user_id))
        clients.append(buyer)
        assert await shard_subscribers(redis_url, f"{channel}#/#user:{user_id}#", 1)


async def test_only_a_rooms_first_member_and_last_leaver_mark_its_channel() -> None:
    """A room's subscription changes only when its first local member enters or its last one
    leaves: later joiners of a busy room do not wake the reconcile loop (issue 20, the join
    storm)."""
    manager = ShardedRedisManager(Redis())  # never connects: only the room bookkeeping runs
    channel = manager.room_channel("/", "stream:1")
    for sid in ("a", "b"):
        manager.basic_enter_room(sid, "/", None, eio_sid=f"e{sid}")
        manager.basic_enter_room(sid, "/", sid, eio_sid=f"e{sid}")
    assert manager._dirty == set()  # a socket's own sid room is never subscribed

    manager.basic_enter_room("a", "/", "stream:1", eio_sid="ea")
    assert manager._dirty == {channel} and manager._wanted(channel)
    manager._dirty.clear()
    manager._wake.clear()
    manager.basic_enter_room("b", "/", "stream:1", eio_sid="eb")
    manager.basic_leave_room("a", "/", "stream:1")
    assert manager._dirty == set() and not manager._wake.is_set()  # still has a member

    manager.basic_leave_room("b", "/", "stream:1")
    assert manager._dirty == {channel} and manager._wake.is_set()
    assert not manager._wanted(channel)
