"""Exact viewer counts across nodes, robust to a node dying without a goodbye.

A room's *members* are `u:{user_id}` for signed-in users (all their tabs, on any node, are one
member) and `g:{sid}` for guest sockets. Redis holds, per room,

- `vnode:{node}`: the members one node holds (HSETNX when its first local socket of a member
  joins, HDEL when its last one leaves; the node counts its own tabs in memory);
- `viewers`: member -> number of nodes holding it. `HLEN` is the exact count.

A node writes its changes in batches (`PresenceWrites`): one script call per room per Redis round
trip however many sockets joined or left meanwhile, so a mass disconnect or a join storm does not
queue one call per socket on the Redis pool.

Every node heartbeats into `gateway:nodes` (scored by Redis' clock, so node clocks don't matter)
every `presence_ttl_s / 3`, and lists the rooms it ever held members in under
`gateway:node:<id>:rooms` (added before the room's first member is counted; never shrunk while
the node lives, so no removal can race a concurrent join). Any node sweeps nodes silent for
`presence_ttl_s`: per room of the dead node, one script decrements its members out of `viewers`
and deletes its `vnode` hash (atomic per room; a room's keys share one Redis Cluster slot); then
the node's room set and its entry go. A sweep cut short is finished by the next one (a room
already swept has no `vnode` hash left), so a SIGKILLed node's viewers are gone within the TTL
plus one sweep interval. A node that was only slow and finds itself swept (its heartbeat re-adds
it) registers its members again.

`viewers {stream_id, count, at}` is sent at most once per `viewers_broadcast_interval_s` per room
(longer in rooms of more than `viewers_large_room` viewers, see `tick`) and only when the count
changed: every node ticks the rooms it has sockets in, and per room only
the node that takes a short `SET NX PX` lock compares the count with the last one sent and emits.
One script call per room, all of a node's rooms in one pipeline (`shared.redis.run_each`). `at`
is when that lock was taken on Redis' clock (ms since the epoch), so the throttle shows in the
events themselves whatever their delivery delays: two of a room are at least the interval apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

import redis.asyncio as aioredis
import structlog

from realtime import rooms, roomstate
from realtime.metrics import ROOMS
from realtime.presence_writes import ADD, PresenceWrites
from realtime.sequence import RoomEvents
from shared.redis import run_each
from shared.settings import GatewaySettings

log = structlog.get_logger(__name__)

_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# One room's presence changes in the order they were made (realtime/presence_writes.py).
# KEYS: node hash, room viewers, uniques, peak, signed-in uniques, then the room state's pin,
# chat history, epoch, seq (one room's slot). ARGV: the epoch ttl ms when a joiner waits for
# the room's state ('' otherwise), then op and member pairs: '+' adds a member of this node,
# '-' removes one. The peak is the largest count after any add. Returns the room's state read
# after the changes (realtime/roomstate.py) when asked, else the room's count.
_APPLY = roomstate.STATE_LUA + """
local n = redis.call('HLEN', KEYS[2])
local peak = 0
for i = 2, #ARGV, 2 do
  local m = ARGV[i + 1]
  if ARGV[i] == '+' then
    if redis.call('HSETNX', KEYS[1], m, 1) == 1 then
      redis.call('HINCRBY', KEYS[2], m, 1)
      n = redis.call('HLEN', KEYS[2])
    end
    redis.call('PFADD', KEYS[3], m)
    if string.sub(m, 1, 2) == 'u:' then redis.call('PFADD', KEYS[5], m) end
    if n > peak then peak = n end
  elseif redis.call('HDEL', KEYS[1], m) == 1 then
    if redis.call('HINCRBY', KEYS[2], m, -1) <= 0 then redis.call('HDEL', KEYS[2], m) end
    n = redis.call('HLEN', KEYS[2])
  end
end
if peak > tonumber(redis.call('GET', KEYS[4]) or '0') then redis.call('SET', KEYS[4], peak) end
if ARGV[1] ~= '' then return room_state(KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[2], ARGV[1]) end
return n
"""

# KEYS: nodes zset. ARGV: node id. Returns 1 when the node was (re)added.
_HEARTBEAT = _NOW_MS + "return redis.call('ZADD', KEYS[1], now, ARGV[1])"

# KEYS: nodes zset. ARGV: ttl ms. The nodes silent for longer.
_SILENT = _NOW_MS + "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))"

# KEYS: a dead node's hash of one room, the room's viewers. Takes its members out, once.
_SWEEP_ROOM = """
for _, m in ipairs(redis.call('HKEYS', KEYS[1])) do
  if redis.call('HINCRBY', KEYS[2], m, -1) <= 0 then redis.call('HDEL', KEYS[2], m) end
