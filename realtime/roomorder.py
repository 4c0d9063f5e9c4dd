"""One room's stamp-then-emit steps, one at a time on this node, so its events leave in `seq`
order.

A chat message gets its `seq` in a Lua call, then the node emits it. Two messages of one room
sent at once through this node take two pooled connections: Redis stamps them 5 then 6, but the
replies are read in whatever order the event loop sees the sockets ready, so 6 could be emitted
(published) before 5, and a viewer got the room out of order (`test_chat_coalescing` caught it
once the WebSocket writes got faster). Holding a per-room lock from the stamp until the emit
has been handed on keeps this node's events of a room in `seq` order; different rooms never
wait for each other. A lock exists only while someone holds or waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class RoomOrder:
    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, stream_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(stream_id) or (asyncio.Lock(), 0)
        self._locks[stream_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[stream_id]
            if users == 1:
                del self._locks[stream_id]
            else:
                self._locks[stream_id] = (lock, users - 1)

    def users(self, stream_id: int) -> int:
        """How many of this node's steps of the room hold or wait for its turn now: the room's
        local write pressure (`Chat.send` stops queueing for the turn past a threshold)."""
        held = self._locks.get(stream_id)
        return held[1] if held else 0

    def __len__(self) -> int:
        return len(self._locks)
