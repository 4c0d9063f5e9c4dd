"""Both bus implementations against the same expectations; the Redis one on real Redis."""

from __future__ import annotations

import asyncio
import uuid

from shared import events as ev
from shared.bus import EventBus, RedisStreamBus
from shared.redis import make_redis


def stock(product_id: int, n: int) -> ev.StockChanged:
    return ev.StockChanged(stream_id=1, data=ev.StockChangedData(product_id=product_id, stock=n))


async def test_events_published_before_the_group_exists_are_delivered(bus: EventBus) -> None:
    for i in range(3):
        await bus.publish(stock(i, 10 - i))
    await bus.ensure_group("gateway")
    got = await bus.read("gateway", "node-a", block_ms=100)
    assert [d.event.data.product_id for d in got if d.event] == [0, 1, 2]
    assert await bus.pending_count("gateway") == 3
    assert await bus.ack("gateway", [d.message_id for d in got]) == 3
    assert await bus.pending_count("gateway") == 0
    assert await bus.read("gateway", "node-b", block_ms=50) == []


async def test_each_event_goes_to_one_consumer_of_a_group(bus: EventBus) -> None:
    await bus.ensure_group("gateway")
    for i in range(10):
        await bus.publish(stock(i, i))
    a = await bus.read("gateway", "a", count=4, block_ms=50)
    b = await bus.read("gateway", "b", count=100, block_ms=50)
    ids = [d.message_id for d in a + b]
    assert len(ids) == 10 and len(set(ids)) == 10


async def test_dead_consumers_pending_events_are_claimed(bus: EventBus) -> None:
    await bus.ensure_group("gateway")
    await bus.publish(stock(1, 5))
    await bus.publish(stock(2, 4))
    taken = await bus.read("gateway", "doomed", block_ms=50)
    assert len(taken) == 2  # "doomed" dies here without acking
    assert await bus.claim_stale("gateway", "survivor", min_idle_ms=10_000) == []
    await asyncio.sleep(0.15)
    claimed = await bus.claim_stale("gateway", "survivor", min_idle_ms=100)
    assert [d.message_id for d in claimed] == [d.message_id for d in taken]
    assert [d.event for d in claimed] == [d.event for d in taken]
    await bus.ack("gateway", [d.message_id for d in claimed])
    assert await bus.pending_count("gateway") == 0


async def test_own_pending_entries_are_read_again_by_page(bus: EventBus) -> None:
    """What a consumer was handed and never acknowledged (a read whose reply was lost), read
    again by that consumer only, oldest first, a page at a time."""
    await bus.ensure_group("gateway")
    for i in range(5):
        await bus.publish(stock(i, i))
    lost = await bus.read("gateway", "me", count=3, block_ms=50)  # the reply "lost"
    other = await bus.read("gateway", "other", block_ms=50)
    assert len(lost) == 3 and len(other) == 2
    first = await bus.read_own_pending("gateway", "me", count=2)
    rest = await bus.read_own_pending("gateway", "me", after=first[-1].message_id, count=2)
    assert [d.message_id for d in first + rest] == [d.message_id for d in lost]
    assert [d.event for d in first + rest] == [d.event for d in lost]
    assert await bus.read_own_pending("gateway", "me", after=rest[-1].message_id) == []
    await bus.ack("gateway", [d.message_id for d in lost])
    assert await bus.read_own_pending("gateway", "me") == []
    assert await bus.pending_count("gateway") == 2  # "other"'s, untouched


async def test_dedup_key_publishes_once(bus: EventBus) -> None:
    await bus.ensure_group("g")
    first = await bus.publish(stock(1, 1), dedup_key="outbox:1")
    again = await bus.publish(stock(1, 1), dedup_key="outbox:1")
    assert first is not None and again is None
    assert len(await bus.read("g", "c", block_ms=50)) == 1


async def test_blocking_read_wakes_on_publish(bus: EventBus) -> None:
    await bus.ensure_group("g")
    reader = asyncio.create_task(bus.read("g", "c", block_ms=3000))
    await asyncio.sleep(0.05)
    await bus.publish(stock(9, 9))
    got = await asyncio.wait_for(reader, 2)
    assert len(got) == 1


async def test_undecodable_entry_is_delivered_without_event(bus: EventBus) -> None:
    await bus.ensure_group("g")
    await bus.publish_raw(b'{"type":"nope"}')
    (d,) = await bus.read("g", "c", block_ms=50)
    assert d.event is None and d.raw == b'{"type":"nope"}'


async def test_publish_many_keeps_order_and_dedups(bus: EventBus) -> None:
    """The relay's batch publish: in order, once per dedup key, whether the key was used by an
    earlier single publish or by an earlier item of the same batch."""
    await bus.ensure_group("gateway")
    assert await bus.publish(stock(1, 9), dedup_key="outbox:1") is not None
    mids = await bus.publish_many_raw([
        (ev.encode(stock(1, 9)), "outbox:1"),  # published already
        (ev.encode(stock(2, 8)), "outbox:2"),
        (ev.encode(stock(3, 7)), "outbox:3"),
        (ev.encode(stock(3, 7)), "outbox:3"),  # twice in one batch
    ])
    assert mids[0] is None and mids[3] is None
    assert mids[1] is not None and mids[2] is not None
    assert await bus.publish_many_raw([]) == []
    got = await bus.read("gateway", "a", count=10, block_ms=100)
    assert [d.event.data.product_id for d in got] == [1, 2, 3]  # type: ignore[union-attr]


async def test_the_mark_under_its_name_before_the_hash_tag_is_carried_over(
    redis_url: str, clean_redis: None
) -> None:
    """A deploy from before Redis Cluster support finds its high-water mark under the old name
    (`events:outbox:high_water`); reading it must not look like a lost mark (which would
    replay the last window of events)."""
    stream = f"t-{uuid.uuid4().hex[:6]}"
    bus = RedisStreamBus(make_redis(redis_url), stream=stream)
    try:
        await bus.redis.set(f"{stream}:outbox:high_water", 41)
        assert await bus.high_water() == 41
        assert await bus.redis.get(f"{{{stream}}}:outbox:high_water") == b"41"
        await bus.publish_many_raw([(b"x", "outbox:42")], high_water=42, expect=41)
        assert await bus.high_water() == 42
    finally:
        await bus.close()
