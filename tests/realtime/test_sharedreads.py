"""SharedReads: concurrent callers share one read, and nobody gets a read that started before
they asked (the property that keeps a shared join ack as fresh as a private one)."""

from __future__ import annotations

import asyncio
import itertools

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


async def test_paced_rounds_start_an_interval_apart_and_a_lone_caller_at_once() -> None:
    """`join_batch_interval_ms`: under a storm the next round waits out the rest of the
    interval and answers everyone who arrived meanwhile; the first round never waits."""
    loop = asyncio.get_running_loop()
    started: list[float] = []

    async def read(key: str) -> str:
        started.append(loop.time())
        await asyncio.sleep(0.03)  # a round trip: callers arrive while it is in flight
        return key

    shared: SharedReads[str, str] = SharedReads(read, interval_s=0.1)
    asked = loop.time()
    assert await shared.get("room") == "room"
    assert started[0] - asked < 0.05  # a lone caller: at once

    # A storm: callers keep arriving for ~0.25 s, each answered by a round that started after
    # it asked; rounds are >= the interval apart, so a few rounds serve them all (back to back,
    # one per 30 ms round trip, it would take ~9).
    started.clear()
    callers = []
    for _ in range(25):
        callers.append((loop.time(), asyncio.create_task(shared.get("room"))))
        await asyncio.sleep(0.01)
    for _, task in callers:
        assert await task == "room"
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= 0.095 for gap in gaps), gaps
    assert len(started) <= 5
    # Nobody's answer comes from a round that started before they asked.
    for asked_at, _ in callers:
        assert any(s >= asked_at for s in started)
