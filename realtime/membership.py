"""Joining and leaving stream rooms, and `resume`: the room state a (re)joining client needs.

The join ack is read from Redis after the socket entered the room, so it is the same on every
node: pinned product, the last chat messages, the room `seq` and viewer count
(realtime/roomstate.py: one room's keys, one Redis Cluster slot). A joiner's ack is read by the
presence batch that counts it, in the same script, right after the room's changes
(`Presence.add`): one round trip for both, and the count includes the joiner. A socket joining
a room again, and `resume`'s reload, read it on their own.
Concurrent joiners of one room share those reads and the fresh stream read (`SharedReads`, and
the presence batch): a join storm costs a room one read per round (at most one per
`JOIN_BATCH_INTERVAL_MS` while they follow each other), not one per joiner.
Events with `seq` up to the ack's `seq` are already reflected in it (a client drops those if
they also arrive as events); anything later arrives as events.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import redis.asyncio as aioredis
import socketio

from realtime import rooms, roomstate
from realtime.moderation import Moderation
from realtime.presence import Presence
from realtime.sequence import RoomEvents
from realtime.sharedreads import SharedReads
from realtime.streams import StreamCache
from shared.errors import Forbidden, NotFound
from shared.livedata import StreamMeta
from shared.settings import GatewaySettings
from shared.tokens import Principal

# KEYS: pin, chat history, epoch, seq, viewers (one room). ARGV: epoch ttl ms.
_STATE = roomstate.STATE_LUA + """
return room_state(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1])
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
        self._room_state: SharedReads[int, dict[str, Any]] = SharedReads(
            self._read_state, interval_s=settings.join_batch_interval_s
        )
        self._fresh_meta: SharedReads[int, StreamMeta | None] = SharedReads(
            self._read_meta, interval_s=settings.join_batch_interval_s
        )

    async def _read_meta(self, stream_id: int) -> StreamMeta | None:
        return await self.streams.get(stream_id, fresh=True)

    async def _visible_stream(self, principal: Principal | None, stream_id: int) -> StreamMeta:
        """The stream's fresh metadata, unless it does not exist or the user is banned. A
        signed-in user's ban check is read at the same time as the metadata (both are shared
        reads that start after the caller asked): one wait, not two in a row."""
        if principal is None:  # a guest cannot be banned
            meta = await self._fresh_meta.get(stream_id)
            banned = False
        else:
            meta, banned = await asyncio.gather(
                self._fresh_meta.get(stream_id),
                self.moderation.is_banned(stream_id, principal.user_id),
            )
        if meta is None:
            raise NotFound("no such stream")
        if banned:
            raise Forbidden("you are banned from this stream")
        return meta

    async def join(self, *, sid: str, member: Member, stream_id: int) -> dict[str, Any]:
        meta = await self._visible_stream(member.principal, stream_id)
        if stream_id not in member.rooms:
            if len(member.rooms) >= self.settings.max_rooms_per_socket:
                raise Forbidden("too many rooms joined on this connection")
            member.rooms.add(stream_id)
            await self.sio.enter_room(sid, rooms.stream_room(stream_id))
            counted = await self.presence.add(stream_id, self._member(member, sid))
            return {**roomstate.decode(counted), "status": meta.status}
        return await self._state(stream_id, meta)

    async def _state(self, stream_id: int, meta: StreamMeta) -> dict[str, Any]:
        """The room as a (re)joining client needs it: the join ack, and `resume`'s reload."""
        return {**await self._room_state.get(stream_id), "status": meta.status}

    async def _read_state(self, stream_id: int) -> dict[str, Any]:
        return roomstate.decode(await self._state_script(
            keys=[*roomstate.keys(stream_id), rooms.viewers(stream_id)],
            args=[self.room_events.epoch_ttl_ms],
        ))

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
