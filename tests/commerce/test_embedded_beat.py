"""The embedded beat (`make run`'s schedule as asyncio timers) stops its tasks before it closes
the context they use, even a task that swallowed a cancel inside a Redis or database call
(Python 3.11's `wait_for` can: shared/tasks.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from commerce import worker
from commerce.context import AppContext
from shared.settings import CommerceSettings


async def test_stopping_the_embedded_beat_waits_for_its_tasks_before_closing_the_context(
    commerce_settings: CommerceSettings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []
    running = asyncio.Event()

    async def stubborn(ctx: AppContext) -> None:
        running.set()
        try:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                events.append("swallowed")  # as a wait_for racing its inner call can
            await asyncio.sleep(3600)  # the second cancel ends it
        finally:
            events.append("ended")

    close = AppContext.close

    async def recording_close(self: AppContext, *args: Any, **kwargs: Any) -> None:
        events.append("closed")
        await close(self, *args, **kwargs)

    monkeypatch.setattr(worker, "BEAT", {"stubborn": timedelta(0)})
    monkeypatch.setitem(worker.REGISTRY, "stubborn", stubborn)
    monkeypatch.setattr(AppContext, "close", recording_close)
    settings = commerce_settings.model_copy(update={"celery_broker_url": None})
    beat = asyncio.create_task(worker.run_embedded_beat(settings))
    await asyncio.wait_for(running.wait(), 10)
    beat.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(beat, 10)
    assert events == ["swallowed", "ended", "closed"]
