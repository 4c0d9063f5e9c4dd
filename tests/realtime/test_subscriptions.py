"""A gateway node's sharded subscriptions (realtime/subscriptions.py) on real servers.

On one Redis (the normal pass): subscribe, receive, unsubscribe. On the private Redis Cluster
(the cluster pass): the master owning one channel's slot is SIGKILLed while a channel on another
shard carries traffic; that traffic keeps arriving, nothing of it lost, and the dead shard's
channel is handed back and subscribed again on the promoted replica. The killed server is started
again afterwards (it rejoins as a replica).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis as sync_redis

from realtime.subscriptions import ShardSubscriptions
from shared.redis import cluster_nodes, is_cluster, make_pubsub_redis
from tests.conftest import REDIS_URL
from tests.helpers import redis_cluster as cluster_servers


class Lost:
    """What `on_lost` handed back."""

    def __init__(self) -> None:
        self.channels: set[str] = set()
        self.changed = asyncio.Event()

    def __call__(self, channels: set[str]) -> None:
        self.channels |= channels
        self.changed.set()


@pytest.fixture
async def subscriptions(redis_url: str) -> AsyncIterator[tuple[ShardSubscriptions, Lost]]:
    lost = Lost()
    client = make_pubsub_redis(redis_url)
    subs = ShardSubscriptions(client, on_lost=lost)
    yield subs, lost
    await subs.close()
    await client.aclose()


async def _next(subs: ShardSubscriptions, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of `kind` (others skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await subs.get()
            if message["type"] == kind:
                return message


def _slots(port: int) -> list[tuple[int, int, int]]:
    probe = sync_redis.Redis(port=port)
    try:
        return [(int(s[0]), int(s[1]), int(s[2][1]))
                for s in probe.execute_command("CLUSTER", "SLOTS")]
    finally:
        probe.close()


def _owner(port: int, channel: str) -> int:
    probe = sync_redis.Redis(port=port)
    try:
        slot = int(probe.execute_command("CLUSTER", "KEYSLOT", channel))
    finally:
        probe.close()
    return next(owner for first, last, owner in _slots(port) if first <= slot <= last)


def _spublish(port: int, channel: str, data: str) -> int:
    """SPUBLISH straight to one server (no cluster client in between); receivers counted."""
    client = sync_redis.Redis(port=port)
    try:
        return int(client.execute_command("SPUBLISH", channel, data))
    finally:
        client.close()


async def test_subscribe_receive_and_unsubscribe(
    subscriptions: tuple[ShardSubscriptions, Lost], redis_url: str, channel: str
) -> None:
    subs, lost = subscriptions
    a, b = f"{channel}#a", f"{channel}#b"  # channels ignore DB numbers: this test's own
    assert await subs.subscribe([a, b]) == set()
    confirmed = {str((await _next(subs, "ssubscribe"))["channel"], "utf-8") for _ in range(2)}
    assert confirmed == {a, b}
    client = make_pubsub_redis(redis_url)
    try:
        await client.spublish(a, "one")
        message = await _next(subs, "smessage")
        assert (message["channel"], message["data"]) == (a.encode(), b"one")
        await subs.unsubscribe([a])
        assert subs.channels == {b}
        await client.spublish(a, "gone")
        await client.spublish(b, "two")
        message = await _next(subs, "smessage")
        assert (message["channel"], message["data"]) == (b.encode(), b"two")  # not "gone"
    finally:
        await client.aclose()
    assert lost.channels == set()


@pytest.mark.skipif(
    not is_cluster(REDIS_URL), reason="needs the Redis Cluster pass (TEST_REDIS_URL=redis+cluster)"
)
async def test_a_dead_master_silences_only_its_own_channels(
    subscriptions: tuple[ShardSubscriptions, Lost], redis_url: str, channel: str
) -> None:
    subs, lost = subscriptions
    dies = f"{channel}#dies"
    base = int(cluster_nodes(redis_url)[0].port)
    victim = _owner(base, dies)
    survivor = next(c for c in (f"{channel}#{i}" for i in range(1000)) if _owner(base, c) != victim)
    survivor_port = _owner(base, survivor)
    assert await subs.subscribe([dies, survivor]) == set()
    for _ in range(2):
        await _next(subs, "ssubscribe")

    os.kill(cluster_servers.pid(victim), signal.SIGKILL)
    try:
        async with asyncio.timeout(5):
            await lost.changed.wait()
        assert lost.channels == {dies}  # the other shard's channel stays subscribed
        assert subs.channels == {survivor}
        # The surviving shard's traffic goes on arriving while the dead master is replaced.
        for i in range(10):
            assert _spublish(survivor_port, survivor, f"m{i}") == 1
            message = await _next(subs, "smessage")
            assert message["data"] == f"m{i}".encode()
            await asyncio.sleep(0.1)
        # Subscribed again once the slot map names the promoted replica (as the manager does).
        deadline = asyncio.get_running_loop().time() + 30
        while await subs.subscribe([dies]):
            assert asyncio.get_running_loop().time() < deadline, "never subscribed again"
            await asyncio.sleep(0.2)
        new_owner = _owner(survivor_port, dies)
        assert new_owner != victim
        assert subs.shard_of(dies) == f"127.0.0.1:{new_owner}"
        await _next(subs, "ssubscribe")
        assert _spublish(new_owner, dies, "back") == 1
        assert (await _next(subs, "smessage"))["data"] == b"back"
    finally:
        cluster_servers.start(base)
