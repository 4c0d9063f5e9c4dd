"""One node's room emits reach Redis in call order (realtime/publisher.py), on one Redis and on
the six-process Redis Cluster.

A write-only `ShardedRedisManager` (what the relay or a gateway node publishes through) fires
many emits at once to two rooms and the control channel; a plain sharded subscriber on Redis
must get each channel's messages in the order the emits were called. redis-py's `RedisCluster`
sends each command on a connection of its own and may yield before writing it, so without the
ordered publisher a burst like this arrived shuffled on the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from redis.asyncio.cluster import ClusterPubSub, RedisCluster

from realtime.chat import hand_on
from realtime.sharding import ShardedRedisManager
from shared.redis import make_pubsub_redis
from tests.helpers.waiting import until_true

ROOMS = ("stream:1", "stream:2")
PER_ROOM = 300


@pytest.fixture(params=["redis", "cluster"])
def fanout_url(request: pytest.FixtureRequest) -> str:
    if request.param == "cluster":
        return str(request.getfixturevalue("redis_cluster"))
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def emitter(fanout_url: str, channel: str) -> AsyncIterator[ShardedRedisManager]:
    manager = ShardedRedisManager(make_pubsub_redis(fanout_url), channel=channel,
                                  write_only=True)
    yield manager
    await manager.close_publisher()
    await manager.redis.aclose()


class Subscriber:
    """A sharded subscriber of some channels, keeping each channel's payloads in arrival order."""

    def __init__(self, url: str, channels: list[str]) -> None:
        self.redis = make_pubsub_redis(url)
        self.channels = channels
        self.got: dict[str, list[Any]] = {c: [] for c in channels}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if isinstance(self.redis, RedisCluster):
            await self.redis.initialize()
        self.pubsub = self.redis.pubsub()
        await self.pubsub.ssubscribe(*self.channels)
        confirmed: set[str] = set()
        while confirmed != set(self.channels):
            message = await self._next()
            if message and message["type"] == "ssubscribe":
                confirmed.add(message["channel"].decode())
        self._task = asyncio.create_task(self._read())

    async def _next(self) -> dict[str, Any] | None:
        if isinstance(self.pubsub, ClusterPubSub):
            message = await self.pubsub.get_sharded_message(timeout=0.0)
            if message is None:
                await asyncio.sleep(0.002)
            return message  # type: ignore[no-any-return]
        return await self.pubsub.get_message(timeout=0.1)  # type: ignore[no-any-return]

    async def _read(self) -> None:
        while True:
            message = await self._next()
            if message and message["type"] == "smessage":
                self.got[message["channel"].decode()].append(orjson.loads(message["data"]))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py stub
        await self.redis.aclose()


async def test_concurrent_emits_of_one_node_reach_redis_in_call_order(
    emitter: ShardedRedisManager, fanout_url: str
) -> None:
    room_channels = [emitter.room_channel("/", room) for room in ROOMS]
    subscriber = Subscriber(fanout_url, [*room_channels, emitter.control_channel])
    await subscriber.start()
    try:
        calls = []
        for n in range(PER_ROOM):
            for room in ROOMS:
                calls.append(emitter.emit("chat", {"room": room, "n": n}, room=room))
            if n % 10 == 0:  # a namespace-wide emit: the control channel, ordered too
                calls.append(emitter.emit("notice", {"n": n}))
        await asyncio.gather(*calls)  # started in this order, all at once
        await until_true(
            lambda: all(len(subscriber.got[c]) == PER_ROOM for c in room_channels)
            and len(subscriber.got[emitter.control_channel]) == PER_ROOM // 10,
            "every emit published", timeout=30,
        )
    finally:
        await subscriber.close()
    for channel, room in zip(room_channels, ROOMS, strict=True):
        assert [m["data"][0]["n"] for m in subscriber.got[channel]] == list(range(PER_ROOM)), room
        assert all(m["data"][0]["room"] == room for m in subscriber.got[channel])
    notices = [m["data"][0]["n"] for m in subscriber.got[emitter.control_channel]]
    assert notices == list(range(0, PER_ROOM, 10))


async def test_an_emit_is_handed_on_before_its_publish_is_answered(
    redis_url: str, channel: str
) -> None:
    """A chat emit holds its room's turn only until its publish is queued (`chat.hand_on`), not
    for the pipeline's round trip; the publish is answered afterwards, in order as above."""
    manager = ShardedRedisManager(make_pubsub_redis(redis_url), channel=channel,
                                  write_only=True)
    subscriber = Subscriber(redis_url, [manager.room_channel("/", ROOMS[0])])
    await subscriber.start()
    try:
        first = await hand_on(manager.emit("chat", {"k": 0}, namespace="/", room=ROOMS[0]))
        assert not first.done()  # queued, not yet answered: that takes a round trip
        second = await hand_on(manager.emit("chat", {"k": 1}, namespace="/", room=ROOMS[0]))
        await asyncio.gather(first, second)
        got = subscriber.got[subscriber.channels[0]]
        await until_true(lambda: len(got) == 2, "both emits published")
        assert [m["data"][0]["k"] for m in got] == [0, 1]
    finally:
        await subscriber.close()
        await manager.close_publisher()
        await manager.redis.aclose()
