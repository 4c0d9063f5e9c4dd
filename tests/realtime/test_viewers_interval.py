"""A big room's `viewers` interval grows with its count (issue 20: the join storm).

Each `viewers` event is one write per member of the room, so at a fixed interval a room of N
viewers costs N writes per interval. Past `VIEWERS_LARGE_ROOM` viewers the interval grows in
proportion to the count, up to `VIEWERS_BROADCAST_MAX_INTERVAL_S`. The rule shows in the events
themselves: the lock taken when a `viewers` was sent (its `at`, on Redis' clock) lasts the
interval for the count it announced, so the next `viewers` of the room comes at least that much
later, whatever the delivery delays. Small numbers here stand in for the defaults (2,000 / 10 s).
"""

from __future__ import annotations

import asyncio
import itertools

from tests.realtime.clients import Client, World, viewers_of
from tests.realtime.conftest import GatewayFactory

BASE_MS = 300
LARGE = 2
MAX_MS = 1000


def interval_ms(count: int) -> int:
    """The interval the gateway applies after announcing `count` (the documented rule)."""
    if count <= LARGE:
        return BASE_MS
    return min(MAX_MS, BASE_MS * count // LARGE)


async def test_a_big_rooms_viewers_interval_grows_with_its_count(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    env = {"VIEWERS_BROADCAST_INTERVAL_S": str(BASE_MS / 1000), "VIEWERS_LARGE_ROOM": str(LARGE),
           "VIEWERS_BROADCAST_MAX_INTERVAL_S": str(MAX_MS / 1000)}
    (_, url_a), (_, url_b) = gateway_factory.many("a", "b", **env)
    await world.stream(1)
    watcher = await Client("watcher").connect(url_a)
    guests = [await Client(f"g{i}").connect(url_a if i % 2 else url_b) for i in range(7)]
    clients.extend([watcher, *guests])
    await watcher.join(1)
    await asyncio.gather(*(g.join(1) for g in guests))
    await viewers_of(watcher, 1, 8, timeout=10)
    # Leave one by one, faster than any interval: the counts announced are throttled by the
    # interval of the count before them.
    for g in guests:
        await g.close()
        await asyncio.sleep(0.1)
    await viewers_of(watcher, 1, 1, timeout=15)

    seen = sorted((v for v in watcher.of("viewers") if v["stream_id"] == 1),
                  key=lambda v: v["at"])
    gaps = [(a["count"], b["at"] - a["at"]) for a, b in itertools.pairwise(seen)]
    assert all(gap >= interval_ms(count) for count, gap in gaps), gaps
    # The bound did apply: a room above the threshold waited longer than the base interval
    # (8 viewers: capped at the max; the leaves came every 0.1 s, so the next count was due).
    assert any(count == 8 and gap >= MAX_MS for count, gap in gaps), gaps
    assert all(a["count"] != b["count"] for a, b in itertools.pairwise(seen)), seen
