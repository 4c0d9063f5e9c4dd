"""The Celery configuration, and the producer that sends tasks to the workers.

Both the worker (`commerce.worker.create_worker_app`) and every process that only sends tasks
(the API: `AppContext.producer`) build their Celery app here, from the settings they were
given, so a producer and the workers it feeds agree on the broker, queues and publishing
rules. Nothing is built at import.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from shared.settings import CommerceSettings

QUEUES = ("celery", "payments", "media", "notifications")


def make_celery(
    settings: CommerceSettings, *, beat: Mapping[str, timedelta] | None = None
) -> Celery:
    """A Celery app configured from `settings` (no tasks registered: the worker does that)."""
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
        task_queues=[Queue(q, Exchange(q), routing_key=q) for q in QUEUES],  # type: ignore[no-untyped-call]
        task_acks_late=True,
        worker_prefetch_multiplier=4,
        broker_connection_retry_on_startup=True,
        # A worker retries a lost broker at most 5 s apart (commerce/worker_consumer.py), and
        # 600 times: about 50 minutes, as Celery's 100 retries up to 30 s apart were.
        worker_consumer="commerce.worker_consumer:PromptConsumer",
        broker_connection_max_retries=600,
        broker_connection_timeout=5,
        broker_transport_options={"confirm_publish": True},
        beat_schedule={
            name: {"task": name, "schedule": every} for name, every in (beat or {}).items()
        },
        worker_hijack_root_logger=False,
        # Task events feed Flower's live view and its Prometheus metrics (flower_events_total):
        # a worker's own counters live in its pool children, which nothing scrapes.
        worker_send_task_events=True,
        task_send_sent_event=True,
    )
    return app


class TaskProducer:
    """Sends tasks by name to the broker of the settings it was built with. Its Celery app is
    made on the first send, so a process without a broker (the embedded default, which runs
    tasks in-process) never makes one."""

    def __init__(self, settings: CommerceSettings) -> None:
        self.settings = settings
        self._app: Celery | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.celery_broker_url)

    async def send(
        self, name: str, args: Sequence[Any], *, queue: str, countdown: float = 0
    ) -> None:
        """Publish the task (`countdown`: seconds before a worker may run it)."""
        if self._app is None:
            self._app = make_celery(self.settings)
        await asyncio.to_thread(
            self._app.send_task, name, args=list(args), queue=queue, countdown=countdown or None
        )
