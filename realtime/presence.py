"""Exact viewer counts across nodes, robust to a node dying without a goodbye.

A room's *members* are `u:{user_id}` for signed-in users (all their tabs, on any node, are one
member) and `g:{sid}` for guest sockets. Redis holds, per room,

- `vnode:{node}`: the members one node holds (HSETNX when its first local socket of a member
  joins, HDEL when its last one leaves; the node counts its own tabs in memory);
- `viewers`: member -> number of nodes holding it. `HLEN` is the exact count.

Every node heartbeats into `gateway:nodes` (scored by Redis' clock, so node clocks don't matter)
every `presence_ttl_s / 3`. Any node sweeps nodes silent for `presence_ttl_s`: their members are
decremented out of `viewers` and their `vnode` hashes deleted, atomically in one script, so a
SIGKILLed node's viewers are gone within the TTL plus one sweep interval. A node that was only
slow and finds itself swept (its heartbeat re-adds it) registers its members again.

`viewers {stream_id, count}` is sent at most once per `viewers_broadcast_interval_s` per room and
only when the count changed: every node ticks the rooms it has sockets in, and per room only the
node that takes a short `SET NX PX` lock compares the count with the last one sent and emits.
One Lua call per node per tick covers all its rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import redis.asyncio as aioredis
import structlog

from realtime import rooms
from realtime.metrics import ROOMS
from realtime.sequence import RoomEvents
from shared.settings import GatewaySettings

log = structlog.get_logger(__name__)

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: node hash, room viewers, node rooms set, uniques, peak, signed-in uniques.
# ARGV: member, stream id.
_ADD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], 1) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
end
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('PFADD', KEYS[4], ARGV[1])
if string.sub(ARGV[1], 1, 2) == 'u:' then redis.call('PFADD', KEYS[6], ARGV[1]) end
local n = redis.call('HLEN', KEYS[2])
if n > tonumber(redis.call('GET', KEYS[5]) or '0') then redis.call('SET', KEYS[5], n) end
return n
"""

# KEYS: node hash, room viewers, node rooms set. ARGV: member, stream id.
_REMOVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[1]) end
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return redis.call('HLEN', KEYS[2])
"""

# KEYS: nodes zset. ARGV: node id. Returns 1 when the node was (re)added.
_HEARTBEAT = _NOW_MS + "return redis.call('ZADD', KEYS[1], now, ARGV[1])"

# KEYS: nodes zset. ARGV: ttl ms (0: sweep ARGV[5] now), node-rooms tpl, vnode tpl, viewers tpl,
# node id. Templates hold {node}/{room}. Returns the swept node ids.
_SWEEP = _NOW_MS + """
local dead
if tonumber(ARGV[1]) == 0 then dead = {ARGV[5]}
else dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1])) end
for _, node in ipairs(dead) do
  local rooms_key = string.gsub(ARGV[2], '{node}', node)
  for _, room in ipairs(redis.call('SMEMBERS', rooms_key)) do
    local nh = string.gsub(string.gsub(ARGV[3], '{room}', room), '{node}', node)
    local vh = string.gsub(ARGV[4], '{room}', room)
    for _, m in ipairs(redis.call('HKEYS', nh)) do
      if redis.call('HINCRBY', vh, m, -1) <= 0 then redis.call('HDEL', vh, m) end
    end
    redis.call('DEL', nh)
  end
  redis.call('DEL', rooms_key)
  redis.call('ZREM', KEYS[1], node)
end
return dead
"""

# ARGV: lock px, viewers tpl, lock tpl, last tpl, seq tpl, stream ids...
# Returns flat [stream_id, count, seq, ...] for rooms this node must announce.
_TICK = """
local out = {}
for i = 6, #ARGV do
  local s = ARGV[i]
  local function k(tpl) return (string.gsub(tpl, '{room}', s)) end
  if redis.call('SET', k(ARGV[3]), '1', 'NX', 'PX', ARGV[1]) then
    local n = redis.call('HLEN', k(ARGV[2]))
    if redis.call('GET', k(ARGV[4])) ~= tostring(n) then
      redis.call('SET', k(ARGV[4]), n, 'EX', 86400)
      table.insert(out, s)
      table.insert(out, n)
      table.insert(out, tonumber(redis.call('GET', k(ARGV[5])) or '0'))
    end
  end
