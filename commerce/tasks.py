"""Async Celery tasks: one definition runs on a worker, eagerly in-process, or from beat.

Task bodies are `async def fn(ctx, *ids)` over services. On a worker, each process keeps one event
loop and one `AppContext` (engine, Redis, bus) built on it, so connection pools are reused across
tasks instead of rebuilt per task. Without a broker (the embedded default), `enqueue` schedules
the same coroutine on the caller's running loop with the caller's context: Celery's own eager
mode cannot run an async body inside a running loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

import structlog
from celery import Celery, Task

from commerce import deadletter
from commerce.context import AppContext
from commerce.metrics import CELERY_TASKS
from shared.settings import WorkerSettings

log = structlog.get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
AsyncBody = Callable[..., Awaitable[Any]]

# name -> async body; filled by @async_task at import of each domain's tasks module.
REGISTRY: dict[str, AsyncBody] = {}
# name -> interval for periodic tasks (Celery beat, or asyncio timers when embedded).
BEAT: dict[str, timedelta] = {}


class _WorkerLoop:
    """One event loop + AppContext per worker process, on a dedicated thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ctx: AppContext | None = None
        self._lock = threading.Lock()

    def run(self, settings: WorkerSettings, body: AsyncBody, *args: Any) -> Any:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, daemon=True).start()
        assert self._loop is not None

        async def call() -> Any:
            if self._ctx is None:
                self._ctx = AppContext.build(settings)
            return await body(self._ctx, *args)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result()


WORKER_LOOP = _WorkerLoop()


def _dead_lettering_base(dead_letter_queue: str, queue: str) -> type[Task]:
    """A Task class whose final failure (retries exhausted, or an error not retried) publishes
    the task's arguments and last error to the dead-letter queue (commerce/deadletter.py)."""

    class DeadLettering(Task):  # type: ignore[misc]  # Celery is untyped
        def on_failure(
            self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
        ) -> None:
            record = deadletter.record_of(
                task=self.name, task_id=task_id, args=args, kwargs=kwargs, queue=queue, exc=exc,
                retries=self.request.retries,
            )
            try:
                deadletter.publish(self.app, dead_letter_queue, record)
            except Exception:
                log.exception("dead_letter_publish_failed", task=self.name, task_id=task_id)
            else:
                log.warning("task_dead_lettered", task=self.name, task_id=task_id,
                            error=record["error"], queue=dead_letter_queue)

    return DeadLettering


def register(celery: Celery, settings: WorkerSettings) -> None:
    """Create one Celery task per registered async body (called once by
    `worker.create_worker_app`)."""
    for name, body in REGISTRY.items():
        queue = getattr(body, "queue", "celery")

        def run(self: Task, *args: Any, _body: AsyncBody = body, _name: str = name) -> Any:
            try:
                result = WORKER_LOOP.run(settings, _body, *args)
            except Exception:
                CELERY_TASKS.labels(_name, "failure").inc()
                raise
            CELERY_TASKS.labels(_name, "success").inc()
            return result

        celery.task(
            name=name,
            base=_dead_lettering_base(settings.dead_letter_queue, queue),
            bind=True,
            queue=queue,
            acks_late=True,
            reject_on_worker_lost=True,
            autoretry_for=(ConnectionError, TimeoutError, OSError),
            retry_backoff=True,
            retry_backoff_max=60,
            max_retries=5,
            soft_time_limit=60,
            time_limit=90,
        )(run)


def async_task(
    name: str, *, queue: str = "celery", every: timedelta | None = None
) -> Callable[[AsyncBody], AsyncBody]:
    """Register an async task body; `every` also puts it on the beat schedule."""

    def deco(fn: AsyncBody) -> AsyncBody:
        fn.queue = queue  # type: ignore[attr-defined]
        fn.task_name = name  # type: ignore[attr-defined]
        REGISTRY[name] = fn
        if every is not None:
            BEAT[name] = every
        return fn

    return deco


async def enqueue(ctx: AppContext, body: AsyncBody, *args: Any, countdown: float = 0) -> None:
    """Run `body(*args)` in the background (after `countdown` seconds): on a worker if a broker
    is set, else in-process."""
    name: str = body.task_name  # type: ignore[attr-defined]
    if ctx.producer.enabled:
        await ctx.producer.send(
            name, args, queue=body.queue, countdown=countdown  # type: ignore[attr-defined]
        )
        return

    async def inline() -> None:
        try:
            if countdown:
                await asyncio.sleep(countdown)
            await body(ctx, *args)
            CELERY_TASKS.labels(name, "success").inc()
        except Exception:
            CELERY_TASKS.labels(name, "failure").inc()
            log.exception("inline_task_failed", task=name)

    ctx.inline.start(inline(), name=name)
