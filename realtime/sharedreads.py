"""One Redis read shared by the concurrent callers that want the same key.

Under a join storm thousands of sockets join one room within seconds, and every one needs the
same room state (pin snapshot, recent messages, seq, epoch, viewers) and the same fresh stream
metadata. Instead of one read per joiner, at most one read per key is in flight: callers that
arrive meanwhile wait for the *next* read, which starts after they asked. So no answer is older
than its request (a joiner that entered the room before asking misses no event: anything past
the state's `seq` reaches it as an event), and under a storm the room costs one read per round
instead of one per joiner. Rounds that follow each other at once are paced (`next_round`,
`JOIN_BATCH_INTERVAL_MS`): at most one per interval, each answering everyone who arrived
meanwhile. A quiet room sees no difference: a lone caller's read starts at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741
V = TypeVar("V")


async def next_round(previous: float | None, interval_s: float) -> float:
    """Wait until `interval_s` after the previous round of a batching loop started (at once for
    the first round, or past the interval), and answer the loop time the next one starts at.

    Under a join storm rounds follow each other back to back, each answering the few callers
    that arrived during one Redis round trip; pacing them (`join_batch_interval_ms`) answers
    more callers per round, with fewer round trips and scripts for the same joins. A loop's
    first round, a quiet room's, is never delayed."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    if previous is not None and interval_s > 0:
        wait = previous + interval_s - now
        if wait > 0:
            await asyncio.sleep(wait)
            now = loop.time()
    return now


class BatchedReads(Generic[K, I, V]):
    """The same rule for reads that answer many items in one call: the callers waiting on a key
    are answered by the next `read_many(key, their items)`, whose answers come in their order.
    The room's ban check (`SMISMEMBER` of every joiner) and the connects' revocation check
    (one pipeline for every token) are such reads. Rounds for one key start at most once per
    `interval_s` (`next_round`)."""

    def __init__(
        self,
        read_many: Callable[[K, list[I]], Awaitable[Sequence[V]]],
        *,
        interval_s: float = 0.0,
    ) -> None:
        self._read_many = read_many
        self.interval_s = interval_s
        self._waiting: dict[K, list[tuple[I, asyncio.Future[V]]]] = {}
        self._readers: dict[K, asyncio.Task[None]] = {}

    async def get(self, key: K, item: I) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((item, future))
        if key not in self._readers:
            self._readers[key] = asyncio.create_task(self._serve(key))
        return await future

    async def _serve(self, key: K) -> None:
        """Read for everyone waiting on `key`, round after round, until nobody waits."""
        batch: list[tuple[I, asyncio.Future[V]]] = []
        started: float | None = None
        try:
            while self._waiting.get(key):
                started = await next_round(started, self.interval_s)
                batch = self._waiting.pop(key, [])
                try:
                    values = await self._read_many(key, [item for item, _ in batch])
                except Exception as exc:  # every waiter gets the failure, as its own read would
                    for _, f in batch:
                        if not f.done():
                            f.set_exception(exc)
                    continue
                for (_, f), value in zip(batch, values, strict=True):
                    if not f.done():  # the caller may have given up meanwhile
                        f.set_result(value)
        finally:
            del self._readers[key]
            for _, f in [*batch, *self._waiting.pop(key, [])]:
                f.cancel()  # only reached with waiters left when the reader itself is cancelled


class SharedReads(Generic[K, V]):
    """One value per key, read once for all the callers of a round."""

    def __init__(self, read: Callable[[K], Awaitable[V]], *, interval_s: float = 0.0) -> None:
        self._read = read
        self._reads: BatchedReads[K, None, V] = BatchedReads(
            self._read_for_all, interval_s=interval_s
        )

    async def get(self, key: K) -> V:
        return await self._reads.get(key, None)

    async def _read_for_all(self, key: K, callers: list[None]) -> list[V]:
        return [await self._read(key)] * len(callers)
