"""One way to get a Redis client, real or embedded.

With `REDIS_URL` set every process talks to that Redis. Without it (the embedded default) all
services in the one process share a fakeredis server, so carts, rate limits, room state and
the token denylist take the same code paths as in production, just in memory.
"""

from __future__ import annotations

from functools import lru_cache

import fakeredis
import redis.asyncio as aioredis
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string


@lru_cache(maxsize=1)
def _embedded_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


# A burst (a join storm: thousands of sockets each running a few commands) can want more
# connections than the pool holds. A non-blocking pool raises `MaxConnectionsError` then, and the
# caller's request fails; a blocking one makes it wait its turn, bounded by `POOL_WAIT_S`.
POOL_SIZE = 512
POOL_WAIT_S = 10.0


def make_redis(url: str | None, *, decode_responses: bool = False) -> aioredis.Redis:
    if url:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT_S,
            decode_responses=decode_responses,
            socket_connect_timeout=5,
            socket_timeout=30,
            health_check_interval=30,
        )
        return aioredis.Redis.from_pool(pool)
    # fakeredis builds a plain pool (100 connections, raising when exhausted); rebuild it as a
    # blocking one with the same connection class and arguments.
    template = fakeredis.FakeAsyncRedis(
        server=_embedded_server(), decode_responses=decode_responses
    ).connection_pool
    pool = aioredis.BlockingConnectionPool(
        max_connections=POOL_SIZE,
        timeout=POOL_WAIT_S,
        connection_class=template.connection_class,
        **template.connection_kwargs,
    )
    return fakeredis.FakeAsyncRedis.from_pool(pool)


def make_limiter(url: str | None) -> MovingWindowRateLimiter:
    """A `limits` moving-window limiter on the same Redis (redis-py client), or in memory when
    embedded (one process holds all the counters then)."""
    if not url:
        return MovingWindowRateLimiter(storage_from_string("async+memory://"))
    uri = url if url.startswith("async+") else "async+" + url
    return MovingWindowRateLimiter(storage_from_string(uri, implementation="redispy"))
