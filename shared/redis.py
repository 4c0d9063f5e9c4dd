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


def make_redis(url: str | None, *, decode_responses: bool = False) -> aioredis.Redis:
    if url:
        return aioredis.Redis.from_url(
            url,
            decode_responses=decode_responses,
            socket_connect_timeout=5,
            socket_timeout=30,
            health_check_interval=30,
            max_connections=512,
        )
    return fakeredis.FakeAsyncRedis(
        server=_embedded_server(), decode_responses=decode_responses
    )


def make_limiter(url: str | None) -> MovingWindowRateLimiter:
    """A `limits` moving-window limiter on the same Redis (redis-py client), or in memory when
    embedded (one process holds all the counters then)."""
    if not url:
        return MovingWindowRateLimiter(storage_from_string("async+memory://"))
    uri = url if url.startswith("async+") else "async+" + url
    return MovingWindowRateLimiter(storage_from_string(uri, implementation="redispy"))
