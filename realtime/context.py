"""The resources the gateway's services and handlers are built from, once per node from
settings (the services themselves: `realtime.services`)."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis
import socketio
from limits.aio.strategies import MovingWindowRateLimiter

from realtime.sequence import RoomEvents
from realtime.streams import StreamCache
from shared.bus import EventBus, make_bus
from shared.redis import make_limiter, make_redis
from shared.settings import GatewaySettings
from shared.tokens import TokenVerifier, make_verifier


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

    @classmethod
    def build(cls, settings: GatewaySettings, sio: socketio.AsyncServer) -> GatewayContext:
        redis = make_redis(settings.redis_url, decode_responses=True,
                           pool_size=settings.redis_pool_size,
                           pool_wait_s=settings.redis_pool_wait_s)
        node_id = settings.node_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        return cls(
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

    async def close(self) -> None:
        await self.bus.close()
        await self.redis.aclose()
