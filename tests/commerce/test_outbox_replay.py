"""A Redis that lost stream entries gets exactly those again from the outbox.

Simulated on the real Redis by undoing what the lost writes did: the high-water mark set back
and the newest entries' dedup keys and stream entries gone (a restart from an AOF a second
old), or everything gone (a Redis that lost its data).
"""

from __future__ import annotations

import pytest

from commerce.context import AppContext
from commerce.outbox import OutboxRelay, add_event
from shared import events as ev
from shared.bus import RedisStreamBus, StreamLost


def status(stream_id: int) -> ev.StreamStatusChanged:
    return ev.StreamStatusChanged(stream_id=stream_id, data=ev.StreamStatusData(status="live"))


async def stream_ids(ctx: AppContext) -> list[int | None]:
    assert isinstance(ctx.bus, RedisStreamBus)
    entries = await ctx.bus.redis.xrange(ctx.bus.stream)
    return [ev.decode(fields[b"e"]).stream_id for _, fields in entries]


async def publish(ctx: AppContext, relay: OutboxRelay, ids: range) -> None:
    async with ctx.sessions() as session, session.begin():
        for i in ids:
            add_event(session, status(i))
    while await relay.relay_once():
        pass


async def test_a_stream_behind_the_outbox_gets_exactly_the_lost_rows_again(
    ctx: AppContext,
) -> None:
    restored: list[bool] = []

    async def on_loss() -> None:
        restored.append(True)

    relay = OutboxRelay(ctx.sessions, ctx.bus, on_stream_loss=on_loss)
    await publish(ctx, relay, range(1, 6))
    assert await relay.check_stream() == 0  # nothing lost
    assert isinstance(ctx.bus, RedisStreamBus)
    redis, stream = ctx.bus.redis, ctx.bus.stream
    mark = await ctx.bus.high_water()
    assert mark is not None
    # Redis comes back without its last two writes: the mark, dedup keys and entries of rows
    # mark-1 and mark are gone.
    entries = await redis.xrange(stream)
    await redis.xdel(stream, *(mid for mid, _ in entries[-2:]))
    await redis.delete(f"{{{stream}}}:dedup:outbox:{mark}", f"{{{stream}}}:dedup:outbox:{mark - 1}")
    await redis.set(f"{{{stream}}}:outbox:high_water", mark - 2)
    assert await stream_ids(ctx) == [1, 2, 3]

    assert await relay.check_stream() == 2
    assert restored == [True]
    while await relay.relay_once():
        pass
    assert await stream_ids(ctx) == [1, 2, 3, 4, 5]
    assert await ctx.bus.high_water() == mark
    assert await relay.check_stream() == 0


async def test_a_lost_stream_gets_the_replay_window_again_once(ctx: AppContext) -> None:
    relay = OutboxRelay(ctx.sessions, ctx.bus, replay_window_s=300)
    await publish(ctx, relay, range(1, 4))
    assert isinstance(ctx.bus, RedisStreamBus)
    await ctx.bus.redis.flushdb()  # Redis lost everything
    assert await relay.check_stream() == 3
    while await relay.relay_once():
        pass
    assert await stream_ids(ctx) == [1, 2, 3]
    # A second relay (another API process) checking as well publishes nothing twice.
    other = OutboxRelay(ctx.sessions, ctx.bus, replay_window_s=300)
    assert await other.check_stream() == 0
    await publish(ctx, relay, range(4, 5))
    assert await stream_ids(ctx) == [1, 2, 3, 4]


async def test_rows_older_than_the_window_are_not_replayed(ctx: AppContext) -> None:
    relay = OutboxRelay(ctx.sessions, ctx.bus, replay_window_s=0)
    await publish(ctx, relay, range(1, 3))
    assert isinstance(ctx.bus, RedisStreamBus)
    await ctx.bus.redis.flushdb()
    assert await relay.check_stream() == 0
    assert await stream_ids(ctx) == []


async def test_a_publish_onto_a_stream_that_lost_entries_is_refused(ctx: AppContext) -> None:
    """New rows never jump ahead of lost ones: a pass that finds the stream behind the
    database publishes nothing; the relay requeues the lost rows first, then all go in order."""
    relay = OutboxRelay(ctx.sessions, ctx.bus, replay_window_s=300)
    await publish(ctx, relay, range(1, 4))
    assert isinstance(ctx.bus, RedisStreamBus)
    await ctx.bus.redis.flushdb()
    async with ctx.sessions() as session, session.begin():
        add_event(session, status(4))
    with pytest.raises(StreamLost):
        await relay.relay_once()
    assert await stream_ids(ctx) == []
    assert await relay.check_stream() == 3
    while await relay.relay_once():
        pass
    assert await stream_ids(ctx) == [1, 2, 3, 4]
