"""Dead-lettered tasks: what a Celery task that failed for good leaves behind, and replaying it.

When a task fails past its retries (or with an error retrying cannot fix), the worker publishes
one JSON record to the `DEAD_LETTER_QUEUE` queue on the broker (RabbitMQ), persistent:
`{task, id, args, kwargs, queue, error, traceback, retries, failed_at}`. Nothing consumes that
queue but this command:

    python -m commerce.deadletter list [--limit N]     # print records, leave them queued
    python -m commerce.deadletter replay [--limit N]   # send each task again, then drop it

We publish the record ourselves instead of using RabbitMQ's `x-dead-letter-exchange`: that
argument would have to be declared on every work queue (redeclaring an existing queue with new
arguments fails), and a dead-lettered message would not carry the error that killed it.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

import orjson
from celery import Celery
from kombu.entity import Queue

from commerce.broker import make_celery
from shared.cli import run_or_die
from shared.settings import WorkerSettings, load


def dead_letter_queue(name: str) -> Queue:
    return Queue(name, durable=True)  # type: ignore[no-untyped-call]  # kombu is untyped


def record_of(
    *, task: str, task_id: str, args: Any, kwargs: Any, queue: str, exc: BaseException,
    retries: int,
) -> dict[str, Any]:
    return {
        "task": task, "id": task_id, "args": list(args or []), "kwargs": dict(kwargs or {}),
        "queue": queue, "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(exc))[-4000:], "retries": retries,
        "failed_at": datetime.now(UTC).isoformat(),
    }


def publish(app: Celery, queue: str, record: dict[str, Any]) -> None:
    with app.producer_or_acquire() as producer:
        producer.publish(
            record, exchange="", routing_key=queue, serializer="json", delivery_mode=2,
            declare=[dead_letter_queue(queue)], retry=True,
            retry_policy={"max_retries": 3, "interval_start": 0.5},
        )


def drain(app: Celery, queue: str, *, limit: int, replay: bool) -> list[dict[str, Any]]:
    """Read up to `limit` records; with `replay`, send each task again and drop its record,
    otherwise leave them all queued (unacknowledged reads go back when the channel closes)."""
    records: list[dict[str, Any]] = []
    with app.connection_for_write() as conn:
        channel = conn.channel()
        bound = dead_letter_queue(queue).bind(channel)  # type: ignore[no-untyped-call]
        bound.declare()
        # Only what is there now: a replayed task that fails again adds a record behind these.
        _name, waiting, _consumers = bound.queue_declare(passive=True)
        try:
            for _ in range(min(limit, waiting)):
                message = bound.get(no_ack=False, accept=["json"])
                if message is None:
                    break
                record = message.decode()
                records.append(record)
                if replay:
                    app.send_task(record["task"], args=record["args"], kwargs=record["kwargs"],
                                  queue=record["queue"])
                    message.ack()
        finally:
            channel.close()
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m commerce.deadletter", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["list", "replay"])
    parser.add_argument("--limit", type=int, default=100)
    options = parser.parse_args(argv)
    settings = run_or_die(lambda: load(WorkerSettings))
    if not settings.celery_broker_url:
        print("error: CELERY_BROKER_URL is not set (no broker, no dead letters)", file=sys.stderr)
        return 2
    records = drain(make_celery(settings), settings.dead_letter_queue, limit=options.limit,
                    replay=options.action == "replay")
    for record in records:
        sys.stdout.write(orjson.dumps(record).decode() + "\n")
    print(f"{options.action}: {len(records)} record(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
