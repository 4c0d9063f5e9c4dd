"""Tasks run in-process when no broker is configured (the embedded default).

They belong to one `AppContext`, which ends them when it closes. A module-wide set outlived the
event loop that ran its tasks: a task still pending when its loop closed (a retry waiting out its
back-off, say) stayed in the set for ever, and whatever later waited for "no task pending" (test
fixtures, the next app on a new loop) waited on it in vain or failed on a foreign loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from shared.tasks import cancel_and_wait


class InlineTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def pending(self) -> bool:
        return any(not t.done() for t in self._tasks)

    async def drain(self) -> None:
        """Wait for every task started so far (and those they start) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """End what is still running (the context is closing, and its loop with it)."""
        await cancel_and_wait(*self._tasks)
