"""Room events with a per-room `seq`, kept in Redis for `resume`.

Every room event gets the next `seq` of its room and is appended to the room's recent-events log
(a sorted set scored by seq, trimmed to the last N) in one Lua call, so any node can answer a
reconnecting client's `resume {since_seq}` and `seq` is monotonic across nodes.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio as aioredis
import socketio

from realtime.metrics import EVENTS_OUT
from realtime.rooms import key, stream_room

# KEYS: seq, log. ARGV: json payload (without seq), max entries, ttl ms. Returns the new seq.
_APPEND = """
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, seq .. '|' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[3] * 48)
return seq
"""


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

    async def emit(
        self, stream_id: int, event: str, payload: dict[str, Any], *, skip_sid: str | None = None
    ) -> dict[str, Any]:
        """Stamp `stream_id`, `seq` and keep the event for resume, then emit it to the room."""
        body = {**payload, "stream_id": stream_id}
        entry = orjson.dumps({"event": event, "ts": time.time(), "data": body}).decode()
        seq = int(
            await self._append(
                keys=[key(stream_id, "seq"), key(stream_id, "events")],
                args=[entry, self.max_events, self.max_age_s * 1000],
            )
        )
        body["seq"] = seq
        await self.sio.emit(event, body, room=stream_room(stream_id), skip_sid=skip_sid)
        EVENTS_OUT.labels(event).inc()
        return body

    async def current_seq(self, stream_id: int) -> int:
        value = await self.redis.get(key(stream_id, "seq"))
        return int(value or 0)

    async def since(self, stream_id: int, since_seq: int) -> list[dict[str, Any]]:
        """Events after `since_seq`, oldest first, within the last N events and max age."""
        raw = await self.redis.zrangebyscore(key(stream_id, "events"), f"({since_seq}", "+inf")
        cutoff = time.time() - self.max_age_s
        out: list[dict[str, Any]] = []
        for member in raw:
            text = member.decode() if isinstance(member, bytes) else str(member)
            seq_text, _, data = text.partition("|")
            entry = orjson.loads(data)
            if entry["ts"] < cutoff:
                continue
            out.append({"event": entry["event"], "data": {**entry["data"], "seq": int(seq_text)}})
        return out
