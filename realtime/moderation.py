"""Moderation by the host or a stream moderator: delete, mute, unmute, ban, slow mode.

State is in Redis (mutes with an expiry, the ban set, the slow-mode seconds), so the policy
checks in chat.py and the ban check in `join` see it on every node. A ban also takes the user's
sockets out of the room on every node through a control command (see control.py): the room
first gets `moderation {action: "ban"}`, then the sockets are removed and cannot rejoin.

Moderators cannot act on the host or on each other; nobody acts on themselves.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from realtime import rooms
from realtime.chat import Chat
from realtime.control import Control
from realtime.schemas import MAX_MUTE_S, ModerateIn
from realtime.sequence import RoomEvents
from realtime.sharedreads import BatchedReads
from realtime.streams import StreamCache
from shared.errors import Forbidden, NotFound, Unauthorized
from shared.livedata import StreamMeta
from shared.tokens import Principal

BAN_TTL_S = 30 * 24 * 3600


def is_staff(meta: StreamMeta, user_id: int) -> bool:
    return user_id == meta.host_id or user_id in meta.moderator_ids


class Moderation:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        streams: StreamCache,
        room_events: RoomEvents,
        chat: Chat,
        control: Control,
        batch_interval_s: float = 0.0,
    ) -> None:
        self.redis = redis
        self.streams = streams
        self.room_events = room_events
        self.chat = chat
        self.control = control
        # stream id -> (user id, future) of the ban checks waiting for the next read
        self._bans: BatchedReads[int, str, int] = BatchedReads(
            self._read_bans, interval_s=batch_interval_s
        )

    async def moderate(self, *, principal: Principal | None, command: ModerateIn) -> None:
        if principal is None:
            raise Unauthorized("sign in as the host or a moderator")
        stream_id = command.stream_id
        meta = await self.streams.get(stream_id)
        if meta is None:
            raise NotFound("no such stream")
        if not is_staff(meta, principal.user_id):
            raise Forbidden("only the host or a moderator can moderate")
        redis = self.redis
        event: dict[str, Any] = {"action": command.action, "by": principal.user_id}

        if command.action == "delete":
            await self.chat.delete(stream_id, command.message_id)
            await self.room_events.emit(stream_id, "chat_deleted",
                                            {"id": command.message_id})
            return
        if command.action == "slow_mode":
            seconds = command.seconds or 0
            if seconds:
                await redis.set(rooms.slow_mode(stream_id), seconds, ex=BAN_TTL_S)
            else:
                await redis.delete(rooms.slow_mode(stream_id))
            await self.room_events.emit(stream_id, "moderation", {**event, "seconds": seconds})
            return

        target = command.user_id
        if target == principal.user_id or is_staff(meta, target):
            raise Forbidden("the host and moderators cannot be moderated")
        event["target"] = target
        if command.action == "mute":
            seconds = command.seconds or MAX_MUTE_S
            await redis.set(rooms.muted(stream_id, target), "1", ex=seconds)
            event["seconds"] = seconds
        elif command.action == "unmute":
            await redis.delete(rooms.muted(stream_id, target))
        else:  # ban
            await redis.sadd(rooms.banned(stream_id), str(target))
            await redis.expire(rooms.banned(stream_id), BAN_TTL_S)
        await self.room_events.emit(stream_id, "moderation", event)
        if command.action == "ban":
            await self.control.kick(user_id=target, stream_id=stream_id)

    async def is_banned(self, stream_id: int, user_id: int | None) -> bool:
        """Whether the user is banned from the stream. Concurrent joiners of a room (a signed-in
        join storm: one check per join was 5 % of the loop) share one `SMISMEMBER` per Redis
        round trip; a check waits for a read that starts after it asked, so a ban written
        before the join asked is seen."""
        if user_id is None:
            return False
        return bool(await self._bans.get(stream_id, str(user_id)))

    async def _read_bans(self, stream_id: int, users: list[str]) -> list[int]:
        return list(await self.redis.smismember(rooms.banned(stream_id), users))
