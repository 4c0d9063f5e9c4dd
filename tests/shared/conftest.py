"""Fixtures of the shared package's tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.bus import EventBus, InProcessBus, RedisStreamBus
from shared.redis import make_redis


@pytest.fixture(params=["redis", "inprocess"])
async def bus(request: pytest.FixtureRequest, redis_url: str, clean_redis: None
              ) -> AsyncIterator[EventBus]:
    """Each bus implementation in turn; the Redis one on real Redis, on a stream of its own."""
    if request.param == "redis":
        b: EventBus = RedisStreamBus(make_redis(redis_url), stream=f"t-{uuid.uuid4().hex[:6]}")
    else:
        b = InProcessBus()
    yield b
    await b.close()
