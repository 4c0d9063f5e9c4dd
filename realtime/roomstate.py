"""The room state a (re)joining client needs, as one Lua function and its decoding.

Pinned product, the last chat messages, the room's `seq` and epoch and its viewer count: one
room's keys (one Redis Cluster slot), read inside a script because the epoch is a script's work.
Two scripts read it: `resume`'s reload (realtime/membership.py) on its own, and the presence
batch that counts a joiner (realtime/presence.py) right after its own changes, so a join costs
one round trip for both and its ack's `viewers` includes the joiner.
"""

from __future__ import annotations

from typing import Any

import orjson

from realtime import rooms
from realtime.sequence import STAMP_LUA

# room_state(pin, chat history, epoch, seq, viewers, epoch ttl ms) -> the reply `decode` reads.
STATE_LUA = STAMP_LUA + """
local function room_state(pin_key, history_key, epoch_key, seq_key, viewers_key, ttl_ms)
  return {redis.call('GET', pin_key) or '', redis.call('LRANGE', history_key, 0, -1),
          room_epoch(epoch_key, ttl_ms), redis.call('GET', seq_key) or '0',
          redis.call('HLEN', viewers_key)}
end
"""


def keys(stream_id: int) -> list[str]:
    """`room_state`'s keys but the viewers hash (the scripts pass it where they hold it)."""
    return [rooms.pin(stream_id), rooms.chat_history(stream_id),
            rooms.key(stream_id, "epoch"), rooms.key(stream_id, "seq")]


def decode(reply: Any) -> dict[str, Any]:
    pin, history, epoch, seq, viewers = reply
    return {
        "viewers": int(viewers),
        "pinned": orjson.loads(pin) if pin else None,
        "recent_messages": [orjson.loads(m) for m in history],
        "seq": int(seq or 0),
        "epoch": int(epoch),
    }
