"""The Celery application: `celery -A commerce.worker worker` / `celery -A commerce.worker beat`.

RabbitMQ by default in deployments (`CELERY_BROKER_URL`); without a broker the embedded runner
executes the same task bodies in-process and runs the beat schedule as asyncio timers
(`run_embedded_beat`).
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import timedelta

import structlog
from celery import Celery, signals
from kombu import Exchange, Queue

from commerce.context import AppContext
from commerce.tasks import BEAT, REGISTRY, register
from shared.cli import run_or_die
from shared.logging import configure_logging
from shared.observability import init_sentry
from shared.settings import CommerceSettings, WorkerSettings, load

log = structlog.get_logger(__name__)

# Every module that defines tasks; importing it registers them.
TASK_MODULES = ["commerce.system_tasks", "commerce.orders.tasks", "commerce.streams.tasks",
                "commerce.media.tasks", "commerce.payments.tasks", "commerce.notifications.tasks",
                "commerce.jobs"]

QUEUES = ("celery", "payments", "media", "notifications")


def _import_tasks() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def make_celery(settings: WorkerSettings) -> Celery:
    _import_tasks()
    app = Celery("livecommerce")
    app.conf.update(
        broker_url=settings.celery_broker_url or "memory://",
        result_backend=settings.celery_result_backend,
        task_ignore_result=settings.celery_result_backend is None,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        timezone="UTC",
        enable_utc=True,
        task_default_queue="celery",
        task_queues=[Queue(q, Exchange(q), routing_key=q) for q in QUEUES],
        task_acks_late=True,
        worker_prefetch_multiplier=4,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        broker_transport_options={"confirm_publish": True},
        beat_schedule={name: {"task": name, "schedule": every} for name, every in BEAT.items()},
        worker_hijack_root_logger=False,
        # Task events feed Flower's live view and its Prometheus metrics (flower_events_total):
        # a worker's own counters live in its pool children, which nothing scrapes.
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    register(app, settings)
    return app


async def run_embedded_beat(settings: CommerceSettings) -> None:
    """The beat schedule as asyncio timers, for the embedded default (no broker, no beat)."""
    _import_tasks()
    if settings.celery_broker_url:
        return  # a real beat process owns the schedule
    ctx = AppContext.build(settings)

    async def every(name: str, interval: timedelta) -> None:
        while True:
            await asyncio.sleep(interval.total_seconds())
            try:
                await REGISTRY[name](ctx)
            except Exception:
                log.exception("embedded_beat_task_failed", task=name)

    tasks = [asyncio.create_task(every(name, interval)) for name, interval in BEAT.items()]
    try:
        await asyncio.gather(*tasks)
        await asyncio.Event().wait()
    finally:
        for t in tasks:
            t.cancel()
        await ctx.close()


_settings = run_or_die(lambda: load(WorkerSettings))


@signals.setup_logging.connect
def _logging(**_kwargs: object) -> None:
    """Our structured logs in worker and beat processes (connecting this stops Celery from
    installing its own handlers); importing this module elsewhere leaves logging alone."""
    configure_logging(level=_settings.log_level, json=_settings.log_json, service="worker")


init_sentry(_settings, service="worker")
celery_app = make_celery(_settings)
app = celery_app
