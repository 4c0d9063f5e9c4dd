"""This node's presence changes, written to Redis in batches: one script call per room per
round trip, not one per socket.

A mass disconnect (a stream ends, a network blip drops a cell tower's phones, a load balancer
drains a node) used to cost one Lua call per socket that left: 10,000 sockets leaving at once
queued 10,000 calls on the bounded Redis pool, and those that waited longer than its wait timeout
failed (`disconnect_cleanup_failed`, 4,319 of 10,000 in BENCHMARKS.md's run), leaving their
viewers counted until the node's next sweep. A join storm paid the same per joiner.

So presence writes go through one queue per node. At most one batch is in flight; changes that
arrive meanwhile wait for the next, which carries all of them, and starts no sooner than
`interval_s` after the previous one (`JOIN_BATCH_INTERVAL_MS`, `sharedreads.next_round`): a
storm costs a room one script call per interval, and a quiet room sees no delay (a lone change
is written at once).
Per room the changes are applied in the order they were made (adds and removes of one member
alternate, so order is what keeps the count right), inside one script, atomically.

A batch that fails (Redis down or restarting) stays queued, ahead of anything newer, and is
written again after `retry_s`: every change is idempotent per node (HSETNX / HDEL on the node's
own hash), so replaying a batch that was partly applied converges on the same state. Whoever
awaits an add learns of the failure (a join answers `unavailable`); a removal never fails its
caller, so a disconnect handler cannot fail on Redis at all.

A joiner needs the room's state (its ack) read after its own add. The batch reads it in the
same script, right after the room's changes, for the rooms someone waits on (`add`, `read`): a
join waits for one batch, not for a batch and then a read of its own (BENCHMARKS.md, issue 20,
session 11).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from realtime.sharedreads import next_round
from shared.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

ADD = "+"
REMOVE = "-"

# Writes one batch: room id -> [(op, member), ...] in the order they were made (a room someone
# only wants the state of has no changes), and the rooms whose state is wanted; answers those
# rooms' states, each read after its room's changes.
WriteBatch = Callable[[dict[int, list[tuple[str, str]]], set[int]], Awaitable[dict[int, Any]]]


class PresenceWrites:
    def __init__(self, *, write: WriteBatch, retry_s: float = 0.5, interval_s: float = 0.0) -> None:
        self._write = write
        self.retry_s = retry_s
        self.interval_s = interval_s  # batches start at most this often (`next_round`)
        self._pending: dict[int, list[tuple[str, str]]] = {}
        self._wanted: set[int] = set()  # rooms of the pending batch whose state is awaited
        # Each waiter with the room whose state it gets (None: it only waits for the write).
        self._waiters: list[tuple[int | None, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._stopped = False

    def remove(self, stream_id: int, member: str) -> None:
        """Queue a removal; it is written with the next batch (never raises)."""
        self._queue(stream_id, REMOVE, member)

    async def add(self, stream_id: int, member: str) -> Any:
        """Queue an add and wait until its batch is written (raises if that write failed;
        the add stays queued and is written when Redis answers again). Answers the room's
        state as the batch read it right after the room's changes."""
        self._queue(stream_id, ADD, member)
        return await self._wait(stream_id)

    async def read(self, stream_id: int) -> Any:
        """The room's state as the next batch reads it, after every change queued before this
        (a member already counted joins again from another socket: its first socket's add
        may still be queued or in flight, and the state must count it)."""
        self._queue(stream_id, None, "")
        return await self._wait(stream_id)

    async def add_all(self, members: list[tuple[int, str]]) -> None:
        """Queue several adds (a node that was swept registers its members again) and wait."""
        if not members:
            return
        for stream_id, member in members:
            self._queue(stream_id, ADD, member)
        await self._wait(None)

    def _wait(self, stream_id: int | None) -> asyncio.Future[Any]:
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._stopped:  # nothing will be written: the waiter must not hang
            waiter.cancel()
            return waiter
        self._waiters.append((stream_id, waiter))
        if stream_id is not None:
            self._wanted.add(stream_id)
        return waiter

    def _queue(self, stream_id: int, op: str | None, member: str) -> None:
        if self._stopped:
            return  # shutting down: the node's own sweep removes all of its members
        ops = self._pending.setdefault(stream_id, [])
        if op is not None:
            ops.append((op, member))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_rounds(), name="presence-writes")

    async def _write_rounds(self) -> None:
        """Write batch after batch until nothing is queued."""
        started: float | None = None
        try:
            while self._pending and not self._stopped:
                started = await next_round(started, self.interval_s)
                batch, self._pending = self._pending, {}
                wanted, self._wanted = self._wanted, set()
                waiters, self._waiters = self._waiters, []
                try:
                    states = await self._write(batch, wanted)
                except asyncio.CancelledError:
                    for _, w in waiters:  # stopped mid-write: no joiner waits for ever
                        w.cancel()
                    raise
                except Exception as exc:
                    for stream_id, ops in self._pending.items():  # newer changes go after
                        batch.setdefault(stream_id, []).extend(ops)
                    # This batch's readers get the failure; a room stays queued for its
                    # changes, or for a newer reader's state.
                    self._pending = {stream_id: ops for stream_id, ops in batch.items()
                                     if ops or stream_id in self._wanted}
                    log.warning("presence_write_retrying", rooms=len(batch),
                                changes=sum(len(ops) for ops in batch.values()),
                                error=type(exc).__name__)
                    for _, w in waiters:
                        if not w.done():
                            w.set_exception(exc)
                    await asyncio.sleep(self.retry_s)
                    continue
                for room, w in waiters:
                    if not w.done():
                        w.set_result(None if room is None else states[room])
        finally:
            self._writer = None
            if self._stopped:
                for _, w in self._waiters:
                    w.cancel()
                self._waiters.clear()

    async def stop(self) -> None:
        """Stop writing (at shutdown, before the node sweeps its own members)."""
        self._stopped = True
        writer = self._writer
        if writer is not None:
            await cancel_and_wait(writer)
        self._pending.clear()
        self._wanted.clear()
