"""Room events with a per-room `seq`, kept in Redis for `resume`.

Every durable room event (chat, pins, moderation, relayed commerce events) gets the next `seq`
of its room and is appended to the room's recent-events log (a sorted set scored by seq, trimmed
to the last N) in one Lua call, so any node can answer a reconnecting client's
`resume {since_seq}` and `seq` is monotonic across nodes.

Ephemeral events (`viewers`, `reactions`, and the `chat_batch` envelope whose messages were each
logged on their own) are not logged and do not advance `seq`: they carry the room's current
`seq`, i.e. that of the last durable event before them. A client detects a gap only when a
durable event's seq is more than one past the last it saw.

The payload is encoded once per emit: socket.io's Redis manager publishes it once and each node
writes the same packet to all of its sockets in the room.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio as aioredis
import socketio

from realtime.metrics import EVENTS_OUT
from realtime.rooms import key, stream_room
from shared.redis import REDIS_RUN_LUA

# Lua functions other scripts (chat.py) prepend.
#
# room_epoch: the room's epoch, a new one (Redis's clock in ms, above the last) whenever the
# Redis serving the room is not the one that set it (its `run_id` differs: it restarted, from an
# AOF that may lack its last second, or a replica took over, or it lost everything). A `seq` is
# meaningful only within its epoch, so a client sees a reset instead of a counter going back.
# stamp: next seq + log entry `seq|epoch|entry`; leaves the epoch in `stamp_epoch`.
STAMP_LUA = REDIS_RUN_LUA + """
local stamp_epoch = 0
local function room_epoch(epoch_key, ttl_ms)
  local run = redis_run()
  local held = redis.call('HMGET', epoch_key, 'run', 'epoch')
  local epoch = tonumber(held[2])
  if held[1] ~= run then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    if epoch and epoch >= now then now = epoch + 1 end
    epoch = now
    redis.call('HSET', epoch_key, 'run', run, 'epoch', epoch)
  end
  redis.call('PEXPIRE', epoch_key, ttl_ms)
  return epoch
end
local function stamp(seq_key, log_key, epoch_key, entry, max_events, ttl_ms)
  stamp_epoch = room_epoch(epoch_key, ttl_ms * 48)
  local seq = redis.call('INCR', seq_key)
  redis.call('ZADD', log_key, seq, seq .. '|' .. stamp_epoch .. '|' .. entry)
  redis.call('ZREMRANGEBYRANK', log_key, 0, -(tonumber(max_events) + 1))
  redis.call('PEXPIRE', log_key, ttl_ms)
  redis.call('PEXPIRE', seq_key, ttl_ms * 48)
  return seq
end
"""

# KEYS: seq, log, epoch, relayed. ARGV: entry json (without seq), max entries, ttl ms, then
# the dedup key of a relayed event ('' for none) and how many such keys the room remembers.
# Returns {seq, epoch}, or {0, epoch} for a relayed event the room already has.
_APPEND = STAMP_LUA + """
if ARGV[4] ~= '' then
  if redis.call('ZSCORE', KEYS[4], ARGV[4]) then
    return {0, room_epoch(KEYS[3], ARGV[3] * 48)}
  end
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[4], t[1], ARGV[4])
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(tonumber(ARGV[5]) + 1))
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
local seq = stamp(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3])
return {seq, stamp_epoch}
"""

# KEYS: epoch. ARGV: ttl ms. The room's epoch (a new one if Redis changed since the last).
_EPOCH = STAMP_LUA + "return room_epoch(KEYS[1], ARGV[1])"

# Relayed events a room remembers (by event id) to drop a second delivery: the outbox relay
# republishes what a restarted Redis lost, and the gateway re-reads entries whose ack was lost.
RELAYED_REMEMBERED = 20_000


def log_entry(event: str, body: dict[str, Any]) -> str:
    """The resume log's record of one event (the seq is prefixed by the Lua script)."""
    return orjson.dumps({"event": event, "ts": time.time(), "data": body}).decode()


