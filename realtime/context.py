"""What the gateway's handlers share, built once per node from settings."""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
import socketio
from limits.aio.strategies import MovingWindowRateLimiter

from realtime.rooms import control_channel
from realtime.sequence import RoomEvents
from shared.bus import EventBus, make_bus
from shared.livedata import StreamMeta, get_stream
from shared.redis import make_limiter, make_redis
from shared.settings import GatewaySettings
from shared.tokens import TokenVerifier, make_verifier

if TYPE_CHECKING:
    from realtime.chat import Chat
    from realtime.control import Control
    from realtime.membership import Membership
    from realtime.moderation import Moderation
    from realtime.pins import Pins
    from realtime.presence import Presence
    from realtime.reactions import Reactions


class StreamCache:
    """Stream metadata (written by commerce) with a short in-process cache for the hot paths.

    `chat` and `react` may see a status or moderator change up to `ttl_s` late; `join`, `pin`
    and `moderate` read fresh (and refresh the cache). Unknown streams are not cached, so a
    stream commerce has just created can be joined at once.
    """

    def __init__(self, redis: aioredis.Redis, *, ttl_s: float = 1.0, max_entries: int = 10_000):
        self.redis = redis
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[int, tuple[float, StreamMeta]] = {}

    async def get(self, stream_id: int, *, fresh: bool = False) -> StreamMeta | None:
        now = time.monotonic()
        hit = self._cache.get(stream_id)
        if hit is not None and not fresh and hit[0] > now:
            return hit[1]
        meta = await get_stream(self.redis, stream_id)
        if meta is None:
            self._cache.pop(stream_id, None)
            return None
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[stream_id] = (now + self.ttl_s, meta)
        return meta

    def forget(self, stream_id: int) -> None:
        self._cache.pop(stream_id, None)


@dataclass
class Services:
    presence: Presence
    membership: Membership
    chat: Chat
    reactions: Reactions
    pins: Pins
    moderation: Moderation
    control: Control


@dataclass
class GatewayContext:
    settings: GatewaySettings
    sio: socketio.AsyncServer
    redis: aioredis.Redis
    bus: EventBus
    verifier: TokenVerifier
    limiter: MovingWindowRateLimiter
    room_events: RoomEvents
    node_id: str
    streams: StreamCache
    extras: dict[str, object] = field(default_factory=dict)
    _services: Services | None = None

    @classmethod
    def build(cls, settings: GatewaySettings, sio: socketio.AsyncServer) -> GatewayContext:
        redis = make_redis(settings.redis_url, decode_responses=True)
        node_id = settings.node_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        ctx = cls(
            settings=settings,
            sio=sio,
            redis=redis,
            bus=make_bus(
                settings.redis_url,
                stream=settings.events_stream,
                maxlen=settings.events_stream_maxlen,
            ),
            verifier=make_verifier(settings),
            limiter=make_limiter(settings.redis_url),
            room_events=RoomEvents(
                sio,
                redis,
                max_events=settings.resume_max_events,
                max_age_s=settings.resume_max_age_s,
            ),
            node_id=node_id,
            streams=StreamCache(redis),
        )
        ctx._services = ctx._build_services()
        return ctx

    def _build_services(self) -> Services:
        from realtime.chat import Chat
        from realtime.control import Control
        from realtime.membership import Membership
        from realtime.moderation import Moderation
        from realtime.pins import Pins
        from realtime.presence import Presence
        from realtime.reactions import Reactions

        return Services(
            presence=Presence(self),
            membership=Membership(self),
            chat=Chat(self),
            reactions=Reactions(self),
            pins=Pins(self),
            moderation=Moderation(self),
            control=Control(
                self.redis,
                control_channel(self.settings.socketio_channel),
                distributed=bool(self.settings.redis_url),
            ),
        )

    @property
    def services(self) -> Services:
        assert self._services is not None, "GatewayContext.build() wires the services"
        return self._services

    async def close(self) -> None:
        await self.bus.close()
        await self.redis.aclose()
