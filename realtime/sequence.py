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

# A Lua function other scripts (chat.py) prepend: next seq + log entry `seq|entry`.
STAMP_LUA = """
local function stamp(seq_key, log_key, entry, max_events, ttl_ms)
  local seq = redis.call('INCR', seq_key)
  redis.call('ZADD', log_key, seq, seq .. '|' .. entry)
  redis.call('ZREMRANGEBYRANK', log_key, 0, -(tonumber(max_events) + 1))
  redis.call('PEXPIRE', log_key, ttl_ms)
  redis.call('PEXPIRE', seq_key, ttl_ms * 48)
  return seq
end
"""

# KEYS: seq, log. ARGV: entry json (without seq), max entries, ttl ms. Returns the new seq.
_APPEND = STAMP_LUA + "return stamp(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])"


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

    def keys(self, stream_id: int) -> list[str]:
        """KEYS of `STAMP_LUA`'s stamp(): the room's seq counter and event log."""
        return [key(stream_id, "seq"), key(stream_id, "events")]

    def stamp_args(self) -> list[int]:
        return [self.max_events, self.max_age_s * 1000]

    async def emit(
        self, stream_id: int, event: str, payload: dict[str, Any], *, skip_sid: str | None = None
    ) -> dict[str, Any]:
        """Stamp `stream_id`, `seq` and keep the event for resume, then emit it to the room."""
        body = {**payload, "stream_id": stream_id}
        seq = int(
            await self._append(
                keys=self.keys(stream_id), args=[log_entry(event, body), *self.stamp_args()]
            )
        )
        body["seq"] = seq
        await self.send(stream_id, event, body, skip_sid=skip_sid)
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
            seq_text, _, data = text.partition("|")
            entry = orjson.loads(data)
            if entry["ts"] < cutoff:
                continue
            seq = int(seq_text)
            if first_seq is None:
                first_seq = seq
            out.append({"event": entry["event"], "data": {**entry["data"], "seq": seq}})
        current = await self.current_seq(stream_id)
        complete = since_seq >= current or first_seq == since_seq + 1
        return out, complete
