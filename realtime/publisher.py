"""One node's fan-out publishes, in call order, pipelined.

On one Redis, concurrent `SPUBLISH`es of a node still reach the server in the order they were
called: each takes a pooled connection and writes its command before the caller yields. redis-py's
`RedisCluster` does not keep that order: a command looks up its slot's node, takes a connection
of that node (a new one when none is free, which connects first) and only then writes, with
several places to yield on the way. Two chat messages emitted at the same moment from one node
could therefore reach the room's shard swapped, and every other node's viewers saw them so.

So a node's publishes go through one queue, in call order: `publish` appends to it without
yielding, and one drain task sends whatever has queued as one pipeline (on a cluster redis-py
groups a pipeline by node and writes each node's part in order on one connection), waits for
the replies, then takes the next batch. A room's messages are thus written in call order, and
under load many publishes share one round trip instead of each paying its own. A caller's
`publish` returns once its batch has been answered, as a direct `SPUBLISH` did (the relay
acknowledges a stream entry only after its emit has reached Redis).

A caller that needs to know when its publish is queued (its place in the node's order fixed),
before the answer, sets `ON_QUEUED` to a future in the context its emit runs in: `realtime.chat`
ends a room's turn then, instead of holding it for the pipeline's round trip.

A batch that fails (connection lost, a master died) is logged and dropped, like a direct
publish that failed: the node's own sockets already have those emits, other nodes miss them.
`publish` returns what Redis answered (how many subscribers received the message), or None for
a failed publish, so a caller that must not lose a message (the relay) can tell.
`on_failure` then lets the owner re-read the cluster's slot map. A batch that gets no answer
within `timeout_s` fails the same way, so one unreachable shard holds the queue for at most
that long.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from shared.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

# Set (see module doc) once the publish of the emit running in this context is queued.
ON_QUEUED: contextvars.ContextVar[asyncio.Future[None] | None] = contextvars.ContextVar(
    "on_queued", default=None
)

MAX_BATCH = 512  # publishes per pipeline: bounds one round trip's size under a flood
TIMEOUT_S = 5.0


class OrderedPublisher:
    """`SPUBLISH`es of one node, written in call order (see module doc)."""

    def __init__(
        self,
        redis: Any,
        *,
        on_failure: Callable[[], Awaitable[None]] | None = None,
        max_batch: int = MAX_BATCH,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.redis = redis
        self.on_failure = on_failure
        self.max_batch = max_batch
        self.timeout_s = timeout_s
        self._queue: deque[tuple[str, str | bytes, asyncio.Future[int | None]]] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._last: asyncio.Future[int | None] | None = None  # of the latest publish

    async def publish(self, channel: str, payload: str | bytes) -> int | None:
        """Queue one message (before any yield: call order is queue order) and wait until its
        batch has been answered or has failed: the number of subscribers that received it,
        None if the publish failed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        self._queue.append((channel, payload, future))
        self._last = future
        queued = ON_QUEUED.get()
        if queued is not None and not queued.done():
            queued.set_result(None)
        self._ensure_drain(loop)
        assert self._wake is not None
        self._wake.set()
        return await future

    def _ensure_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        task = self._task
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._drain(self._wake), name="fanout-publisher")

    async def _drain(self, wake: asyncio.Event) -> None:
        while True:
            if not self._queue:
                wake.clear()
                await wake.wait()
                continue
            batch = [self._queue.popleft()
                     for _ in range(min(len(self._queue), self.max_batch))]
            results: list[Any] = []
            try:
                results = await self._send(batch)
            finally:
                for (_, _, future), result in zip(batch, results or [None] * len(batch),
                                                  strict=True):
                    if not future.done():  # a caller cancelled meanwhile: nothing to tell
                        future.set_result(result if isinstance(result, int) else None)

    async def _send(
        self, batch: list[tuple[str, str | bytes, asyncio.Future[int | None]]]
    ) -> list[Any]:
        """Redis's answers, one per message (an exception for a failed one); [] if all failed."""
        try:
            async with asyncio.timeout(self.timeout_s):
                if len(batch) == 1:
                    channel, payload, _ = batch[0]
                    return [await self.redis.spublish(channel, payload)]
                pipe = self.redis.pipeline(transaction=False)
                for channel, payload, _ in batch:
                    pipe.spublish(channel, payload)
                results = list(await pipe.execute(raise_on_error=False))
            failed = [r for r in results if isinstance(r, Exception)]
            if not failed:
                return results
            log.warning("pubsub_publish_failed", lost=len(failed), of=len(batch),
                        error=repr(failed[0]))
        except asyncio.CancelledError:
            raise
        except Exception:
            # The local sockets already have these emits; other nodes miss them, as with
            # python-socketio's own manager when Redis is unreachable.
            log.warning("pubsub_publish_failed", lost=len(batch), of=len(batch), exc_info=True)
            results = []
        if self.on_failure is not None:
            await self.on_failure()
        return results

    async def close(self) -> None:
        """Send what is queued, then stop the drain task."""
        task, last = self._task, self._last
        if task is None or task.done():
            return
        if last is not None and not last.done():
            await asyncio.wait([last], timeout=self.timeout_s * 2)  # its batch is the last
        await cancel_and_wait(task)
        self._task = None
