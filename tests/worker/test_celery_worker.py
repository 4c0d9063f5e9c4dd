"""A real Celery worker process on the real RabbitMQ broker runs a task end to end."""

from __future__ import annotations

import sys
import time
import uuid

import pytest
import redis as sync_redis
from celery import Celery

from tests.helpers.procs import spawn

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
pytestmark = pytest.mark.shared_rabbitmq  # its worker consumes the shared queues


def test_worker_runs_task_from_rabbitmq(service_env: dict[str, str], redis_url: str) -> None:
    queue_suffix = uuid.uuid4().hex[:6]
    env = {**service_env, "CELERY_BROKER_URL": BROKER}
    token = uuid.uuid4().hex
    client = Celery(broker=BROKER)
    with spawn(
        [sys.executable, "-m", "celery", "-A", "commerce.worker", "worker", "--pool", "solo",
         "-Q", "celery", "-n", f"test-{queue_suffix}@%h", "--without-gossip",
         "--without-mingle", "-l", "info"],
        name="celery-worker",
        env=env,
    ) as worker:
        client.send_task("system.ping", args=[token], queue="celery")
        store = sync_redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            worker.check_alive()
            if store.get(f"system:ping:{token}") == b"pong":
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"task did not run\n{worker.describe()}")
        assert "system.ping" in worker.log()
