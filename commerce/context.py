"""Everything a request or a task needs, built once per process from settings.

Routes reach it through `deps.py`; Celery tasks build their own per event loop (see worker.py).
Keeping construction here means the API, the workers and the tests wire things identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import redis.asyncio as aioredis
from limits.aio.strategies import MovingWindowRateLimiter
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from commerce.broker import TaskProducer
from commerce.channels.base import Channel, ChannelName
from commerce.channels.registry import build_channels
from commerce.db import make_engine, make_sessionmaker
from commerce.inline import InlineTasks
from commerce.inventory.gate import StockGate
from commerce.live_inputs import LiveInputProvider, build_live_inputs
from commerce.media_storage import MediaStorage, build_storage
from commerce.replicas import ReadSessions
from shared.bus import EventBus, make_bus
from shared.redis import make_limiter, make_redis
from shared.settings import CommerceSettings
from shared.tls import client_tls
from shared.tokens import TokenIssuer, make_issuer


@dataclass
class AppContext:
    settings: CommerceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Sessions for the reads that tolerate lag (a replica's when one is healthy; the primary's
    # otherwise and without DATABASE_REPLICA_URLS). Writes and transactions use `sessions`.
    reads: ReadSessions
    redis: aioredis.Redis
    bus: EventBus
    tokens: TokenIssuer
    limiter: MovingWindowRateLimiter
    stock_gate: StockGate
    producer: TaskProducer
    media: MediaStorage
    live_inputs: LiveInputProvider
    # The notification channels these settings enable (email, SMS) and the HTTP client the
    # provider APIs among them share.
    channels: dict[ChannelName, Channel]
    channels_http: httpx.AsyncClient
    inline: InlineTasks = field(default_factory=InlineTasks)

    @classmethod
    def build(cls, settings: CommerceSettings) -> AppContext:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        redis = make_redis(settings.redis_url, decode_responses=True)
        channels_http = httpx.AsyncClient(
            timeout=settings.channels.http_timeout_s, verify=client_tls()
        )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            reads=ReadSessions.build(settings, sessions, redis),
            redis=redis,
            bus=make_bus(
                settings.redis_url,
                stream=settings.events_stream,
                maxlen=settings.events_stream_maxlen,
            ),
            tokens=make_issuer(settings),
            limiter=make_limiter(settings.redis_url),
            stock_gate=StockGate(redis, sessions, ttl_s=settings.orders.stock_gate_ttl_s),
            producer=TaskProducer(settings),
            media=build_storage(settings),
            live_inputs=build_live_inputs(settings, redis),
            channels=build_channels(settings, redis=redis, client=channels_http),
            channels_http=channels_http,
        )

    async def close(self) -> None:
        await self.inline.cancel()
        await self.channels_http.aclose()
        await self.bus.close()
        await self.redis.aclose()
        await self.reads.close()
        await self.engine.dispose()
