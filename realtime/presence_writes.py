"""This node's presence changes, written to Redis in batches: one script call per room per
round trip, not one per socket.

A mass disconnect (a stream ends, a network blip drops a cell tower's phones, a load balancer
drains a node) used to cost one Lua call per socket that left: 10,000 sockets leaving at once
queued 10,000 calls on the bounded Redis pool, and those that waited longer than its wait timeout
failed (`disconnect_cleanup_failed`, 4,319 of 10,000 in BENCHMARKS.md's run), leaving their
viewers counted until the node's next sweep. A join storm paid the same per joiner.

So presence writes go through one queue per node. At most one batch is in flight; changes that
arrive meanwhile wait for the next, which carries all of them: a storm costs a room one script
call per Redis round trip, and a quiet room sees no delay (a lone change is written at once).
Per room the changes are applied in the order they were made (adds and removes of one member
alternate, so order is what keeps the count right), inside one script, atomically.

A batch that fails (Redis down or restarting) stays queued, ahead of anything newer, and is
written again after `retry_s`: every change is idempotent per node (HSETNX / HDEL on the node's
own hash), so replaying a batch that was partly applied converges on the same state. Whoever
awaits an add learns of the failure (a join answers `unavailable`); a removal never fails its
caller, so a disconnect handler cannot fail on Redis at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from shared.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

ADD = "+"
REMOVE = "-"

# Writes one batch: room id -> [(op, member), ...] in the order they were made.
WriteBatch = Callable[[dict[int, list[tuple[str, str]]]], Awaitable[None]]


class PresenceWrites:
    def __init__(self, *, write: WriteBatch, retry_s: float = 0.5) -> None:
        self._write = write
        self.retry_s = retry_s
        self._pending: dict[int, list[tuple[str, str]]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._stopped = False

    def remove(self, stream_id: int, member: str) -> None:
        """Queue a removal; it is written with the next batch (never raises)."""
        self._queue(stream_id, REMOVE, member)

    async def add(self, stream_id: int, member: str) -> None:
        """Queue an add and wait until its batch is written (raises if that write failed;
        the add stays queued and is written when Redis answers again)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._queue(stream_id, ADD, member)
        await waiter

    async def add_all(self, members: list[tuple[int, str]]) -> None:
        """Queue several adds (a node that was swept registers its members again) and wait."""
        if not members:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        for stream_id, member in members:
            self._queue(stream_id, ADD, member)
        await waiter

    def _queue(self, stream_id: int, op: str, member: str) -> None:
        if self._stopped:
            return  # shutting down: the node's own sweep removes all of its members
        self._pending.setdefault(stream_id, []).append((op, member))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_rounds(), name="presence-writes")

    async def _write_rounds(self) -> None:
        """Write batch after batch until nothing is queued."""
        try:
            while self._pending and not self._stopped:
                batch, self._pending = self._pending, {}
                waiters, self._waiters = self._waiters, []
                try:
                    await self._write(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    for stream_id, ops in self._pending.items():  # newer changes go after
                        batch.setdefault(stream_id, []).extend(ops)
                    self._pending = batch
                    log.warning("presence_write_retrying", rooms=len(batch),
                                changes=sum(len(ops) for ops in batch.values()),
                                error=type(exc).__name__)
                    for w in waiters:
                        if not w.done():
                            w.set_exception(exc)
                    await asyncio.sleep(self.retry_s)
                    continue
                for w in waiters:
                    if not w.done():
                        w.set_result(None)
        finally:
            self._writer = None
            if self._stopped:
                for w in self._waiters:
                    w.cancel()
                self._waiters.clear()

    async def stop(self) -> None:
        """Stop writing (at shutdown, before the node sweeps its own members)."""
        self._stopped = True
        writer = self._writer
        if writer is not None:
            await cancel_and_wait(writer)
        self._pending.clear()
