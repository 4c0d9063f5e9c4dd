"""The fast path's sliding-window counter (commerce/throttle.lua) against `limits`' own: the same
keys and the same arithmetic, so an order counted in the fast path's script and a hit counted
by `limits` (the routes without the fast path: a Redis Cluster, a cart order) land in one
window and agree on the verdict. Each case puts one window state on two identities' keys, hits
one with the script and the other with `limits`, and compares the verdicts and what is left in
Redis (counts, and TTLs to within the milliseconds between the two calls)."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from commerce.throttle import SLIDING_WINDOW_LUA, Window
from shared.redis import is_cluster

pytestmark = pytest.mark.usefixtures("clean_redis")

SPEC = "10/minute"
EXPIRY_MS = 60_000

# One hit with the script's three steps, as fastpath.lua runs them: roll, read both counters in
# one MGET, decide, count. Returns {1} or {0, previous count, previous ttl, current count,
# current ttl}.
_HIT = SLIDING_WINDOW_LUA + """
local expiry_ms = tonumber(ARGV[2]) * 1000
local ttl = roll_window(KEYS[1], KEYS[2], expiry_ms)
local v = redis.call('MGET', KEYS[1], KEYS[2])
local ok, a, b, c, d = window_allows(KEYS[1], v[1], v[2], ttl, tonumber(ARGV[1]), expiry_ms)
if not ok then return {0, a, b, c, d} end
count_hit(KEYS[2], ttl, expiry_ms)
return {1}
"""

# (previous count, its TTL ms, current count, its TTL ms); None: the key is missing; a TTL of
# None on an existing key: no TTL. The previous window's weight is its count times the share of
# the window its TTL has left, rounded down, so a TTL a little above a round share (46 s of 60:
# 8 x 0.76 -> 6) keeps the weight steady while the TTL runs down during the test.
CASES = {
    "fresh": (None, None, None, None),
    "counting": (None, None, 3, 100_000),
    "last place": (None, None, 9, 100_000),
    "full": (None, None, 10, 100_000),
    "rolls over": (None, None, 5, 30_000),
    "rolls over, the last window weighs": (None, None, 10, 59_000),
    "previous weighs": (8, 46_000, 3, 110_000),
    "previous weighs, full": (8, 46_000, 4, 110_000),
    "previous count zero": (0, 45_000, 2, 110_000),
    "no ttl on the current key": (None, None, 2, None),
}
ALLOWED = {"fresh", "counting", "last place", "rolls over", "rolls over, the last window weighs",
           "previous weighs",
           "previous count zero", "no ttl on the current key"}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    if is_cluster(redis_url):
        pytest.skip("the fast path (and this script) runs on one Redis only")
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def _put(redis: aioredis.Redis, window: Window,
               state: tuple[int | None, int | None, int | None, int | None]) -> None:
    previous, previous_ms, current, current_ms = state
    for key, count, ms in ((window.previous_key, previous, previous_ms),
                           (window.current_key, current, current_ms)):
        if count is not None:
            await redis.set(key, count, px=ms)


async def _left(redis: aioredis.Redis, window: Window) -> tuple[int, int, int, int]:
    previous, current = await redis.mget(window.previous_key, window.current_key)
    return (int(previous or 0), max(0, await redis.pttl(window.previous_key)),
            int(current or 0), max(0, await redis.pttl(window.current_key)))


@pytest.mark.parametrize("case", list(CASES))
async def test_the_script_counts_a_hit_as_limits_does(
    redis: aioredis.Redis, redis_url: str, case: str
) -> None:
    ours, theirs = Window.of(SPEC, "orders-user", "41"), Window.of(SPEC, "orders-user", "42")
    assert (ours.limit, ours.expiry_s * 1000) == (10, EXPIRY_MS)
    for window in (ours, theirs):
        await _put(redis, window, CASES[case])
    limiter = SlidingWindowCounterRateLimiter(
        RedisStorage(redis_url.replace("redis://", "async+redis://", 1), implementation="redispy")
    )
    item = parse(SPEC)

    reply = await redis.register_script(_HIT)(
        keys=[ours.previous_key, ours.current_key], args=[ours.limit, ours.expiry_s])
    allowed = await limiter.hit(item, "auth", "orders-user", "42")


    assert bool(int(reply[0])) == allowed == (case in ALLOWED)
    mine, limits_left = await _left(redis, ours), await _left(redis, theirs)
    assert (mine[0], mine[2]) == (limits_left[0], limits_left[2])  # the counts
    assert abs(mine[1] - limits_left[1]) <= 50 and abs(mine[3] - limits_left[3]) <= 50
    if not allowed:  # Retry-After from the script's report, as limits reckons it
        stats = await limiter.get_window_stats(item, "auth", "orders-user", "42")
        expected = max(1, math.ceil(stats.reset_time - time.time()))
        assert abs(ours.retry_after([int(v) for v in reply[1:]]) - expected) <= 1
