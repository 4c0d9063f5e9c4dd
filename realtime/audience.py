"""Whether a room's emit is heard by every gateway node holding members of the room.

Pub/sub keeps nothing, so an emit published on a room's channel while a node with members there
is not subscribed never reaches that node's sockets. After a Redis Cluster failover that was the
failover test's most frequent loss: the relay read the events published meanwhile as soon as
the stream's slot was served again and published them on the room's channel on the promoted
replica, before the other nodes had subscribed there again (they retry every 0.1-1 s). The
relay (realtime/relay.py) therefore asks, for a while after it met a failure, before each room
emit: does `PUBSUB SHARDNUMSUB` on the channel's server count as many subscribers as there are
nodes holding members of the room (presence's per-node hashes, realtime/presence.py)?

Only the sharded manager has one channel per room to ask about; with the others the relay emits
as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import redis.asyncio as aioredis

from realtime import rooms
from realtime.sharding import ShardedRedisManager

POLL_S = 0.1


class RoomAudience:
    def __init__(self, *, redis: aioredis.Redis, manager: ShardedRedisManager) -> None:
        self.redis = redis
        self.manager = manager

    async def holders(self, stream_id: int) -> int:
        """How many gateway nodes hold members of the room (each subscribes to its channel).
        A node that died without a goodbye counts until presence sweeps it."""
        nodes = await self.redis.zrange(rooms.presence_nodes(), 0, -1)
        if not nodes:
            return 0
        keys = [rooms.node_viewers(stream_id, _text(n)) for n in nodes]
        return int(await self.redis.exists(*keys))  # one room's keys: one slot

    async def heard(self, stream_id: int) -> bool:
        """Whether every node holding members of the room is subscribed to its channel."""
        expected = await self.holders(stream_id)
        if expected == 0:
            return True
        return await self.manager.subscribers(rooms.stream_room(stream_id)) >= expected

    async def wait(self, stream_id: int, until: float) -> bool:
        """Wait until `heard` (errors count as not yet: a server not reachable yet), at most
        until `until` (`time.monotonic()`); whether it was heard."""
        while True:
            with contextlib.suppress(Exception):
                if await self.heard(stream_id):
                    return True
            if time.monotonic() >= until:
                return False
            await asyncio.sleep(POLL_S)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value
