"""The Redis client waits for a free connection under a burst instead of failing the command."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from shared import redis as shared_redis
from tests.conftest import REDIS_URL

# The single-Redis pool (WaitingConnectionPool): a cluster client ignores `pool_size` and
# `pool_wait_s` (WaitingRedisCluster waits for one of POOL_SIZE turns per node instead).
one_redis_pool = pytest.mark.skipif(
    shared_redis.is_cluster(REDIS_URL),
    reason="the single-Redis connection pool; the cluster's per-node pools are sized otherwise",
)


@pytest.mark.parametrize("embedded", [True, False], ids=["embedded", "redis"])
async def test_a_burst_beyond_the_pool_waits_instead_of_failing(
    embedded: bool, redis_url: str, clean_redis: None
) -> None:
    client = shared_redis.make_redis(None if embedded else redis_url, decode_responses=True)
    try:
        burst = shared_redis.POOL_SIZE + 100
        # Each BLPOP holds its connection for 0.2 s, so the burst needs more than the pool has.
        answers = await asyncio.gather(
            *(client.blpop([f"burst:{i % 7}"], timeout=0.2) for i in range(burst))
        )
        assert answers == [None] * burst
        assert await client.ping()
    finally:
        await client.aclose()


def _connection_kwargs(client: Any) -> dict[str, Any]:
    """What each new connection is made with: one pool's, or a cluster's for every node."""
    if isinstance(client, RedisCluster):
        return dict(client.nodes_manager.connection_kwargs)
    return dict(client.connection_pool.connection_kwargs)


async def test_no_client_sends_client_setinfo(redis_url: str, clean_redis: None) -> None:
    """Redis before 7.2 (Debian 12's 7.0) refuses CLIENT SETINFO; redis-py 8 pipelines it with
    the health check's PING on every new connection, and its error was read as replies under
    load. Every client the project builds leaves the library name unset (7.0's CLIENT INFO
    has no lib-name to read back, so the connections' own arguments are what is checked)."""
    data = shared_redis.make_redis(redis_url, decode_responses=True)
    pubsub = shared_redis.make_pubsub_redis(redis_url)
    limiter = shared_redis.make_limiter(redis_url)
    try:
        storage = limiter.storage.bridge.storage  # type: ignore[attr-defined]
        for client in (data, pubsub, storage):
            assert await client.ping()
            assert _connection_kwargs(client)["driver_info"] is None
    finally:
        await data.aclose()
        await pubsub.aclose()


@one_redis_pool
async def test_a_small_pool_serves_a_burst_in_turns(redis_url: str, clean_redis: None) -> None:
    """The pool's short way (a free connection, nobody queued) must not let a burst open more
    connections than the pool holds, overtake the queue for ever, or lose a waiter's wake-up:
    20 BLPOPs of 0.1 s on 2 connections, mixed with quick commands, all finish, in turns."""
    client = shared_redis.make_redis(redis_url, pool_size=2, pool_wait_s=10)
    pool = client.connection_pool
    assert isinstance(pool, shared_redis.WaitingConnectionPool)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answers = await asyncio.gather(
            *(client.blpop([f"turns:{i}"], timeout=0.1) if i % 2 else client.incr("turns:n")
              for i in range(40))
        )
        elapsed = loop.time() - started
        assert answers[1::2] == [None] * 20
        assert sorted(answers[0::2]) == list(range(1, 21))
        assert elapsed >= 0.9  # 20 x 0.1 s on 2 connections: they waited their turns
        assert len(pool._available_connections) + len(pool._in_use_connections) <= 2
        assert not pool._in_use_connections
    finally:
        await client.aclose()


@one_redis_pool
async def test_a_wait_for_a_connection_is_still_bounded(redis_url: str, clean_redis: None) -> None:
    client = shared_redis.make_redis(redis_url, pool_size=1, pool_wait_s=0.2)
    try:
        holder = asyncio.create_task(client.blpop(["bounded"], timeout=2))
        await asyncio.sleep(0.05)  # the holder has the only connection
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.get("bounded:other")
        assert await holder is None
        assert await client.ping()  # free again: the short way
    finally:
        await client.aclose()
