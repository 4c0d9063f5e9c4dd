"""Chat: policy (who may say what, how often), history for late joiners, busy-room batching.

One message costs its sender's node a policy read (one pipeline), the rate limiter, and one Lua
call that stamps the room `seq`, logs it for `resume`, keeps the last `chat_history_size`
messages and decides how it goes out:

- a quiet room (at most `chat_busy_threshold` messages within `chat_batch_window_ms`, nothing
  queued) gets the message at once as `chat`;
- beyond that the room is *busy*: the message is queued in Redis, and the node whose message
  took the room's flush lock (`SET NX`) emits the whole queue as one `chat_batch` when the
  window ends, messages in seq order, each with its own `seq`. Queue and lock are drained in one
  script, so a message either makes that batch or takes the lock for the next one. If the
  flushing node dies, the lock expires and the next busy message's node flushes the queue.

So the fan-out cost of a busy room is one encoded packet per window instead of one per message,
whichever nodes the senders are on.

A message that may go out at once takes its room's turn on this node (`RoomOrder`) from the
stamp until its emit is handed on (written to this node's sockets, its publish queued:
`hand_on`), so this node's emits of a room leave in `seq` order; the publish's answer, which its
ack still waits for, comes after the turn. Only while the room
looks quiet from here, though: when `chat_busy_threshold` of its messages already hold or wait
for that turn (its local write pressure), or its last turn-taking message was queued less than a
window ago, a message is stamped straight into the batch queue (the script's `force` argument)
without taking the turn. Such a message is never emitted on its own, so it cannot overtake
anything; the flush that sends it takes the turn. Without that, a room sent more messages than
one turn per Redis round trip can serve (300 msg/s to one loaded process, BENCHMARKS.md issue 20)
queued them all for the turn: each was stamped alone in a near-empty window, so the room never
looked busy and never batched, senders waited seconds for their acks, and the batch flush queued
behind every one of them and then went out as one huge frame.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import orjson
import redis.asyncio as aioredis
from limits import parse as parse_limit
from limits.aio.strategies import MovingWindowRateLimiter

from realtime import rooms
from realtime.metrics import CHAT_MESSAGES
from realtime.publisher import ON_QUEUED
from realtime.roomorder import RoomOrder
from realtime.sequence import STAMP_LUA, RoomEvents
from realtime.streams import StreamCache
from realtime.wordfilter import WordFilter, clean_text
from shared.errors import AppError, ErrorCode, Forbidden, NotFound, RateLimited, Unauthorized
from shared.settings import GatewaySettings
from shared.tokens import Principal

HISTORY_TTL_MS = 2 * 24 * 3600 * 1000
PENDING_TTL_MS = 60_000

# KEYS: seq, log, epoch, history, window counter, pending queue, flush lock, message count
# (analytics).
# ARGV: message json (no seq), ts, max events, log ttl ms, history size, window ms, busy
# threshold, lock px, force ('1': queue it whatever the rate). Returns {seq, mode, epoch}: mode 0
# emit now, 1 queued, 2 queued and this node flushes.
_SEND = STAMP_LUA + f"""
local entry = '{{"event":"chat","ts":' .. ARGV[2] .. ',"data":' .. ARGV[1] .. '}}'
local seq = stamp(KEYS[1], KEYS[2], KEYS[3], entry, ARGV[3], ARGV[4])
local stamped = string.sub(ARGV[1], 1, -2) .. ',"seq":' .. seq .. ',"epoch":' .. stamp_epoch
  .. '}}'
redis.call('INCR', KEYS[8])
redis.call('RPUSH', KEYS[4], stamped)
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[5]), -1)
redis.call('PEXPIRE', KEYS[4], {HISTORY_TTL_MS})
local n = redis.call('INCR', KEYS[5])
if n == 1 then redis.call('PEXPIRE', KEYS[5], ARGV[6]) end
if ARGV[9] ~= '1' and n <= tonumber(ARGV[7]) and redis.call('EXISTS', KEYS[6]) == 0 then
  return {{seq, 0, stamp_epoch}}