end
return redis.call('DEL', KEYS[1])
"""

# KEYS: viewers, lock, last sent count, seq (one room). ARGV: base lock px, stream id, large room,
# max lock px. Returns {stream_id, count, seq, at} when this node must announce the room, else {}.
# The lock's PX is the room's interval: the base up to `large room` viewers, then in proportion
# to the count (capped), so a big room's `viewers` writes per second stay bounded (see `tick`).
# `at` is Redis' clock (ms) read before the SET: Redis checks expiry against the time the script
# started, so two `at`s of a room are at least the base interval apart.
_TICK = _NOW_MS + """
local n = redis.call('HLEN', KEYS[1])
local px = tonumber(ARGV[1])
local large = tonumber(ARGV[3])
if large > 0 and n > large then
  px = math.min(tonumber(ARGV[4]), math.floor(px * n / large))
end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', px) then
  if redis.call('GET', KEYS[3]) ~= tostring(n) then
    redis.call('SET', KEYS[3], n, 'EX', 86400)
    return {ARGV[2], n, tonumber(redis.call('GET', KEYS[4]) or '0'), now}
  end
end
return {}
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
        self._apply = r.register_script(_APPLY)
        self._heartbeat = r.register_script(_HEARTBEAT)
        self._silent = r.register_script(_SILENT)
        self._sweep_room = r.register_script(_SWEEP_ROOM)
        self._tick = r.register_script(_TICK)
        self.writes = PresenceWrites(write=self._write, interval_s=settings.join_batch_interval_s)
        # Rooms this node's room set is known to hold (it is never shrunk while the node lives),
        # so a batch adds to it only rooms new to the node: one round trip less per batch. A
        # heartbeat that finds the node (re)added (it was swept, or Redis lost its data) forgets
        # them all and bumps the generation, so a write in flight meanwhile cannot remember one.
        self._listed: set[int] = set()
        self._listed_generation = 0

    @staticmethod
    def member(user_id: int | None, sid: str) -> str:
        return f"u:{user_id}" if user_id is not None else f"g:{sid}"

    async def add(self, stream_id: int, member: str) -> Any:
        """Count one more local socket of `member` and answer the room's state (the reply
        `roomstate.decode` reads) with the member counted. The first local socket of a member
        is registered in Redis in this node's next presence batch, which reads the state right
        after the room's changes; another socket of a member already counted waits for the
        next batch's read (its first socket's add may still be queued or in flight)."""
        counts = self.local.get(stream_id)
        if counts is None:  # the gauge moves only when a room is new to the node
            counts = self.local[stream_id] = {}
            ROOMS.set(len(self.local))
        counts[member] = counts.get(member, 0) + 1
        if counts[member] == 1:
            return await self.writes.add(stream_id, member)
        return await self.writes.read(stream_id)

    def remove(self, stream_id: int, member: str) -> None:
        """Count one local socket of `member` less; the last one's removal from Redis is queued
        for the next presence batch (so it cannot fail, nor make a disconnect wait)."""
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
        self.writes.remove(stream_id, member)

    async def _write(
        self, batch: dict[int, list[tuple[str, str]]], wanted: set[int]
    ) -> dict[int, Any]:
        """One batch of changes: one script call per room, in one pipeline on one Redis (on a
        cluster, concurrently per room: each room's call is atomic on its own slot, and reads
        its state after its own changes). Answers the `wanted` rooms' states.

        The rooms that get members go into the node's room set first (those it is not known to
        hold already): a sweeper of this node must find every room whose hash holds its members
        (the set is in another slot)."""
        listed = self._listed
        added = [stream_id for stream_id, ops in batch.items()
                 if stream_id not in listed and any(op == ADD for op, _ in ops)]
        if added:
            generation = self._listed_generation
            await self.redis.sadd(rooms.node_rooms(self.node), *added)
            if generation == self._listed_generation:
                listed.update(added)
        ttl_ms = self.room_events.epoch_ttl_ms
        replies = await run_each(self.redis, self._apply, [
            (self._keys(stream_id),
             [ttl_ms if stream_id in wanted else "", *(part for change in ops for part in change)])
            for stream_id, ops in batch.items()
        ])
        return {stream_id: reply for stream_id, reply in zip(batch, replies, strict=True)
                if stream_id in wanted}

    async def count(self, stream_id: int) -> int:
        return int(await self.redis.hlen(rooms.viewers(stream_id)))

    def _keys(self, stream_id: int) -> list[str]:
        return [
            rooms.node_viewers(stream_id, self.node),
            rooms.viewers(stream_id),
            rooms.uniques(stream_id),
            rooms.peak_viewers(stream_id),
            rooms.signed_in_uniques(stream_id),
            *roomstate.keys(stream_id),
        ]

    async def heartbeat(self) -> None:
        added = int(await self._heartbeat(keys=[rooms.presence_nodes()], args=[self.node]))
        if added:  # new, swept, or Redis lost its data: the room set may be gone too
            self._listed.clear()
            self._listed_generation += 1
        if added and self.local:
            log.warning("presence_reregistering", rooms=len(self.local))
            await self.writes.add_all(
                [(stream_id, m) for stream_id, counts in self.local.items() for m in counts]
            )

    async def sweep(self, *, own: bool = False) -> list[str]:
        """Remove dead nodes' members (or, with `own`, this node's: a clean shutdown)."""
        if own:
            dead = [self.node]
        else:
            ttl_ms = int(self.settings.presence_ttl_s * 1000)
            silent = await self._silent(keys=[rooms.presence_nodes()], args=[ttl_ms])
            dead = [d.decode() if isinstance(d, bytes) else str(d) for d in silent]
        for node in dead:
            await self._sweep_node(node)
        if dead and not own:
            log.info("presence_swept_nodes", nodes=dead)
        return dead

    async def _sweep_node(self, node: str) -> None:
        """Take a node's members out of every room it held, then forget the node. Each step is
        idempotent, so a sweep cut short (or two sweepers at once) leaves nothing wrong."""
        rooms_key = rooms.node_rooms(node)
        held = [int(r) for r in await self.redis.smembers(rooms_key)]
        await run_each(self.redis, self._sweep_room, [
            ([rooms.node_viewers(stream_id, node), rooms.viewers(stream_id)], [])
            for stream_id in held
        ])
        await self.redis.delete(rooms_key)
        await self.redis.zrem(rooms.presence_nodes(), node)

    async def tick(self) -> None:
        """Announce changed counts of the rooms this node has sockets in (≤ 1/interval).

        Each `viewers` costs one socket write per member of the room, on every node: at one a
        second a room of N viewers costs N writes a second, and a join storm into it pays that
        for every second it lasts (about N²/2 writes in all; BENCHMARKS.md, issue 20). Past
        `viewers_large_room` viewers the interval grows in proportion to the count, up to
        `viewers_broadcast_max_interval_s`, so a big room's announcements cost at most about
        `viewers_large_room / viewers_broadcast_interval_s` writes a second (2,000 by default):
        a 10,000-viewer room hears its count every 5 s."""
        if not self.local:
            return
        settings = self.settings
        interval_ms = int(settings.viewers_broadcast_interval_s * 1000)
        max_ms = max(interval_ms, int(settings.viewers_broadcast_max_interval_s * 1000))
        replies = await run_each(self.redis, self._tick, [
            (
                [rooms.viewers(stream_id), rooms.key(stream_id, "vlock"),
                 rooms.key(stream_id, "vlast"), rooms.key(stream_id, "seq")],
                [interval_ms, stream_id, settings.viewers_large_room, max_ms],
            )
            for stream_id in list(self.local)
        ])
        for out in replies:
            if out:
                stream_id, count, seq, at = (int(v) for v in out[:4])
                await self.room_events.broadcast(
                    stream_id, "viewers", {"count": count, "at": at}, seq=seq
                )

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
        await self.writes.stop()  # the sweep below removes every member of this node
        with contextlib.suppress(Exception):
            await self.sweep(own=True)
