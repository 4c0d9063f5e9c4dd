"""One Redis read shared by the concurrent callers that want the same key.

Under a join storm thousands of sockets join one room within seconds, and every one needs the
same room state (pin snapshot, recent messages, seq, epoch, viewers) and the same fresh stream
metadata. Instead of one read per joiner, at most one read per key is in flight: callers that
arrive meanwhile wait for the *next* read, which starts after they asked. So no answer is older
than its request (a joiner that entered the room before asking misses no event: anything past
the state's `seq` reaches it as an event), and under a storm the room costs one read per Redis
round trip instead of one per joiner. A quiet room sees no difference: a lone caller's read
starts at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedReads(Generic[K, V]):
    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._waiting: dict[K, list[asyncio.Future[V]]] = {}
        self._readers: dict[K, asyncio.Task[None]] = {}

    async def get(self, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        if key not in self._readers:
            self._readers[key] = asyncio.create_task(self._serve(key))
        return await future

    async def _serve(self, key: K) -> None:
        """Read for everyone waiting on `key`, round after round, until nobody waits."""
        waiters: list[asyncio.Future[V]] = []
        try:
            while waiters := self._waiting.pop(key, []):
                try:
                    value = await self._read(key)
                except Exception as exc:  # every waiter gets the failure, as its own read would
                    for f in waiters:
                        if not f.done():
                            f.set_exception(exc)
                    continue
                for f in waiters:
                    if not f.done():
                        f.set_result(value)
        finally:
            del self._readers[key]
            for f in [*waiters, *self._waiting.pop(key, [])]:
                f.cancel()  # only reached with waiters left when the reader itself is cancelled
