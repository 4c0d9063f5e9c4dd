"""The cluster client keeps reading streams when the node redis-py asks for command keys has
died (`shared.redis.WaitingRedisCluster`). Found in `test_cluster_failover`: the relay's
XREADGROUP failed for 26 s after a failover, every time on the dead master, because redis-py
asks `COMMAND GETKEYS` of the node its command table came from and never moves it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio.cluster import ClusterNode
from redis.exceptions import RedisClusterException

from shared.redis import WaitingRedisCluster, make_cluster
from tests.helpers.procs import free_port


@pytest.fixture
async def client(redis_cluster: str) -> AsyncIterator[WaitingRedisCluster]:
    c = make_cluster(redis_cluster)
    assert isinstance(c, WaitingRedisCluster)
    await c.ping()
    try:
        yield c
    finally:
        await c.aclose()


async def test_stream_reads_need_no_live_command_table_node(
    client: WaitingRedisCluster,
) -> None:
    stream = "test:{keys}:events"
    await client.delete(stream)
    await client.xgroup_create(stream, "g", id="0", mkstream=True)
    await client.xadd(stream, {"n": "1"})
    client.commands_parser.node = ClusterNode("127.0.0.1", free_port())  # nothing listens
    reply = await client.xreadgroup("g", "c", {stream: ">"}, count=10, block=10)
    assert [[name.decode(), [fields for _, fields in entries]] for name, entries in reply] == [
        [stream, [{b"n": b"1"}]]
    ]
    assert await client.xread({stream: "0"}, count=1) != []
    await client.delete(stream)


async def test_a_refresh_moves_the_command_table_node_to_a_live_master(
    client: WaitingRedisCluster,
) -> None:
    client.commands_parser.node = ClusterNode("127.0.0.1", free_port())  # nothing listens
    await client._refresh_slots()
    node = client.commands_parser.node
    assert node is client.nodes_manager.default_node
    assert await node.execute_command("PING")


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("GROUP", "g", "c", "STREAMS", "s1", ">"), "s1"),
        (("GROUP", "STREAMS", "COUNT", "COUNT", "5", "BLOCK", "0", "NOACK", "STREAMS", "s2", ">"),
         "s2"),
        ((b"GROUP", b"g", b"c", b"STREAMS", b"{t}a", b"{t}b", b">", b">"), "{t}a"),
    ],
)
def test_the_slot_comes_from_the_keys_after_streams(args: tuple[object, ...], key: str) -> None:
    c = make_cluster("redis+cluster://127.0.0.1:1")
    assert isinstance(c, WaitingRedisCluster)
    assert c._stream_read_slot("XREADGROUP", args) == c.keyslot(key)


@pytest.mark.parametrize(
    "args",
    [("GROUP", "g", "c"), ("STREAMS", "a", "b", ">"), ("STREAMS", "a{x}", "b{y}", "0", "0")],
)
def test_a_malformed_or_cross_slot_stream_read_is_refused(args: tuple[object, ...]) -> None:
    c = make_cluster("redis+cluster://127.0.0.1:1")
    assert isinstance(c, WaitingRedisCluster)
    with pytest.raises(RedisClusterException):
        c._stream_read_slot("XREAD", args)
