"""Stopping a background task without swallowing the caller's own cancellation.

Why: the usual `task.cancel()` then `with suppress(CancelledError): await task` (or
`suppress(BaseException)`) cannot tell the task's CancelledError from one aimed at the caller.
A caller cancelled while it waits there carries on as if nothing happened; a loop doing that
then never stops. A gateway ignored SIGTERM that way (until SIGKILL): its pub/sub reconcile
loop was closing a shard's reader when shutdown cancelled it, swallowed that cancel, and went
back to waiting for work that never came. And a task can miss a cancel by no fault of its own:
Python 3.11's `asyncio.wait_for`, which redis-py wraps around socket reads and writes, returns
normally when the cancel arrives as its inner call completes (CPython gh-86296, fixed in 3.12
by rewriting `wait_for`): a `SUNSUBSCRIBE` swallowed the gateway's shutdown so. So a task that
has not ended a second after its cancel is cancelled again.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future[Any], again_after_s: float = 1.0) -> None:
    """Cancel `tasks` (all at once) and wait until each has ended, however it ends, cancelling
    again every `again_after_s` those that go on. Their own CancelledError or exception is
    consumed (the caller asked them to stop); a cancellation of the caller itself propagates,
    because `asyncio.wait` does not catch it."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=again_after_s)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: an exception on the way out is not "never retrieved"
