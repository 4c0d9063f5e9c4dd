"""The same live sale on the production shape: `python -m commerce`, a Celery worker on
RabbitMQ settling the payment notifications, and a `python -m realtime` gateway, on MariaDB and
Redis, every provider a local sandbox (development, no credentials). Run it under
`flock /tmp/lc-rabbit.lock`: it consumes the shared broker's queues."""

from __future__ import annotations

import sys
import uuid

import httpx
import pytest

from tests.helpers.procs import free_port, spawn, wait_http
from tests.journey.script import run_journey

BROKER = "amqp://guest:guest@127.0.0.1:5672//"
pytestmark = pytest.mark.shared_rabbitmq  # its worker consumes the shared queues


async def test_whole_live_sale_on_mariadb_redis_rabbitmq(service_env: dict[str, str]) -> None:
    port, gateway_port = free_port(), free_port()
    # Nine orders, each paid as it is placed but settled by the worker: more than
    # MAX_UNPAID_ORDERS_PER_BUYER's default may be unpaid for a moment (not this test's point).
    env = {**service_env, "APP_ENV": "development", "CELERY_BROKER_URL": BROKER,
           "MAX_UNPAID_ORDERS_PER_BUYER": "20"}
    with (
        spawn([sys.executable, "-m", "commerce", "--port", str(port)], name="commerce",
              env=env) as api_proc,
        spawn([sys.executable, "-m", "celery", "-A", "commerce.worker", "worker", "--pool",
               "solo", "-Q", "celery,payments,media,notifications", "-n",
               f"journey-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle",
               "-l", "info"], name="celery", env=env) as worker,
        spawn([sys.executable, "-m", "realtime", "--port", str(gateway_port), "--node-id",
               "gw-journey"], name="gateway", env=env) as gateway_proc,
    ):
        base, gateway = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{gateway_port}"
        wait_http(f"{base}/healthz", proc=api_proc)
        wait_http(f"{gateway}/healthz", proc=gateway_proc, timeout=30)
        async with httpx.AsyncClient(base_url=base, timeout=20) as api:
            await run_journey(api, gateway)
        worker.check_alive()
        assert "payments.process_notification" in worker.log(), worker.describe()
        for proc in (api_proc, worker, gateway_proc):
            assert "Traceback" not in proc.log(), proc.describe()
