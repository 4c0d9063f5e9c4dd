"""The Redis client waits for a free connection under a burst instead of failing the command."""

from __future__ import annotations

import asyncio

import pytest

from shared import redis as shared_redis


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
