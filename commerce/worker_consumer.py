"""The worker's broker consumer: Celery's, retrying a lost broker promptly.

Celery's consumer retries a broker connection 2, 4, 6, ... up to 30 s apart. After a RabbitMQ
restart of a minute (its boot alone takes that long on a loaded machine) the next attempt may
then come 14 s after the broker is back, and settlements queued on it wait that long
(tests/faults/test_rabbitmq_restart.py). This consumer retries 1, 2, 3, 4, 5, 5, ... s apart,
so a worker is consuming again within about 5 s of the broker's return; `commerce.broker`
raises the retry count to match, so a worker still gives up (and its supervisor restarts it)
after about the same 50 minutes as with Celery's defaults. Named by `worker_consumer`: only a
worker process imports it.
"""

from __future__ import annotations

import functools
from typing import Any

from celery.worker.consumer import Consumer

RETRY_START_S = 1.0
RETRY_STEP_S = 1.0
RETRY_MAX_S = 5.0


class PromptConsumer(Consumer):
    def ensure_connected(self, conn: Any) -> Any:
        conn.ensure_connection = functools.partial(
            conn.ensure_connection, interval_start=RETRY_START_S, interval_step=RETRY_STEP_S,
            interval_max=RETRY_MAX_S,
        )
        return super().ensure_connected(conn)
