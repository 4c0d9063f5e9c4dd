"""Relay lag as operations watch it: the age of the oldest entry a gateway read but not acked."""

from __future__ import annotations

import asyncio

from shared import events as ev
from shared.bus import EventBus


async def test_oldest_pending_age_grows_until_acked(bus: EventBus) -> None:
    await bus.ensure_group("gateway")
    assert await bus.pending_oldest_age_s("gateway") == 0.0
    assert await bus.pending_oldest_age_s("no-such-group") == 0.0
    for n in range(3):
        await bus.publish(ev.StockChanged(
            stream_id=1, data=ev.StockChangedData(product_id=n, stock=1)))
    got = await bus.read("gateway", "node-a", block_ms=100)
    await asyncio.sleep(0.05)
    age = await bus.pending_oldest_age_s("gateway")
    assert 0.04 <= age < 5
    # Acking the oldest leaves younger ones: still pending, still reported.
    await bus.ack("gateway", [got[0].message_id])
    assert 0.04 <= await bus.pending_oldest_age_s("gateway") < age + 1
    await bus.ack("gateway", [d.message_id for d in got[1:]])
    assert await bus.pending_oldest_age_s("gateway") == 0.0
