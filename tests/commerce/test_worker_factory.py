"""The Celery app factory: importing `commerce.worker` builds nothing (the app `celery -A
commerce.worker` looks up is made on that look-up), and the API sends tasks to the broker of
the settings it was given, not to one read again from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from kombu import Connection

from commerce import system_tasks
from commerce.context import AppContext
from commerce.tasks import enqueue
from shared.settings import CommerceSettings


def test_importing_the_worker_reads_no_settings_until_the_app_is_looked_up() -> None:
    script = (
        "import commerce.worker as w, commerce.app\n"
        "assert w._app is None\n"
        "print('imported', flush=True)\n"
        "w.app\n"
    )
    env = {**os.environ, "CELERY_BROKER_URL": "bogus-scheme"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "imported", done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error:") and "CELERY_BROKER_URL" in done.stderr.upper()


async def test_the_api_sends_tasks_to_the_broker_of_its_own_settings(
    commerce_settings: CommerceSettings,
) -> None:
    settings = commerce_settings.model_copy(update={"celery_broker_url": "memory://"})
    ctx = AppContext.build(settings)
    token = uuid.uuid4().hex
    try:
        await enqueue(ctx, system_tasks.ping, token)
    finally:
        await ctx.close()
    with Connection("memory://") as conn:
        queue = conn.SimpleQueue("celery")
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    assert message.headers["task"] == "system.ping"
    assert message.payload[0] == [token]
