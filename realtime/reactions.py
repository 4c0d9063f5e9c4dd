"""Reactions: counted per node in memory, merged in Redis, one `reactions` per room per window.

A `react` costs nothing but a local counter increment (and an in-memory per-socket rate limit:
the socket lives on this node, so its limit needs no shared state). Every
`reaction_window_ms` each node pushes its counts of every room (one script call per room, all in
one pipeline): `HINCRBY` into the room's pending hash, then `SET <room>:rlock NX PX window`. The
node that takes the lock is that window's emitter: it waits until the lock has expired, drains
the hash (`HGETALL` + `DEL`, atomically) and emits `reactions {stream_id, counts, window_ms, at}`,
`at` being when the window opened (its lock was taken) on Redis' clock, in ms since the epoch.

Why exactly one event per room per window and nothing lost: a new emitter can only be elected
after the previous lock expired, and every drain happens after its own lock expired, so two
drains are at least one window apart. Counts pushed before a drain are in it; counts pushed
after it either take the (free) lock themselves or are drained by the emitter elected after.
If an emitter dies, its counts wait in the hash for the next push to elect a new one.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict

import orjson
import redis.asyncio as aioredis
import structlog
from limits import parse as parse_limit
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from realtime import rooms
from realtime.metrics import REACTIONS
from realtime.sequence import RoomEvents
from realtime.streams import StreamCache
from shared.errors import Forbidden, NotFound, RateLimited
from shared.redis import run_each
from shared.settings import GatewaySettings

log = structlog.get_logger(__name__)

# KEYS: pending hash, lock, total (analytics), one room's. ARGV: lock px, json {kind: n}.
# Returns Redis' clock (ms, read before the SET) when this node now owns the room's window, else
# 0: Redis checks expiry against the time the script started, so two windows of a room open at
# least `window_ms` apart by that clock.
_PUSH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for kind, n in pairs(cjson.decode(ARGV[2])) do
  redis.call('HINCRBY', KEYS[1], kind, n)
  redis.call('INCRBY', KEYS[3], n)
end
redis.call('PEXPIRE', KEYS[1], 60000)
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return now end
return 0
"""

# KEYS: pending hash, seq. Returns {seq, kind, n, kind, n, ...}.
_DRAIN = """
local counts = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
table.insert(counts, 1, tonumber(redis.call('GET', KEYS[2]) or '0'))
return counts
"""


class Reactions:
    def __init__(
        self,
        *,
        settings: GatewaySettings,
        redis: aioredis.Redis,
        streams: StreamCache,
        room_events: RoomEvents,
    ) -> None:
        self.streams = streams
        self.room_events = room_events
        self.window_ms = settings.reaction_window_ms
        self.limit = parse_limit(settings.react_rate_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.redis = redis
        self.local: defaultdict[int, Counter[str]] = defaultdict(Counter)
        self._push = redis.register_script(_PUSH)
        self._drain = redis.register_script(_DRAIN)
        self._emits: set[asyncio.Task[None]] = set()

    async def react(self, *, sid: str, joined: bool, stream_id: int, kind: str) -> None:
        if not joined:
            raise Forbidden("join the stream first")
        meta = await self.streams.get(stream_id)
        if meta is None:
            raise NotFound("no such stream")
        if meta.status == "ended":
            raise Forbidden("the stream has ended")
        if not await self.limiter.hit(self.limit, "react", sid):
            raise RateLimited("too many reactions")
        self.local[stream_id][kind] += 1
        REACTIONS.labels(kind).inc()

    async def push(self) -> None:
        """Send this node's counts to Redis; become the emitter of the rooms whose lock we got."""
        if not self.local:
            return
        batch, self.local = self.local, defaultdict(Counter)
        # One script call per room (a room's keys share one slot), all in one pipeline.
        rooms_pushed = list(batch)
        replies = await run_each(self.redis, self._push, [
            (
                [rooms.key(s, "reactions"), rooms.key(s, "rlock"), rooms.reaction_count(s)],
                # strings: Lua number formatting differs between Lua versions (fakeredis)
                [self.window_ms, orjson.dumps({k: str(n) for k, n in batch[s].items()})],
            )
            for s in rooms_pushed
        ])
        owned = [(s, int(at)) for s, at in zip(rooms_pushed, replies, strict=True) if int(at)]
        for s, at in owned:
            task = asyncio.create_task(self._emit_after_lock(int(s), at))
            self._emits.add(task)
            task.add_done_callback(self._emits.discard)

    async def _emit_after_lock(self, stream_id: int, at: int) -> None:
        await asyncio.sleep(self.window_ms / 1000 + 0.005)
        reply = await self._drain(
            keys=[rooms.key(stream_id, "reactions"), rooms.key(stream_id, "seq")]
        )
        seq, flat = int(reply[0]), reply[1:]
        counts = {str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        if counts:
            await self.room_events.broadcast(
                stream_id, "reactions",
                {"counts": counts, "window_ms": self.window_ms, "at": at}, seq=seq,
            )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.window_ms / 1000)
            try:
                await self.push()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reactions_push_failed")

    async def close(self) -> None:
        await self.push()
        if self._emits:
            await asyncio.gather(*self._emits, return_exceptions=True)
