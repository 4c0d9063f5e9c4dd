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
