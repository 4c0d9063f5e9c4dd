"""`create_app(settings)`: the commerce API as a FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI

from commerce.api import api_router
from commerce.auth import revocations
from commerce.auth.revocations import RevocationGuard
from commerce.auth.social.registry import SocialRegistry
from commerce.consumer import event_consumer
from commerce.context import AppContext
from commerce.errors import install_error_handlers
from commerce.health import router as health_router
from commerce.hot_routes import HotRoute, HotRoutesMiddleware
from commerce.inventory.gate import GateReconciler
from commerce.media_storage import LOCAL_ROUTE
from commerce.middleware import (
    BodySizeLimitMiddleware,
    CORSMiddleware,
    RequestContextMiddleware,
)
from commerce.orders.checkout.flow import Checkout
from commerce.orders.router import place_order_hot
from commerce.orders.router import router as orders_router
from commerce.outbox import OutboxRelay
from commerce.payments.router import pages as payment_pages
from commerce.recovery import restore_redis_state
from commerce.sandbox.payments import providers as payment_sandboxes
from commerce.sandbox.router import router as sandbox_router
from commerce.sandbox.teststream import LoopingStream
from commerce.security_headers import SecurityHeadersMiddleware
from commerce.task_outbox import TaskRelay
from commerce.web import router as web
from shared.settings import CommerceSettings
from shared.tasks import cancel_and_wait

log = structlog.get_logger(__name__)


def create_app(settings: CommerceSettings, *, ctx: AppContext | None = None) -> FastAPI:
    """Build the API. `ctx` may be passed in (tests, the embedded runner) to share resources."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = ctx or AppContext.build(settings)
        if ctx is None:
            _serve(app, context)
        relay_task = None
        relay = None
        if settings.outbox_relay_enabled:
            relay = OutboxRelay(
                context.sessions,
                context.bus,
                poll_interval_s=settings.outbox_poll_interval_s,
                min_interval_s=settings.outbox_relay_min_interval_s,
                replay_window_s=settings.outbox_replay_window_s,
                on_stream_loss=functools.partial(restore_redis_state, context),
            )
            relay_task = asyncio.create_task(relay.run(), name="outbox-relay")
        task_relay, task_relay_task = None, None
        if context.producer.enabled and settings.outbox_relay_enabled:
            task_relay = TaskRelay(context.sessions, context.producer)
            task_relay_task = asyncio.create_task(task_relay.run(), name="task-relay")
        guard = RevocationGuard(context)
        guard_task = asyncio.create_task(guard.run(), name="revocation-guard")
        reconciler, reconciler_task = None, None
        if settings.orders.stock_gate_enabled:
            reconciler = GateReconciler(
                context.stock_gate, interval_s=settings.orders.stock_gate_reconcile_s
            )
            reconciler_task = asyncio.create_task(reconciler.run(), name="stock-gate-reconcile")
        consumer, consumer_task = None, None
        if settings.notifications.consumer_enabled:
            consumer = event_consumer(context)
            consumer_task = asyncio.create_task(consumer.run(), name="notifications-consumer")
        log.info("commerce_started", env=settings.app_env, db=context.engine.url.drivername)
        try:
            yield
        finally:
            if task_relay and task_relay_task:
                task_relay.stop()
                await cancel_and_wait(task_relay_task)
            guard.stop()
            await cancel_and_wait(guard_task)
            if reconciler and reconciler_task:
                reconciler.stop()
                await cancel_and_wait(reconciler_task)
            if consumer and consumer_task:
                consumer.stop()
                await cancel_and_wait(consumer_task)
            if relay and relay_task:
                relay.stop()
                await cancel_and_wait(relay_task)
            checkout = getattr(app.state, "checkout", None)
            if checkout is not None:
                await checkout.close()  # its Redis probe, if an outage is on
            if ctx is None:
                await context.close()

    app = FastAPI(
        title="Live Commerce API",
        version="1.0.0",
        description="Commerce API of the live-commerce platform (Taiwan, Thailand).",
        lifespan=lifespan,
        # Served by commerce.web from local copies of Swagger UI and ReDoc (offline, with CSP).
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry bridge asks the global providers on every request
        # whether anything is configured (3 % of a sold-out order answer's CPU, py-spy with
        # bench/checkout_cost.py). Nothing here configures OpenTelemetry: metrics are
        # Prometheus (`commerce.metrics`), errors go to Sentry.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    # Providers built once per app from its settings, handed to routes by their dependencies.
    app.state.social_registry = SocialRegistry(settings)
    if not settings.is_production:
        app.state.test_stream = LoopingStream(
            directory=settings.streams.sandbox_video_dir, ffmpeg_binary=settings.media.ffmpeg_binary
        )
    if ctx is not None:
        _serve(app, ctx)
    install_error_handlers(app)
    if settings.hot_routes_enabled:
        # Added first, so it is the innermost of our middleware (Starlette wraps in reverse).
        orders = HotRoute(
            "POST", api_router.prefix + orders_router.prefix, orders_router.prefix,
            place_order_hot,
        )
        app.add_middleware(HotRoutesMiddleware, routes=[orders])
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials="*" not in settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    webhooks = settings.webhook_max_body_bytes
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        by_prefix={
            # The local upload stand-in takes what the upload ticket advertises.
            LOCAL_ROUTE + "/": settings.media.max_upload_bytes,
            api_router.prefix + "/payments/webhooks/": webhooks,
            api_router.prefix + "/webhooks/": webhooks,
        },
    )
    app.add_middleware(RequestContextMiddleware)
    # Outermost: every answer, including 413s and 429s from inner layers, carries the headers.
    app.add_middleware(
        SecurityHeadersMiddleware, metrics_networks=settings.metrics_allowed_networks
    )
    app.include_router(health_router)
    app.include_router(payment_pages)
    app.include_router(api_router)
    if not settings.is_production:
        app.include_router(sandbox_router, prefix=api_router.prefix)
        payment_sandboxes.mount(app, settings)
    web.mount(app)
    return app


def _serve(app: FastAPI, ctx: AppContext) -> None:
    """Give the app its context and the services built from it (one each per app: the
    checkout holds the group commit's queues)."""
    app.state.ctx = ctx
    app.state.checkout = Checkout.build(
        ctx.settings, redis=ctx.redis, sessions=ctx.sessions, gate=ctx.stock_gate,
        revoked_in_db=functools.partial(revocations.is_revoked_in_db, ctx),
        limiter=ctx.limiter,
    )
