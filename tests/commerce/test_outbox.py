"""The outbox on real MariaDB and Redis: committed events are published once, in order;
rolled-back ones never; a relay that dies between publish and mark does not publish twice."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from commerce.context import AppContext
from commerce.outbox import OutboxEvent, OutboxRelay, add_event
from shared import events as ev


def status(stream_id: int, s: str = "live") -> ev.StreamStatusChanged:
    return ev.StreamStatusChanged(stream_id=stream_id, data=ev.StreamStatusData(status=s))


async def read_all(ctx: AppContext) -> list[ev.DomainEvent]:
    await ctx.bus.ensure_group("test")
    out = []
    while batch := await ctx.bus.read("test", "c", block_ms=50):
        out.extend(d.event for d in batch if d.event)
    return out


async def test_committed_events_are_published_in_order_once(ctx: AppContext) -> None:
    async with ctx.sessions() as session, session.begin():
        for i in range(5):
            add_event(session, status(i))
    relay = OutboxRelay(ctx.sessions, ctx.bus)
    assert await relay.relay_once() == 5
    assert await relay.relay_once() == 0
    published = await read_all(ctx)
    assert [e.stream_id for e in published] == [0, 1, 2, 3, 4]
    async with ctx.sessions() as session:
        left = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
        )
    assert left == 0


async def test_rolled_back_events_are_never_published(ctx: AppContext) -> None:
    with pytest.raises(RuntimeError):
        async with ctx.sessions() as session, session.begin():
            add_event(session, status(1))
            raise RuntimeError("business rule failed after the event was queued")
    assert await OutboxRelay(ctx.sessions, ctx.bus).relay_once() == 0
    assert await read_all(ctx) == []


class _CrashAfterPublish(OutboxRelay):
    async def relay_once(self) -> int:
        # Publish like the relay does, then die before marking the rows published.
        async with self.sessions() as session:
            rows = (await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all()
            for row in rows:
                await self.bus.publish_raw(row.payload.encode(), dedup_key=f"outbox:{row.id}")
        raise ConnectionError("relay killed")


async def test_relay_restart_after_crash_does_not_duplicate(ctx: AppContext) -> None:
    async with ctx.sessions() as session, session.begin():
        add_event(session, status(1))
        add_event(session, status(2, "ended"))
    with pytest.raises(ConnectionError):
        await _CrashAfterPublish(ctx.sessions, ctx.bus).relay_once()
    assert await OutboxRelay(ctx.sessions, ctx.bus).relay_once() == 2  # marks, publishes nothing
    published = await read_all(ctx)
    assert [(e.stream_id, e.data.status) for e in published] == [(1, "live"), (2, "ended")]


async def test_running_relay_publishes_promptly(ctx: AppContext) -> None:
    import asyncio

    relay = OutboxRelay(ctx.sessions, ctx.bus, poll_interval_s=0.05)
    task = asyncio.create_task(relay.run())
    try:
        await ctx.bus.ensure_group("test")
        async with ctx.sessions() as session, session.begin():
            add_event(session, status(42))
        got = await ctx.bus.read("test", "c", block_ms=2000)
        assert [d.event.stream_id for d in got if d.event] == [42]
    finally:
        relay.stop()
        await asyncio.wait_for(task, 5)


class _CountingRelay(OutboxRelay):
    """Records when each pass that published something ran, and how much it carried."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passes: list[tuple[float, int]] = []

    async def relay_once(self) -> int:
        began = time.monotonic()
        handled = await super().relay_once()
        if handled:
            self.passes.append((began, handled))
        return handled

    async def settled(self, count: int) -> None:
        """Wait until `count` passes have finished (a pass publishes, then commits its marks)."""
        for _ in range(200):
            if len(self.passes) >= count:
                return
            await asyncio.sleep(0.01)


async def test_relay_passes_under_load_are_spaced_and_carry_several_commits(
    ctx: AppContext,
) -> None:
    """The first event after a quiet spell goes at once; events committed right after it wait
    for the next pass, `min_interval_s` later, and go together in it."""
    relay = _CountingRelay(ctx.sessions, ctx.bus, poll_interval_s=0.05, min_interval_s=1.0)
    task = asyncio.create_task(relay.run())
    try:
        await ctx.bus.ensure_group("test")
        started = time.monotonic()
        async with ctx.sessions() as session, session.begin():
            add_event(session, status(1))
        first = await ctx.bus.read("test", "c", block_ms=5000)
        assert [d.event.stream_id for d in first if d.event] == [1]
        await relay.settled(1)
        assert relay.passes[0][0] - started < 0.8  # not held back
        for stream_id in (2, 3, 4):  # three commits, each waking the relay
            async with ctx.sessions() as session, session.begin():
                add_event(session, status(stream_id))
        rest: list[int] = []
        while len(rest) < 3:
            got = await ctx.bus.read("test", "c", block_ms=5000)
            assert got, "events not published"
            rest += [d.event.stream_id for d in got if d.event]
        assert rest == [2, 3, 4]
        await relay.settled(2)
        assert [n for _, n in relay.passes] == [1, 3]
        assert relay.passes[1][0] - relay.passes[0][0] >= 1.0
    finally:
        relay.stop()
        await asyncio.wait_for(task, 5)


async def test_a_backlog_is_published_batch_after_batch_without_spacing(ctx: AppContext) -> None:
    async with ctx.sessions() as session, session.begin():
        for i in range(5):
            add_event(session, status(i))
    relay = _CountingRelay(
        ctx.sessions, ctx.bus, batch_size=2, poll_interval_s=0.05, min_interval_s=5.0
    )
    task = asyncio.create_task(relay.run())
    try:
        await ctx.bus.ensure_group("test")
        got: list[int] = []
        while len(got) < 5:
            batch = await ctx.bus.read("test", "c", block_ms=3000)
            assert batch, f"backlog not drained: {got}"
            got += [d.event.stream_id for d in batch if d.event]
        assert got == [0, 1, 2, 3, 4]
        await relay.settled(3)
        assert [n for _, n in relay.passes] == [2, 2, 1]
    finally:
        relay.stop()
        await asyncio.wait_for(task, 5)
