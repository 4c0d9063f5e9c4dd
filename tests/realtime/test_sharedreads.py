"""SharedReads: concurrent callers share one read, and nobody gets a read that started before
they asked (the property that keeps a shared join ack as fresh as a private one)."""

from __future__ import annotations

import asyncio

import pytest

from realtime.sharedreads import SharedReads


class Store:
    """A value that changes; each read records the version it saw when it started."""

    def __init__(self) -> None:
        self.version = 0
        self.reads = 0
        self.gate = asyncio.Event()
        self.fail = False

    async def read(self, key: str) -> tuple[str, int]:
        self.reads += 1
        seen = self.version
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("redis down")
        return key, seen


async def test_callers_share_a_read_and_late_callers_get_the_next_one() -> None:
    store = Store()
    shared: SharedReads[str, tuple[str, int]] = SharedReads(store.read)
    first = [asyncio.create_task(shared.get("room")) for _ in range(50)]
    other = asyncio.create_task(shared.get("other room"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert store.reads == 2  # one per key, not one per caller
    store.version = 1  # changes after the in-flight read started
    late = [asyncio.create_task(shared.get("room")) for _ in range(20)]
    await asyncio.sleep(0)
    assert store.reads == 2  # the late callers wait; they must not get the older read
    store.gate.set()
    assert {await t for t in first} == {("room", 0)}
    assert {await t for t in late} == {("room", 1)}
    assert await other == ("other room", 0)
    assert store.reads == 3


async def test_a_failed_read_fails_its_callers_only_and_a_cancelled_caller_harms_nobody() -> None:
    store = Store()
    shared: SharedReads[str, tuple[str, int]] = SharedReads(store.read)
    store.fail = True
    callers = [asyncio.create_task(shared.get("room")) for _ in range(3)]
    await asyncio.sleep(0)
    callers[0].cancel()
    store.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await callers[0]
    for t in callers[1:]:
        with pytest.raises(ConnectionError):
            await t
    store.fail = False
    assert await shared.get("room") == ("room", 0)  # the next read goes through
    assert store.reads == 2
