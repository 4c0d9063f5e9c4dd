"""Polling for a condition another process makes true (a worker, a relay): no fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 45.0) -> Any:
    """Await `check()` every 100 ms until it is truthy; return its value, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def until_true(
    check: Callable[[], object], what: str, timeout: float = 45.0, every: float = 0.02
) -> None:
    """`until` for a plain predicate on this process's state (a counter, a flag), polled often."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)