end
redis.call('RPUSH', KEYS[6], stamped)
redis.call('PEXPIRE', KEYS[6], {PENDING_TTL_MS})
if redis.call('SET', KEYS[7], '1', 'NX', 'PX', ARGV[8]) then return {{seq, 2, stamp_epoch}} end
return {{seq, 1, stamp_epoch}}
"""

# KEYS: pending queue, flush lock. Returns the queued messages (stamped json), oldest first.
_DRAIN = """
local messages = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2])
return messages
"""


async def hand_on(emit: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
    """Start a room emit and return once its order is fixed: written to this node's sockets
    and its publish queued (`publisher.ON_QUEUED`), or finished, with a manager that has no
    publish queue. The returned task ends when the publish has been answered; the room's turn
    need not last that long."""
    queued: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    token = ON_QUEUED.set(queued)
    try:
        task = asyncio.ensure_future(emit)  # runs in a copy of this context: sees `queued`
    finally:
        ON_QUEUED.reset(token)
    await asyncio.wait([queued, task], return_when=asyncio.FIRST_COMPLETED)
    return task


class Muted(AppError):
    code = ErrorCode.MUTED
    status = 403
    message = "you are muted in this room"


class Chat:
    def __init__(
        self,
        *,
        settings: GatewaySettings,
        redis: aioredis.Redis,
        streams: StreamCache,
        room_events: RoomEvents,
        limiter: MovingWindowRateLimiter,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.streams = streams
        self.room_events = room_events
        self.limiter = limiter
        s = settings
        self.limit = parse_limit(s.chat_rate_limit)
        self.filter = WordFilter(s.banned_words)
        self.window_ms = s.chat_batch_window_ms
        self._send = redis.register_script(_SEND)
        self._drain = redis.register_script(_DRAIN)
        self._flushes: set[asyncio.Task[None]] = set()
        self._order = RoomOrder()
        # Rooms whose last turn-taking message was queued for a batch: loop time until which
        # their messages skip the turn (see the module doc).
        self._batching: dict[int, float] = {}

    async def send(
        self, *, principal: Principal | None, joined: bool, stream_id: int, text: str
    ) -> dict[str, Any]:
        """Check, store and send one message; returns it (with its seq)."""
        if principal is None:
            raise Unauthorized("sign in to chat")
        if not joined:
            raise Forbidden("join the stream first")
        cleaned = clean_text(text, max_chars=self.settings.chat_max_chars)
        await self._check_policy(principal.user_id, stream_id)
        message: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "stream_id": stream_id,
            "user": {"id": principal.user_id, "name": principal.name},
            "text": self.filter.mask(cleaned),
            "ts": int(time.time() * 1000),
        }
        if self._pressed(stream_id):
            await self._stamp_and_emit(stream_id, message, force_batch=True)
            return message
        async with self._order.turn(stream_id):
            emitting = await self._stamp_and_emit(stream_id, message, force_batch=False)
        if emitting is not None:
            await emitting  # its publish answered, as before, but outside the turn
        return message

    def _pressed(self, stream_id: int) -> bool:
        """True if the room is busy on this node: its message goes into the batch queue without
        waiting for the room's turn (module doc)."""
        if self._order.users(stream_id) >= self.settings.chat_busy_threshold:
            return True
        until = self._batching.get(stream_id)
        if until is None:
            return False
        if until > asyncio.get_running_loop().time():
            return True
        del self._batching[stream_id]
        return False

    def _note_batching(self, stream_id: int) -> None:
        now = asyncio.get_running_loop().time()
        if len(self._batching) > 1024:  # rooms that went silent while busy
            self._batching = {k: t for k, t in self._batching.items() if t > now}
        self._batching[stream_id] = now + self.window_ms / 1000

    async def _stamp_and_emit(
        self, stream_id: int, message: dict[str, Any], *, force_batch: bool
    ) -> asyncio.Future[None] | None:
        """Stamp the message (adds `seq`, `epoch`) and, if it goes out at once, hand it on;
        returns that emit, still waiting for its publish's answer, or None."""
        s = self.settings
        room_events = self.room_events
        seq, mode, epoch = await self._send(
            keys=[
                *room_events.keys(stream_id),
                rooms.chat_history(stream_id),
                rooms.chat_window(stream_id),
                rooms.chat_pending(stream_id),
                rooms.chat_flush_lock(stream_id),
                rooms.chat_count(stream_id),
            ],
            args=[
                orjson.dumps(message),
                f"{time.time():.3f}",
                *room_events.stamp_args(),
                s.chat_history_size,
                self.window_ms,
                s.chat_busy_threshold,
                max(1000, self.window_ms * 10),
                "1" if force_batch else "0",
            ],
        )
        message["seq"] = int(seq)
        message["epoch"] = int(epoch)
        CHAT_MESSAGES.inc()
        if mode != 0 and not force_batch:
            self._note_batching(stream_id)
        if mode == 0:
            return await hand_on(room_events.send(stream_id, "chat", message))
        if mode == 2:
            task = asyncio.create_task(self._flush_after_window(stream_id))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)
        return None

    async def _check_policy(self, user_id: int, stream_id: int) -> None:
        meta = await self.streams.get(stream_id)
        if meta is None:
            raise NotFound("no such stream")
        if meta.status == "ended":
            raise Forbidden("the stream has ended; its chat is read-only")
        pipe = self.redis.pipeline(transaction=False)
        pipe.sismember(rooms.banned(stream_id), str(user_id))
        pipe.exists(rooms.muted(stream_id, user_id))
        pipe.get(rooms.slow_mode(stream_id))
        is_banned, is_muted, slow = await pipe.execute()
        if is_banned:
            raise Forbidden("you are banned from this stream")
        if is_muted:
            raise Muted()
        if slow and int(slow) > 0:
            fresh = await self.redis.set(
                rooms.slow_mode_user(stream_id, user_id), "1", nx=True, ex=int(slow)
            )
            if not fresh:
                raise RateLimited(f"slow mode: one message every {int(slow)} s",
                                  retry_after=int(slow))
        if not await self.limiter.hit(self.limit, "chat", str(stream_id), str(user_id)):
            raise RateLimited("too many messages; slow down")

    async def _flush_after_window(self, stream_id: int) -> None:
        await asyncio.sleep(self.window_ms / 1000)
        async with self._order.turn(stream_id):  # after the mode-0 messages stamped before it
            raw = await self._drain(
                keys=[rooms.chat_pending(stream_id), rooms.chat_flush_lock(stream_id)]
            )
            messages = [orjson.loads(m) for m in raw]
            if not messages:
                return
            emitting = await hand_on(self.room_events.broadcast(
                stream_id, "chat_batch", {"messages": messages}, seq=int(messages[-1]["seq"])
            ))
        await emitting

    async def delete(self, stream_id: int, message_id: str) -> bool:
        """Remove a message from the history (and a pending batch); True if it was there."""
        removed = 0
        for list_key in (rooms.chat_history(stream_id), rooms.chat_pending(stream_id)):
            for raw in await self.redis.lrange(list_key, 0, -1):
                if orjson.loads(raw).get("id") == message_id:
                    removed += int(await self.redis.lrem(list_key, 1, str(raw)))
        return removed > 0

    async def close(self) -> None:
        """Let scheduled batch flushes go out before the node stops."""
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
