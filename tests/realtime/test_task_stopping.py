"""`cancel_and_wait`: a task stopped by a caller that is itself being cancelled must not swallow
that cancellation (a gateway once ignored SIGTERM so: see shared/tasks.py)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio as aioredis

from realtime.subscriptions import _Shard
from shared.tasks import cancel_and_wait


async def _slow_to_stop(stopping: asyncio.Event) -> None:
    """A task that takes a moment to end once cancelled (as a pub/sub reader closing its
    connection does)."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        stopping.set()
        await asyncio.sleep(0.2)
        raise


async def _closer_cancelled_while_waiting(stop: object, task: asyncio.Task[None],
                                          stopping: asyncio.Event) -> asyncio.Task[None]:
    closer = asyncio.create_task(stop())  # type: ignore[operator]
    await stopping.wait()  # the closer is now waiting for the task to end
    closer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await closer
    return closer


async def test_the_callers_own_cancellation_propagates() -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(_slow_to_stop(stopping))
    await asyncio.sleep(0)
    closer = await _closer_cancelled_while_waiting(
        lambda: cancel_and_wait(task), task, stopping)
    assert closer.cancelled()
    await asyncio.wait([task])
    assert task.cancelled()


async def test_the_old_pattern_swallowed_it() -> None:
    """What the helper replaces: `cancel(); with suppress(...): await task` ends normally even
    though the caller was cancelled. (Shows the test above can tell the difference.)"""
    stopping = asyncio.Event()
    task = asyncio.create_task(_slow_to_stop(stopping))
    await asyncio.sleep(0)

    async def old() -> None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task

    closer = await _closer_cancelled_while_waiting(old, task, stopping)
    assert not closer.cancelled()


async def test_a_task_that_failed_or_ended_is_consumed_quietly() -> None:
    async def fails() -> None:
        raise RuntimeError("on the way out")

    failed = asyncio.create_task(fails())
    ended = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await cancel_and_wait(failed, ended)  # neither raises here
    assert failed.exception() is not None and ended.done()
    await cancel_and_wait()  # nothing to stop


async def test_a_pubsub_shard_closing_keeps_its_callers_cancellation(
    aredis: aioredis.Redis,
) -> None:
    """The gateway's case: the pub/sub reconcile loop closes a shard, is cancelled by shutdown
    meanwhile, and must stop (it went back to waiting for work for ever)."""
    shard = _Shard("redis", aredis, owns_client=False)
    stopping = asyncio.Event()
    shard.reader = asyncio.create_task(_slow_to_stop(stopping))
    await asyncio.sleep(0)
    closer = await _closer_cancelled_while_waiting(shard.close, shard.reader, stopping)
    assert closer.cancelled()
    with pytest.raises(asyncio.CancelledError):
        await shard.reader


async def test_a_task_that_missed_a_cancel_is_cancelled_again() -> None:
    """As a loop around a Redis call does when Python 3.11's `wait_for` swallows the cancel
    (CPython gh-86296): it carries on to its next wait. One cancel and a wait would hang."""
    missed = asyncio.Event()

    async def misses_one_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            missed.set()  # swallowed: on to waiting for the next piece of work
        await asyncio.Event().wait()

    task = asyncio.create_task(misses_one_cancel())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait(task, again_after_s=0.05), timeout=5)
    assert missed.is_set() and task.cancelled()
