"""The Celery application: `celery -A commerce.worker worker` / `celery -A commerce.worker beat`.

RabbitMQ by default in deployments (`CELERY_BROKER_URL`); without a broker the embedded runner
executes the same task bodies in-process and runs the beat schedule as asyncio timers
(`run_embedded_beat`).

`create_worker_app(settings)` builds the worker's app from the settings it is given. Importing
this module does nothing else: the `app` that `celery -A commerce.worker` looks up is built on
that first look-up (`__getattr__`), from the environment's settings, with the worker's logging
and Sentry.
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import timedelta

import structlog
from celery import Celery, signals

from commerce.broker import make_celery
from commerce.context import AppContext
from commerce.tasks import BEAT, REGISTRY, register
from shared.cli import run_or_die
from shared.logging import configure_logging
from shared.observability import init_sentry
from shared.settings import CommerceSettings, WorkerSettings, load
from shared.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

# Every module that defines tasks; importing it registers them.
TASK_MODULES = ["commerce.system_tasks", "commerce.orders.tasks", "commerce.streams.tasks",
                "commerce.media.tasks", "commerce.payments.tasks", "commerce.notifications.tasks",
                "commerce.jobs", "commerce.analytics.tasks"]


def _import_tasks() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def create_worker_app(settings: WorkerSettings) -> Celery:
    """The worker's Celery app: the shared configuration (`commerce.broker`), every task, and
    the beat schedule."""
    _import_tasks()
    app = make_celery(settings, beat=BEAT)
    register(app, settings)
    return app


def _main_app() -> Celery:
    """The app of a `celery -A commerce.worker` process: settings from the environment, the
    worker's structured logs and Sentry."""
    settings = run_or_die(lambda: load(WorkerSettings))

    def setup_logging(**_kwargs: object) -> None:
        # Connecting this stops Celery from installing its own handlers.
        configure_logging(level=settings.log_level, json=settings.log_json, service="worker")

    signals.setup_logging.connect(setup_logging, weak=False)
    init_sentry(settings, service="worker")
    return create_worker_app(settings)


_app: Celery | None = None


def __getattr__(name: str) -> Celery:
    """`app` (what `celery -A commerce.worker` looks up) and its older alias `celery_app`,
    built on first use."""
    global _app
    if name not in ("app", "celery_app"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        _app = _main_app()
    return _app


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
        # Not `gather`: a cancelled gather waits for its children to end, so one that swallowed
        # the cancel would hold the stop before the `finally` could cancel it again.
        if tasks:
            await asyncio.wait(tasks)
        await asyncio.Event().wait()
    finally:
        # Waited for, so that no task is still using the context's pools when they close (a
        # task inside a Redis call may swallow one cancel: shared/tasks.py).
        await cancel_and_wait(*tasks)
        await ctx.close()
