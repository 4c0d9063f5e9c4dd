"""Stream metadata as the gateway reads it (written by commerce, `shared.livedata`)."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from shared.livedata import StreamMeta, get_stream


class StreamCache:
    """Stream metadata (written by commerce) with a short in-process cache for the hot paths.

    `chat` and `react` may see a status or moderator change up to `ttl_s` late; `join`, `pin`
    and `moderate` read fresh (and refresh the cache). Unknown streams are not cached, so a
    stream commerce has just created can be joined at once.
    """

    def __init__(self, redis: aioredis.Redis, *, ttl_s: float = 1.0, max_entries: int = 10_000):
        self.redis = redis
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[int, tuple[float, StreamMeta]] = {}

    async def get(self, stream_id: int, *, fresh: bool = False) -> StreamMeta | None:
        now = time.monotonic()
        hit = self._cache.get(stream_id)
        if hit is not None and not fresh and hit[0] > now:
            return hit[1]
        meta = await get_stream(self.redis, stream_id)
        if meta is None:
            self._cache.pop(stream_id, None)
            return None
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[stream_id] = (now + self.ttl_s, meta)
        return meta

    def forget(self, stream_id: int) -> None:
        self._cache.pop(stream_id, None)
