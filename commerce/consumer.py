"""Commerce's event consumer: notifications and analytics follow the domain events.

`python -m commerce.consumer` runs it as a process of its own, the production shape (`make
cluster`, docker-compose, Kubernetes), with `NOTIFICATIONS_CONSUMER_ENABLED=false` on the API
processes: a flash sale's checkout and the notifications of its orders then stop competing for
the API's event loop (BENCHMARKS.md, "the wave's regression"). Several consumer processes may
share the group; each event is handled by one of them. The embedded default (`make run`, the
tests) keeps `NOTIFICATIONS_CONSUMER_ENABLED=true` and runs the same consumer inside the API.

Composed here, above both domains, so neither imports the other; a redelivered event is
harmless to both (notifications dedupe, the freeze is idempotent). The email and SMS sends it
queues go to the Celery workers when a broker is configured, else run in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from commerce.analytics.events import handle as analyse
from commerce.context import AppContext
from commerce.notifications.consumer import EventConsumer
from commerce.notifications.events import handle as notify
from commerce.notifications.events import handle_many as notify_many
from commerce.preflight import preflight
from shared import events as ev
from shared.cli import run_or_die
from shared.logging import configure_logging
from shared.observability import init_sentry
from shared.settings import CommerceSettings, load
from shared.tasks import cancel_and_wait

log = structlog.get_logger(__name__)


def event_consumer(context: AppContext) -> EventConsumer:
    """The consumer group's member for one process: batches to `handle_many`, single events
    (a failed batch retried one by one) to `handle`."""

    async def handler(event: ev.DomainEvent) -> None:
        await notify(context, event)
        await analyse(context, event)

    async def batch_handler(events: list[ev.DomainEvent]) -> None:
        await notify_many(context, events)
        for event in events:
            await analyse(context, event)

    return EventConsumer(
        context.bus, group=context.settings.notifications.consumer_group, handler=handler,
        batch_handler=batch_handler,
    )


async def serve(settings: CommerceSettings, *, stop: asyncio.Event | None = None) -> None:
    """Consume until `stop` is set (or SIGTERM/SIGINT when run as the process)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    context = AppContext.build(settings)
    consumer = event_consumer(context)
    task = asyncio.create_task(consumer.run(), name="event-consumer")
    log.info("consumer_started", group=consumer.group, consumer=consumer.name)
    try:
        await stop.wait()
    finally:
        consumer.stop()
        await cancel_and_wait(task)
        await context.close()
        log.info("consumer_stopped", consumer=consumer.name)


def main() -> None:
    settings = run_or_die(lambda: load(CommerceSettings))
    configure_logging(level=settings.log_level, json=settings.log_json,
                      service="commerce-consumer")
    init_sentry(settings, service="commerce-consumer")
    run_or_die(lambda: asyncio.run(preflight(settings)))
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
