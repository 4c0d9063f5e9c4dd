"""Joining and leaving stream rooms, and `resume`: the room state a (re)joining client needs.

The join ack is read from Redis in one script call after the socket entered the room, so it is
the same on every node: pinned product, the last chat messages, the room `seq` and viewer count
(one room's keys, one Redis Cluster slot; a script rather than a pipeline because the epoch is a
script's work and redis-py's cluster pipeline cannot run scripts).
Concurrent joiners of one room share that read and the fresh stream read (`SharedReads`):
a join storm costs a room one read per Redis round trip, not one per joiner.
Events with `seq` up to the ack's `seq` are already reflected in it (a client drops those if
they also arrive as events); anything later arrives as events.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
import socketio

from realtime import rooms
from realtime.moderation import Moderation
from realtime.presence import Presence
from realtime.sequence import STAMP_LUA, RoomEvents
from realtime.sharedreads import SharedReads
from realtime.streams import StreamCache
from shared.errors import Forbidden, NotFound
from shared.livedata import StreamMeta
from shared.settings import GatewaySettings
from shared.tokens import Principal

# KEYS: pin, chat history, epoch, seq, viewers (one room). ARGV: epoch ttl ms.
_STATE = STAMP_LUA + """
return {redis.call('GET', KEYS[1]) or '', redis.call('LRANGE', KEYS[2], 0, -1),
        room_epoch(KEYS[3], ARGV[1]), redis.call('GET', KEYS[4]) or '0',
        redis.call('HLEN', KEYS[5])}
"""


class Member(Protocol):
    """What membership needs to know about one socket (the namespace's Session)."""

    principal: Principal | None
    rooms: set[int]


class Membership:
    def __init__(
        self,
        *,
        settings: GatewaySettings,
        redis: aioredis.Redis,
        sio: socketio.AsyncServer,
        streams: StreamCache,
        room_events: RoomEvents,
        presence: Presence,
        moderation: Moderation,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.sio = sio
        self.streams = streams
        self.room_events = room_events
        self.presence = presence
        self.moderation = moderation
        self._state_script = redis.register_script(_STATE)
        self._room_state: SharedReads[int, dict[str, Any]] = SharedReads(self._read_state)
        self._fresh_meta: SharedReads[int, StreamMeta | None] = SharedReads(self._read_meta)

    async def _read_meta(self, stream_id: int) -> StreamMeta | None:
        return await self.streams.get(stream_id, fresh=True)

    async def _visible_stream(self, principal: Principal | None, stream_id: int) -> StreamMeta:
        meta = await self._fresh_meta.get(stream_id)
        if meta is None:
            raise NotFound("no such stream")
        user_id = principal.user_id if principal else None
        if await self.moderation.is_banned(stream_id, user_id):
            raise Forbidden("you are banned from this stream")
        return meta

    async def join(self, *, sid: str, member: Member, stream_id: int) -> dict[str, Any]:
        meta = await self._visible_stream(member.principal, stream_id)
        if stream_id not in member.rooms:
            if len(member.rooms) >= self.settings.max_rooms_per_socket:
                raise Forbidden("too many rooms joined on this connection")
            member.rooms.add(stream_id)
            await self.sio.enter_room(sid, rooms.stream_room(stream_id))
            await self.presence.add(stream_id, self._member(member, sid))
        return await self._state(stream_id, meta)

    async def _state(self, stream_id: int, meta: StreamMeta) -> dict[str, Any]:
        """The room as a (re)joining client needs it: the join ack, and `resume`'s reload."""
        return {**await self._room_state.get(stream_id), "status": meta.status}

    async def _read_state(self, stream_id: int) -> dict[str, Any]:
        pin, history, epoch, seq, viewers = await self._state_script(
            keys=[rooms.pin(stream_id), rooms.chat_history(stream_id),
                  rooms.key(stream_id, "epoch"), rooms.key(stream_id, "seq"),
                  rooms.viewers(stream_id)],
            args=[self.room_events.epoch_ttl_ms],
        )
        return {
            "viewers": int(viewers),
            "pinned": orjson.loads(pin) if pin else None,
            "recent_messages": [orjson.loads(m) for m in history],
            "seq": int(seq or 0),
            "epoch": int(epoch),
        }

    async def leave(self, *, sid: str, member: Member, stream_id: int) -> None:
        """Idempotent: leaving a room the socket is not in is fine."""
        if stream_id not in member.rooms:
            return
        member.rooms.discard(stream_id)
        await self.sio.leave_room(sid, rooms.stream_room(stream_id))
        self.presence.remove(stream_id, self._member(member, sid))

    def leave_all(self, *, sid: str, member: Member) -> None:
        """On disconnect (socket.io already dropped the socket from its rooms). Presence
        removals are queued for the node's next batch: nothing here waits for Redis."""
        for stream_id in list(member.rooms):
            member.rooms.discard(stream_id)
            self.presence.remove(stream_id, self._member(member, sid))

    async def resume(
        self, *, member: Member, stream_id: int, since_seq: int, epoch: int | None = None
    ) -> dict[str, Any]:
        """Events after `since_seq`, or, when the room's seq was reset since the client's
        (another epoch, or a seq the room never reached), `reload`: the room's state as `join`
        answers it, from which the client starts over. Never `not_found` for a stream that
        exists, whatever Redis lost."""
        meta = await self._visible_stream(member.principal, stream_id)
        room_events = self.room_events
        current_epoch = int(await room_events.epoch(stream_id))
        if (epoch is not None and epoch != current_epoch) or (
            since_seq > await room_events.current_seq(stream_id)
        ):
            state = await self._state(stream_id, meta)
            return {"missed": [], "complete": False, "epoch": state["epoch"], "reload": state}
        missed, complete = await room_events.since(stream_id, since_seq)
        return {"missed": missed, "complete": complete, "epoch": current_epoch}

    @staticmethod
    def _member(member: Member, sid: str) -> str:
        return Presence.member(member.principal.user_id if member.principal else None, sid)
