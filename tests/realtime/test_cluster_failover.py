"""All gateway data on the private Redis Cluster (`REDIS_URL=redis+cluster://...`), and the
master holding the event stream SIGKILLed mid-stream.

After its replica takes over (node timeout 2 s): chat crosses nodes again, the viewer count
follows joins, and every relayed event reaches the room exactly once, those published before
the kill (acknowledged or still pending in the consumer group, which the replica has) and those
published after. The killed server is started again by the project's script (it rejoins as a
replica, and the script returns once it has synced). Runs only with
TEST_REDIS_URL=redis+cluster:// (on one Redis there is no master to fail over): in `make test`'s
cluster pass. It used to fail in about a fifth of runs, for three reasons now fixed in the relay
(docs/operations.md, Redis Cluster, "Relayed events across a failover").
The time from the SIGKILL to chat crossing nodes again is printed (shown with `-s`, or when the
test fails).
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import redis as sync_redis
import socketio

from commerce.auth.revocations import RevocationGuard
from commerce.context import AppContext
from shared import events as ev
from shared.bus import RedisStreamBus
from shared.redis import cluster_nodes, is_cluster, make_redis
from tests.conftest import REDIS_URL
from tests.helpers import redis_cluster as cluster_servers
from tests.realtime.clients import Client, World, marker, viewers_of
from tests.realtime.conftest import GatewayFactory

pytestmark = pytest.mark.skipif(
    not is_cluster(REDIS_URL), reason="needs the Redis Cluster pass (TEST_REDIS_URL=redis+cluster)"
)


def _owner(port: int, key: str) -> int:
    """The port of the master serving `key`'s slot."""
    probe = sync_redis.Redis(port=port)
    try:
        slot = int(probe.execute_command("CLUSTER", "KEYSLOT", key))
        return next(int(s[2][1]) for s in probe.execute_command("CLUSTER", "SLOTS")
                    if s[0] <= slot <= s[1])
    finally:
        probe.close()


def _paid(order_id: int) -> ev.OrderPaid:
    return ev.OrderPaid(stream_id=1, data=ev.OrderStateData(
        order_id=order_id, buyer_id=7, status="paid"))


async def _publish(bus: RedisStreamBus, order_id: int, deadline: float) -> None:
    """Publish once (dedup key: the order), retrying while the failover is under way."""
    while True:
        try:
            await bus.publish(_paid(order_id), dedup_key=f"t:{order_id}")
            return
        except Exception:
            assert asyncio.get_running_loop().time() < deadline, "no publish after failover"
            await asyncio.sleep(0.2)


async def _connect_again(url: str, token: str, deadline: float) -> Client:
    """Connect as a client does after a failover: a signed-in connect is refused `unavailable`
    until an API has restored the revocation marks into a promoted replica (within a second of
    its promotion, when the run mark's master was the one killed); it connects again."""
    while True:
        client = Client("third")
        try:
            return await client.connect(url, token)
        except socketio.exceptions.ConnectionError:
            await client.close()
            assert asyncio.get_running_loop().time() < deadline, "no connect after failover"
            await asyncio.sleep(0.5)


async def test_chat_counts_and_relayed_events_survive_the_stream_masters_death(
    gateway_factory: GatewayFactory, world: World, clients: list[Client], redis_url: str,
    channel: str, ctx: AppContext,
) -> None:
    (_, url_1), (_, url_2) = gateway_factory.many(
        "f1", "f2", CHAT_RATE_LIMIT="1000/second", RELAY_LEASE_MS="1500"
    )
    await world.stream(1, host_id=101)
    sender = await Client("sender").connect(url_1, world.token(11))
    listener = await Client("listener").connect(url_2, world.token(12))
    clients.extend([sender, listener])
    for c in (sender, listener):
        await c.join(1)
    await viewers_of(listener, 1, 2)

    # What every commerce API runs: if the killed master held the token revocations' run mark,
    # the promoted replica is a new Redis run and gateways refuse signed-in connects until the
    # marks are restored into it (within a second).
    guard = RevocationGuard(ctx)
    guarding = asyncio.create_task(guard.run())
    stream = f"events-{channel}"
    bus = RedisStreamBus(make_redis(redis_url), stream=stream)
    loop = asyncio.get_running_loop()
    try:
        for order_id in range(1, 6):  # before the kill: relayed (some maybe still pending)
            await _publish(bus, order_id, loop.time() + 5)
        port = cluster_nodes(redis_url)[0].port
        killed = _owner(port, stream)
        os.kill(cluster_servers.pid(killed), signal.SIGKILL)
        killed_at = loop.time()
        try:
            deadline = loop.time() + 30
            for order_id in range(6, 11):  # during and after the failover
                await _publish(bus, order_id, deadline)
            published_at = loop.time() - killed_at
            # Chat crosses nodes again once the room's data and channel are served.
            n = 0
            while not any(m["text"].startswith("retry") for m in listener.chats(1)):
                n += 1
                with_error = await sender.call("chat", {"stream_id": 1, "text": f"retry {n}"})
                assert loop.time() < deadline, f"no chat after failover: {with_error}"
                await asyncio.sleep(0.5)
            print(f"\nfailover: the stream took events again {published_at:.1f} s and chat "
                  f"crossed nodes again {loop.time() - killed_at:.1f} s after the SIGKILL")
            await sender.call("chat", {"stream_id": 1, "text": "after"})
            await listener.wait_for(lambda: "after" in {m["text"] for m in listener.chats(1)})
            # Counts follow joins.
            third = await _connect_again(url_1, world.token(13), deadline)
            clients.append(third)
            await third.join(1)
            await viewers_of(listener, 1, 3, timeout=10)
            # Every relayed event once: none lost, none twice.
            await listener.wait_for(lambda: len(listener.of("order_paid")) >= 10, timeout=20)
            await marker(sender, 1, [listener])  # a duplicate would have arrived before it
            ids = sorted(e["order_id"] for e in listener.of("order_paid"))
            assert ids == list(range(1, 11))
            alive = next(p for p in range(port, port + 6) if p != killed)
            assert _owner(alive, stream) != killed  # a replica took the stream's slot over
        finally:
            cluster_servers.start(port)
    finally:
        guard.stop()
        await guarding
        await bus.close()
