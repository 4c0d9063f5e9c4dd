"""After a Redis restart the pool's connections are all dead; the client must not hand them to
callers: the first commands after the restart succeed (health check or one resend on a fresh
connection), instead of failing once per pooled connection as they did (500s for ~90 s)."""

from __future__ import annotations

import asyncio

import pytest

from shared.redis import make_redis
from tests.helpers.private_servers import PrivateRedis

pytestmark = pytest.mark.timeout(60)


async def test_dead_pooled_connections_are_replaced_not_returned(
    fault_redis: PrivateRedis,
) -> None:
    redis = make_redis(fault_redis.url)
    try:
        # Fill the pool with 30 open connections (30 commands in flight at once).
        await asyncio.gather(*(redis.blpop([f"nothing:{i}"], timeout=0.2) for i in range(30)))
        await redis.set("survives", "1")
        await asyncio.sleep(1.2)  # the AOF's fsync (everysec)
        fault_redis.kill()
        await asyncio.to_thread(fault_redis.start)
        results = await asyncio.gather(
            *(redis.get("survives") for _ in range(30)), return_exceptions=True
        )
    finally:
        await redis.aclose()
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert results == [b"1"] * 30
