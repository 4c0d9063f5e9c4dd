"""Commerce's consumer group: events of one buyer in order, others side by side; a failing
handler leaves its event (and that buyer's later ones) pending until claimed again."""

from __future__ import annotations

import asyncio

from commerce.notifications.consumer import EventConsumer
from shared import events as ev
from shared.bus import InProcessBus


def _paid(order_id: int, buyer_id: int) -> ev.OrderPaid:
    return ev.OrderPaid(data=ev.OrderStateData(order_id=order_id, buyer_id=buyer_id,
                                               status="paid"))


async def test_a_failure_holds_back_only_its_buyers_events_until_claimed() -> None:
    bus = InProcessBus()
    seen: list[int] = []
    fail_once = {1}

    async def handler(event: ev.DomainEvent) -> None:
        assert isinstance(event, ev.OrderPaid)
        if event.data.order_id in fail_once:
            fail_once.discard(event.data.order_id)
            raise RuntimeError("database hiccup")
        await asyncio.sleep(0.01 if event.data.buyer_id == 7 else 0)
        seen.append(event.data.order_id)

    consumer = EventConsumer(bus, group="commerce-test", handler=handler, claim_idle_ms=0,
                             block_ms=10)
    await bus.ensure_group("commerce-test")
    for order_id, buyer_id in ((1, 7), (2, 7), (3, 8), (4, 7), (5, 9)):
        await bus.publish(_paid(order_id, buyer_id))
    await consumer.run_once()
    assert sorted(seen) == [3, 5]  # buyer 7's lane stopped at its failure
    assert await bus.pending_count("commerce-test") == 3
    await consumer.run_once()  # claims the three again, in order
    assert seen[2:] == [1, 2, 4]
    assert await bus.pending_count("commerce-test") == 0


async def test_batches_hold_one_event_per_lane_in_stream_order() -> None:
    bus = InProcessBus()
    batches: list[list[int]] = []

    async def handler(event: ev.DomainEvent) -> None:
        raise AssertionError("a batch that succeeds is not handled again one by one")

    async def batch_handler(events: list[ev.DomainEvent]) -> None:
        batches.append([e.data.order_id for e in events if isinstance(e, ev.OrderPaid)])

    consumer = EventConsumer(bus, group="commerce-test", handler=handler,
                             batch_handler=batch_handler, block_ms=10)
    await bus.ensure_group("commerce-test")
    for order_id, buyer_id in ((1, 7), (2, 7), (3, 8), (4, 7), (5, 9), (6, 8)):
        await bus.publish(_paid(order_id, buyer_id))
    assert await consumer.run_once() == 6
    assert batches == [[1, 3, 5], [2, 6], [4]]
    assert await bus.pending_count("commerce-test") == 0


async def test_a_failing_batch_is_handled_one_by_one_and_holds_back_only_its_lane() -> None:
    bus = InProcessBus()
    seen: list[int] = []
    fail_once = {3}

    async def handler(event: ev.DomainEvent) -> None:
        assert isinstance(event, ev.OrderPaid)
        if event.data.order_id in fail_once:
            fail_once.discard(event.data.order_id)
            raise RuntimeError("database hiccup")
        seen.append(event.data.order_id)

    async def batch_handler(events: list[ev.DomainEvent]) -> None:
        if any(isinstance(e, ev.OrderPaid) and e.data.order_id in fail_once for e in events):
            raise RuntimeError("database hiccup")
        seen.extend(e.data.order_id for e in events if isinstance(e, ev.OrderPaid))

    consumer = EventConsumer(bus, group="commerce-test", handler=handler,
                             batch_handler=batch_handler, claim_idle_ms=0, block_ms=10)
    await bus.ensure_group("commerce-test")
    for order_id, buyer_id in ((1, 7), (2, 7), (3, 8), (4, 8), (5, 9)):
        await bus.publish(_paid(order_id, buyer_id))
    await consumer.run_once()
    # The first batch (1, 3, 5) failed as a whole; one by one only 3 failed, so buyer 8's
    # lane (3, then 4) waits while buyer 7's second event went on in the next batch.
    assert sorted(seen) == [1, 2, 5]
    assert await bus.pending_count("commerce-test") == 2
    await consumer.run_once()  # claims 3 and 4 again: same lane, so in order
    assert seen[3:] == [3, 4]
    assert await bus.pending_count("commerce-test") == 0
