"""The relay's check, after a failure, that a room's emit will be heard (realtime/audience.py):
every gateway node holding members of the room (presence's per-node hashes) is subscribed to the
room's channel. Real Redis, or the Redis Cluster in the cluster pass (then the subscription and
`PUBSUB SHARDNUMSUB` are on the shard owning the channel).

This is what closed the failover test's most frequent loss: the relay published the events
written during a failover on the room's channel on the promoted replica before the listener's
node had subscribed there again (docs/operations.md, Redis Cluster, failover).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from realtime import rooms
from realtime.audience import RoomAudience
from realtime.sharding import ShardedRedisManager
from realtime.subscriptions import ShardSubscriptions
from shared.redis import make_pubsub_redis


@pytest.fixture
async def manager(redis_url: str, channel: str) -> AsyncIterator[ShardedRedisManager]:
    pubsub_redis = make_pubsub_redis(redis_url)
    yield ShardedRedisManager(pubsub_redis, channel=channel)
    await pubsub_redis.aclose()


async def _node_subscribed(redis_url: str, channel: str) -> ShardSubscriptions:
    """A gateway node's subscribing connection to `channel` (on the server owning it)."""
    subscriptions = ShardSubscriptions(make_pubsub_redis(redis_url), on_lost=lambda _: None)
    assert await subscriptions.subscribe([channel]) == set()
    return subscriptions


async def _close(subscriptions: ShardSubscriptions) -> None:
    await subscriptions.close()
    await subscriptions.redis.aclose()


async def test_a_room_is_heard_once_every_node_holding_members_subscribed(
    aredis: aioredis.Redis, manager: ShardedRedisManager, redis_url: str,
) -> None:
    audience = RoomAudience(redis=aredis, manager=manager)
    assert await audience.holders(7) == 0
    assert await audience.heard(7)  # nobody to hear it: nothing to wait for

    # Two nodes hold members of room 7, as presence records them (a signed-in user, a guest);
    # a third node is alive but holds none there.
    await aredis.zadd(rooms.presence_nodes(), {"n1": 1, "n2": 1, "n3": 1})
    await aredis.hset(rooms.node_viewers(7, "n1"), "u:1", 1)
    await aredis.hset(rooms.node_viewers(7, "n2"), "g:abc", 1)
    assert await audience.holders(7) == 2
    channel = manager.room_channel("/", rooms.stream_room(7))
    first = await _node_subscribed(redis_url, channel)
    second: ShardSubscriptions | None = None
    try:
        assert await manager.subscribers(rooms.stream_room(7)) == 1
        assert not await audience.heard(7)

        # The relay waits while one is missing, and goes on as soon as it has subscribed.
        waiting = asyncio.create_task(audience.wait(7, time.monotonic() + 10))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        second = await _node_subscribed(redis_url, channel)
        assert await asyncio.wait_for(waiting, 5) is True

        # Bounded: a node that never comes back holds the relay only until the deadline.
        await _close(second)
        second = None
        began = time.monotonic()
        assert await audience.wait(7, began + 0.5) is False
        assert time.monotonic() - began < 2
    finally:
        await _close(first)
        if second is not None:
            await _close(second)
