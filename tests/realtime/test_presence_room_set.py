"""A node's room set (`gateway:node:<id>:rooms`) holds every room whose presence hash holds the
node's members, even after the node was swept while alive (realtime/presence.py).

The node remembers which rooms its set already holds, so a join storm's presence batches skip
the `SADD` (one round trip per batch). A sweeper that took the node for dead deletes that set;
the node's next heartbeat finds itself re-added and must list its rooms again, including those
it remembered and one a join wrote to in between. On a real Redis, with the gateway's own
`Presence` (two of them: the node and the sweeper).
"""

from __future__ import annotations

import redis.asyncio as aioredis
import socketio

from realtime import rooms
from realtime.presence import Presence
from realtime.sequence import RoomEvents
from shared.settings import GatewaySettings


def presence(redis: aioredis.Redis, node: str) -> Presence:
    settings = GatewaySettings(presence_ttl_s=1)
    events = RoomEvents(socketio.AsyncServer(async_mode="asgi"), redis)
    return Presence(settings=settings, redis=redis, room_events=events, node_id=node)


async def room_set(redis: aioredis.Redis, node: str) -> set[int]:
    return {int(r) for r in await redis.smembers(rooms.node_rooms(node))}


async def test_a_node_swept_while_alive_lists_its_rooms_again(aredis: aioredis.Redis) -> None:
    node, sweeper = presence(aredis, "alive"), presence(aredis, "sweeper")
    await node.start()
    await node.add(1, "g:a")
    await node.add(1, "g:b")  # a room the set already holds
    await node.add(2, "g:c")
    assert await room_set(aredis, "alive") == {1, 2}

    # Silent past the TTL as far as the sweeper can tell (a stalled loop): swept.
    await aredis.zadd(rooms.presence_nodes(), {"alive": 0})
    assert await sweeper.sweep() == ["alive"]
    assert await room_set(aredis, "alive") == set()
    assert await aredis.hlen(rooms.viewers(1)) == 0

    await node.add(1, "g:d")  # a join before the node's next heartbeat
    await node.heartbeat()  # re-added: registers its members again
    assert await room_set(aredis, "alive") == {1, 2}
    assert await aredis.hlen(rooms.viewers(1)) == 3
    assert await aredis.hlen(rooms.viewers(2)) == 1

    # And a later sweep of the node (dead for good now) takes every member out again.
    await aredis.zadd(rooms.presence_nodes(), {"alive": 0})
    await node.writes.stop()
    assert await sweeper.sweep() == ["alive"]
    assert await aredis.hlen(rooms.viewers(1)) == 0
    assert await aredis.hlen(rooms.viewers(2)) == 0
    await node.stop()