end
return out
"""


class Presence:
    def __init__(
        self,
        *,
        settings: GatewaySettings,
        redis: aioredis.Redis,
        room_events: RoomEvents,
        node_id: str,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.room_events = room_events
        self.node = node_id
        # stream id -> member -> this node's sockets of that member in the room
        self.local: dict[int, dict[str, int]] = defaultdict(dict)
        r = redis
        self._add = r.register_script(_ADD)
        self._remove = r.register_script(_REMOVE)
        self._heartbeat = r.register_script(_HEARTBEAT)
        self._sweep = r.register_script(_SWEEP)
        self._tick = r.register_script(_TICK)

    @staticmethod
    def member(user_id: int | None, sid: str) -> str:
        return f"u:{user_id}" if user_id is not None else f"g:{sid}"

    async def add(self, stream_id: int, member: str) -> int | None:
        """Count one more local socket of `member`; returns the room's count if Redis changed."""
        counts = self.local[stream_id]
        counts[member] = counts.get(member, 0) + 1
        ROOMS.set(len(self.local))
        if counts[member] > 1:
            return None
        return int(await self._add(keys=self._add_keys(stream_id), args=[member, stream_id]))

    async def remove(self, stream_id: int, member: str) -> None:
        counts = self.local.get(stream_id)
        if counts is None or member not in counts:
            return
        counts[member] -= 1
        if counts[member] > 0:
            return
        del counts[member]
        if not counts:
            del self.local[stream_id]
        ROOMS.set(len(self.local))
        await self._remove(
            keys=[
                rooms.node_viewers(stream_id, self.node),
                rooms.viewers(stream_id),
                rooms.node_rooms(self.node),
            ],
            args=[member, stream_id],
        )

    async def count(self, stream_id: int) -> int:
        return int(await self.redis.hlen(rooms.viewers(stream_id)))

    def _add_keys(self, stream_id: int) -> list[str]:
        return [
            rooms.node_viewers(stream_id, self.node),
            rooms.viewers(stream_id),
            rooms.node_rooms(self.node),
            rooms.uniques(stream_id),
            rooms.peak_viewers(stream_id),
            rooms.signed_in_uniques(stream_id),
        ]

    async def heartbeat(self) -> None:
        added = int(await self._heartbeat(keys=[rooms.presence_nodes()], args=[self.node]))
        if added and self.local:
            log.warning("presence_reregistering", rooms=len(self.local))
            for stream_id, counts in list(self.local.items()):
                for member in list(counts):
                    await self._add(keys=self._add_keys(stream_id), args=[member, stream_id])

    async def sweep(self, *, own: bool = False) -> list[str]:
        """Remove dead nodes' members (or, with `own`, this node's: a clean shutdown)."""
        ttl_ms = 0 if own else int(self.settings.presence_ttl_s * 1000)
        dead = await self._sweep(
            keys=[rooms.presence_nodes()],
            args=[
                ttl_ms,
                rooms.node_rooms(rooms.NODE),
                rooms.node_viewers(rooms.ROOM, rooms.NODE),
                rooms.template("viewers"),
                self.node,
            ],
        )
        swept = [d.decode() if isinstance(d, bytes) else str(d) for d in dead]
        if swept and not own:
            log.info("presence_swept_nodes", nodes=swept)
        return swept

    async def tick(self) -> None:
        """Announce changed counts of the rooms this node has sockets in (≤ 1/interval)."""
        if not self.local:
            return
        interval_ms = int(self.settings.viewers_broadcast_interval_s * 1000)
        out = await self._tick(
            args=[
                interval_ms,
                rooms.template("viewers"),
                rooms.template("vlock"),
                rooms.template("vlast"),
                rooms.template("seq"),
                *self.local.keys(),
            ]
        )
        for i in range(0, len(out), 3):
            stream_id, count, seq = int(out[i]), int(out[i + 1]), int(out[i + 2])
            await self.room_events.broadcast(stream_id, "viewers", {"count": count}, seq=seq)

    async def run(self) -> None:
        """Heartbeat, sweep and tick until cancelled (a failed round is logged, not fatal)."""
        settings = self.settings
        beat_every = max(0.2, settings.presence_ttl_s / 3)
        tick_every = max(0.05, settings.viewers_broadcast_interval_s / 2)
        loop = asyncio.get_running_loop()
        next_beat = loop.time() + beat_every
        while True:
            await asyncio.sleep(tick_every)
            try:
                if loop.time() >= next_beat:
                    next_beat = loop.time() + beat_every
                    await self.heartbeat()
                    await self.sweep()
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("presence_round_failed")

    async def start(self) -> None:
        """Register this node before it accepts sockets."""
        await self.heartbeat()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.sweep(own=True)
