"""`create_app(settings)`: the gateway as an aiohttp application with socket.io attached."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import socketio
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from realtime.audience import RoomAudience
from realtime.badinput import BadInputGuard
from realtime.context import GatewayContext
from realtime.namespace import LiveNamespace
from realtime.protocol import SocketServer
from realtime.protocol.engine import BadInputSink
from realtime.relay import Relay, RelayHandler, RelayLease
from realtime.revocations import RevocationChecks
from realtime.rooms import relay_leader
from realtime.services import Services
from realtime.sharding import ShardedRedisManager
from realtime.throttle import EventThrottle
from realtime.transport import (
    DirectFanout,
    DirectFanoutRedisManager,
    DirectWebSocket,
    OrjsonJson,
)
from shared.redis import make_pubsub_redis
from shared.redis import readiness as redis_readiness
from shared.settings import GatewaySettings
from shared.tasks import cancel_and_wait

log = structlog.get_logger(__name__)
CTX = web.AppKey("ctx", GatewayContext)


def transport_options(settings: GatewaySettings) -> dict[str, Any]:
    """Engine.IO options of every gateway server (the conformance entry point uses them too).

    One `maxPayload` for both transports: the WebSocket message limit and the polling body limit
    are the same number, and it is the one the handshake advertises. CORS follows
    `CORS_ORIGINS` as the API does: `*` allows any origin without credentials; listed origins
    get credentials; others are refused.
    """
    return {
        "async_mode": "aiohttp",
        "json": OrjsonJson,
        "cors_allowed_origins": "*" if "*" in settings.cors_origins else settings.cors_origins,
        "ping_interval": settings.ping_interval_s,
        "ping_timeout": settings.ping_timeout_s,
        "max_http_buffer_size": settings.socket_max_payload_bytes,
        "websocket_compression": settings.websocket_compression,
        "websocket_class": DirectWebSocket,
    }


def make_server(settings: GatewaySettings, bad_input: BadInputSink | None = None) -> SocketServer:
    manager: socketio.AsyncManager
    if not settings.redis_url:
        manager = DirectFanout()
    elif settings.socketio_manager == "single":
        manager = DirectFanoutRedisManager(settings.redis_url, channel=settings.socketio_channel)
    else:
        manager = ShardedRedisManager(
            make_pubsub_redis(settings.socketio_redis_url or settings.redis_url),
            channel=settings.socketio_channel,
        )
    return SocketServer(
        client_manager=manager,
        connect_timeout=settings.connect_timeout_s,
        bad_input=bad_input,
        logger=False,
        engineio_logger=False,
        **transport_options(settings),
    )


def web_app(settings: GatewaySettings) -> web.Application:
    """The aiohttp application around a gateway server: body limit, no version banner."""
    app = web.Application(client_max_size=settings.socket_max_payload_bytes)
    app.on_response_prepare.append(_no_banner)
    return app


async def _no_banner(_request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp sets `Server: Python/3.x aiohttp/3.y` unless the header is already there.
    response.headers["Server"] = "livecommerce"


def create_app(settings: GatewaySettings) -> web.Application:
    bad_input = BadInputGuard(
        disconnect_after=settings.bad_input_disconnect_after,
        window_s=settings.bad_input_window_s,
    )
    sio = make_server(settings, bad_input)
    ctx = GatewayContext.build(settings, sio)
    services = Services.build(ctx)
    namespace = LiveNamespace(
        sio=sio,
        redis=ctx.redis,
        verifier=ctx.verifier,
        services=services,
        throttle=EventThrottle(settings.event_rate_limit),
        bad_input=bad_input,
        revocations=RevocationChecks(ctx.redis, batch_interval_s=settings.join_batch_interval_s),
    )
    sio.register_namespace(namespace)
    app = web_app(settings)
    app[CTX] = ctx
    sio.attach(app, socketio_path="socket.io")

    async def background(app: web.Application) -> AsyncIterator[None]:
        lease = RelayLease(
            ctx.redis,
            relay_leader(settings.events_stream, settings.gateway_consumer_group),
            ctx.node_id,
            ttl_ms=settings.relay_lease_ms,
        )
        audience = (RoomAudience(redis=ctx.redis, manager=sio.manager)
                    if isinstance(sio.manager, ShardedRedisManager) else None)
        handler = RelayHandler(sio=sio, streams=ctx.streams, room_events=ctx.room_events,
                               pins=services.pins, control=services.control, audience=audience)
        relay = Relay(
            ctx.bus,
            handler,
            group=settings.gateway_consumer_group,
            consumer=ctx.node_id,
            claim_idle_ms=settings.relay_claim_idle_ms,
            lease=lease,
            on_failure=handler.settle,
        )
        await services.presence.start()
        tasks = [
            asyncio.create_task(services.control.run(), name="control"),
            asyncio.create_task(services.presence.run(), name="presence"),
            asyncio.create_task(services.reactions.run(), name="reactions"),
            asyncio.create_task(relay.run(), name="relay"),
        ]
        await asyncio.wait_for(services.control.ready.wait(), 10)
        log.info("gateway_started", node=ctx.node_id, redis=bool(settings.redis_url))
        yield
        relay.stop()
        await cancel_and_wait(*tasks)
        await services.reactions.close()
        await services.chat.close()
        if isinstance(sio.manager, ShardedRedisManager):
            await sio.manager.close_publisher()  # the emits above, out before Redis closes
        await services.presence.stop()
        with contextlib.suppress(Exception):
            await lease.release()  # the next node takes over without waiting for the expiry
        await ctx.close()

    app.cleanup_ctx.append(background)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    try:
        verdict = await asyncio.wait_for(
            redis_readiness(ctx.redis, require_aof=ctx.settings.redis_require_aof), 2.0
        )
        checks = {"redis": verdict}
    except Exception as exc:
        checks = {"redis": f"error: {type(exc).__name__}"}
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "unavailable", "checks": checks, "node": ctx.node_id},
        status=200 if ready else 503,
    )


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