class RoomEvents:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        redis: aioredis.Redis,
        *,
        max_events: int = 200,
        max_age_s: int = 300,
    ) -> None:
        self.sio = sio
        self.redis = redis
        self.max_events = max_events
        self.max_age_s = max_age_s
        self._append = redis.register_script(_APPEND)
        self._epoch = redis.register_script(_EPOCH)

    def keys(self, stream_id: int) -> list[str]:
        """KEYS of `STAMP_LUA`'s stamp(): the room's seq counter, event log and epoch."""
        return [key(stream_id, "seq"), key(stream_id, "events"), key(stream_id, "epoch")]

    @property
    def epoch_ttl_ms(self) -> int:
        """How long a room's epoch outlives its last event (as `STAMP_LUA`'s stamp keeps it)."""
        return self.max_age_s * 1000 * 48

    def stamp_args(self) -> list[int]:
        return [self.max_events, self.max_age_s * 1000]

    async def emit(
        self, stream_id: int, event: str, payload: dict[str, Any], *,
        skip_sid: str | None = None, once: str | None = None,
    ) -> dict[str, Any] | None:
        """Stamp `stream_id`, `seq`, `epoch` and keep the event for resume, then emit it to the
        room. `once`: a relayed event's key; None (nothing emitted) if the room already had it."""
        body = await self.stamp(stream_id, event, payload, once=once)
        if body is not None:
            await self.send(stream_id, event, body, skip_sid=skip_sid)
        return body

    async def stamp(
        self, stream_id: int, event: str, payload: dict[str, Any], *, once: str | None = None
    ) -> dict[str, Any] | None:
        """`emit`'s first half: the body with its `seq` and `epoch`, kept for resume; None if
        the room already had the relayed event `once`. The caller sends it."""
        body = {**payload, "stream_id": stream_id}
        seq, epoch = await self._append(
            keys=[*self.keys(stream_id), key(stream_id, "relayed")],
            args=[log_entry(event, body), *self.stamp_args(), once or "", RELAYED_REMEMBERED],
        )
        if not int(seq):
            return None
        body["seq"] = int(seq)
        body["epoch"] = int(epoch)
        return body

    async def send(
        self, stream_id: int, event: str, body: dict[str, Any], *, skip_sid: str | None = None
    ) -> None:
        """Emit an already stamped body (chat stamps inside its own script)."""
        await self.sio.emit(event, body, room=stream_room(stream_id), skip_sid=skip_sid)
        EVENTS_OUT.labels(event).inc()

    async def broadcast(
        self, stream_id: int, event: str, payload: dict[str, Any], *, seq: int
    ) -> dict[str, Any]:
        """Emit an ephemeral event: not logged, carries the room's current `seq`."""
        body = {**payload, "stream_id": stream_id, "seq": seq}
        await self.send(stream_id, event, body)
        return body

    async def current_seq(self, stream_id: int) -> int:
        value = await self.redis.get(key(stream_id, "seq"))
        return int(value or 0)

    async def epoch(self, stream_id: int, *, client: Any = None) -> Any:
        """The room's epoch (see `STAMP_LUA`). With a pipeline as `client` the call is queued
        and its result comes from `execute()`."""
        return await self._epoch(
            keys=[key(stream_id, "epoch")], args=[self.epoch_ttl_ms],
            client=client or self.redis,
        )

    async def since(self, stream_id: int, since_seq: int) -> tuple[list[dict[str, Any]], bool]:
        """Events after `since_seq`, oldest first, within the last N events and max age.

        The flag says whether the log still reached back to `since_seq + 1`; when it is False
        some events were trimmed or too old and the client should re-`join` for full state.
        """
        raw = await self.redis.zrangebyscore(
            key(stream_id, "events"), f"({since_seq}", "+inf", withscores=False
        )
        cutoff = time.time() - self.max_age_s
        out: list[dict[str, Any]] = []
        first_seq: int | None = None
        for member in raw:
            text = member.decode() if isinstance(member, bytes) else str(member)
            seq_text, _, rest = text.partition("|")
            # `seq|epoch|entry`; entries logged before epochs existed are `seq|entry`.
            if rest.startswith("{"):
                epoch_text, data = "", rest
            else:
                epoch_text, _, data = rest.partition("|")
            entry = orjson.loads(data)
            if entry["ts"] < cutoff:
                continue
            seq = int(seq_text)
            if first_seq is None:
                first_seq = seq
            stamped = {**entry["data"], "seq": seq}
            if epoch_text:
                stamped["epoch"] = int(epoch_text)
            out.append({"event": entry["event"], "data": stamped})
        current = await self.current_seq(stream_id)
        complete = since_seq >= current or first_seq == since_seq + 1
        return out, complete
