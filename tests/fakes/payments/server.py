"""Run a fake provider (a Starlette app) over real HTTP on a free port, in a thread.

A thread rather than the test's event loop: adapters in the test, the API under test and a
spawned Celery worker can all reach it, and a slow handler cannot stall the test's loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import uvicorn
from starlette.applications import Starlette

from tests.helpers.procs import free_port


class Fake(Protocol):
    app: Starlette
    base_url: str


F = TypeVar("F", bound=Fake)


@contextmanager
def serve(fake: F) -> Iterator[F]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{type(fake).__name__} did not start")
        time.sleep(0.01)
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def reset(fake: F) -> F:
    """Forget everything a previous test did, keeping the running server (cheap per test)."""
    base_url = fake.base_url
    type(fake).__init__(fake)  # handlers are bound to `fake`, so the live app sees new state
    fake.base_url = base_url
    return fake
