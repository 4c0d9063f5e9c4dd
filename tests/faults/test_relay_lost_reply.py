"""The relay gets back, at once, entries it was handed but never saw: a read whose reply was
lost, then a connection error.

On a Redis Cluster failover a gateway's `XREADGROUP` can hand entries over (and the replica
learn of it) while its reply never arrives: the master is killed first, or the client closes
the connection under it. The entries then sit in the pending list of a consumer that is alive,
so no other node takes them, and idle-time claiming (`RELAY_CLAIM_IDLE_MS`) handed them out
10-15 s later in the failover test. The relay now reads its own pending entries again after any
failed step (realtime/relay.py). Here on a private `redis-server`: the entries are read under
the relay's consumer name by another connection (the reply the relay never got), then Redis is
restarted under the running relay (a real connection error), with claiming 60 s away.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import redis as sync_redis

from realtime.relay import Relay
from shared import events as ev
from shared.bus import RedisStreamBus
from shared.redis import make_redis
from tests.helpers.private_servers import private_redis
from tests.helpers.waiting import until, until_true

GROUP, CONSUMER = "gateway", "node-1"


def _paid(order_id: int) -> ev.OrderPaid:
    return ev.OrderPaid(stream_id=1, data=ev.OrderStateData(
        order_id=order_id, buyer_id=7, status="paid"))


async def _settled(bus: RedisStreamBus) -> bool:
    return await bus.pending_count(GROUP) == 0


async def test_entries_read_with_the_reply_lost_are_relayed_right_after_a_connection_error(
    tmp_path: Path,
) -> None:
    with private_redis(tmp_path / "redis") as server:
        bus = RedisStreamBus(make_redis(server.url), stream="events")
        handled: list[int] = []

        async def handler(event: ev.DomainEvent) -> None:
            assert isinstance(event, ev.OrderPaid)
            handled.append(event.data.order_id)

        relay = Relay(bus, handler, group=GROUP, consumer=CONSUMER,
                      claim_idle_ms=60_000, block_ms=100)
        running = asyncio.create_task(relay.run())
        try:
            await until_true(lambda: relay._last_claim > 0, "the relay's first step")
            for order_id in (1, 2, 3):
                await bus.publish(_paid(order_id))
            await until_true(lambda: handled == [1, 2, 3], "the relay's normal reads")
            await until(lambda: _settled(bus), "the relay's acks of them")

            # The read whose reply is lost: entries 4-6 added and handed to the relay's
            # consumer in one transaction (the relay's own blocked read gets none of them).
            with sync_redis.Redis(port=server.port) as raw:
                raw.config_set("appendfsync", "always")  # the restart below keeps them
                with raw.pipeline(transaction=True) as tx:
                    for order_id in (4, 5, 6):
                        tx.xadd("events", {"e": ev.encode(_paid(order_id))})
                    tx.xreadgroup(GROUP, CONSUMER, {"events": ">"}, count=10)
                    tx.execute()
                assert raw.xpending("events", GROUP)["pending"] == 3
            # The relay's blocked read fails, and its client's two quick resends with it (down
            # longer than they wait): the step fails with a connection error, as when a
            # cluster master is killed and its replica not yet promoted.
            server.stop()
            await asyncio.sleep(1.0)
            await asyncio.to_thread(server.start)
            back = time.monotonic()
            await until_true(lambda: handled == [1, 2, 3, 4, 5, 6],
                             "the entries read with the reply lost", timeout=10)
            took = time.monotonic() - back
            assert took < 5, f"{took:.1f} s: waited for idle-time claiming"
            await until(lambda: _settled(bus), "the acks", timeout=5)
        finally:
            relay.stop()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await bus.close()
