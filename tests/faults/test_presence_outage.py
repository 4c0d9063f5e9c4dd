"""A presence batch that fails while Redis is away is written again, in order (issue 20).

realtime/presence_writes.py keeps a failed batch queued ahead of anything newer and writes it
again once Redis answers. Order is what keeps a room's count right: a viewer whose join was
counted in the failed batch and who left afterwards must end up *not* counted, which only the
order add-then-remove gives (the reverse leaves a viewer counted for ever while the node lives).

A real gateway on a private redis-server (tests/helpers/private_servers.py). To catch a join's
add in flight, Redis first pauses writes (`CLIENT PAUSE ... WRITE`: reads still answer, so the
join reads its stream and blocks on its presence write); then viewers leave, the joiner too
(their removals queue behind its add), and Redis goes away (a clean shutdown: the AOF keeps
what was written before) with the add's batch still waiting. That batch fails, the join is
answered `unavailable` (an ack, not silence), and once Redis is back the node writes the
whole queue in order: the room ends at exactly the viewers still there.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from realtime import rooms
from shared.tokens import TokenIssuer
from tests.faults.conftest import books
from tests.helpers.private_servers import PrivateRedis, private_redis
from tests.helpers.procs import Proc, free_port, spawn, wait_http
from tests.helpers.waiting import until, until_true
from tests.realtime.clients import Client, World

pytestmark = pytest.mark.timeout(90)

STREAM = 7
VIEWERS = 12
LEAVERS = 5  # of the viewers, leave while Redis is away


@pytest.fixture
def presence_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def private_client(presence_redis: PrivateRedis) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis(port=presence_redis.port, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def world(private_client: aioredis.Redis, jwt_keys: tuple[str, str]) -> World:
    """Stream data on the private Redis, written as commerce writes it."""
    return World(private_client, TokenIssuer(*jwt_keys, issuer="livecommerce",
                                             audience="livecommerce", ttl_s=300))


@pytest.fixture
def node(service_env: dict[str, str], presence_redis: PrivateRedis) -> Iterator[tuple[Proc, str]]:
    port = free_port()
    # No viewers tick and no heartbeat during the test: their scripts would wait on the paused
    # Redis too, and the test must see the join's presence write waiting, not one of theirs.
    quiet = {"VIEWERS_BROADCAST_INTERVAL_S": "3600", "PRESENCE_TTL_S": "3600"}
    with spawn([sys.executable, "-m", "realtime", "--port", str(port), "--node-id", "pnode"],
               name="gateway", env={**service_env, **quiet, "REDIS_URL": presence_redis.url}
               ) as proc:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc, timeout=30)
        yield proc, f"http://127.0.0.1:{port}"


async def _presence_write_paused(redis: aioredis.Redis) -> bool:
    """The node's presence batch is waiting on Redis: postponed by the pause (CLIENT LIST flag
    `b`). Its command is the presence script (`evalsha`), or the `SADD` of the node's room set
    when the room is new to the node."""
    return any(c.get("cmd") in ("sadd", "evalsha") and "b" in c.get("flags", "")
               for c in await redis.client_list())


async def test_a_presence_batch_failed_by_a_redis_outage_is_retried_in_order(
    node: tuple[Proc, str], presence_redis: PrivateRedis,
    private_client: aioredis.Redis, world: World,
) -> None:
    proc, url = node
    await world.stream(STREAM)
    viewers = [Client(f"v{i}") for i in range(VIEWERS)]
    late = Client("late")
    try:
        await asyncio.gather(*(v.connect(url) for v in viewers))
        await asyncio.gather(*(v.join(STREAM) for v in viewers))
        assert await private_client.hlen(rooms.viewers(STREAM)) == VIEWERS
        await late.connect(url)
        stayer = await Client("stayer").connect(url)
        viewers.append(stayer)

        # Writes pause; the late viewer's join reads the stream and then waits on its add.
        late_member = f"g:{late.sio.get_sid('/')}"
        stayer_member = f"g:{stayer.sio.get_sid('/')}"
        await private_client.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
        late_join = asyncio.ensure_future(late.sio.call("join", {"stream_id": STREAM}))
        await until(lambda: _presence_write_paused(private_client),
                    "the join's presence write to wait on the paused Redis", timeout=20)
        # Queued behind that add: the leavers' removals, then the late viewer's own.
        await asyncio.gather(*(v.close() for v in viewers[:LEAVERS]))
        await late.close()
        late_join.cancel()  # its ack has no socket to go to any more
        presence_redis.stop()  # away, with the add's batch in flight: it fails
        await until_true(lambda: "presence_write_retrying" in proc.log(),
                         "the node to log the failed batch", timeout=20, every=0.1)
        # A join while Redis is away is answered (retry later), not left without an ack.
        ack = await stayer.sio.call("join", {"stream_id": STREAM}, timeout=30)
        assert not ack["ok"] and ack["error"]["code"] == "unavailable", ack

        await asyncio.to_thread(presence_redis.start)
        expected = VIEWERS - LEAVERS
        counted = -1
        for _ in range(300):  # bounded for a loaded machine; normally settled within a second
            with contextlib.suppress(RedisConnectionError):
                counted = await private_client.hlen(rooms.viewers(STREAM))
                if counted == expected:
                    break
            await asyncio.sleep(0.1)
        members = await private_client.hkeys(rooms.viewers(STREAM))
        node_hash = await private_client.hkeys(rooms.node_viewers(STREAM, "pnode"))
        books("presence across a Redis outage", viewers=VIEWERS, left_during_outage=LEAVERS + 1,
              counted_after=counted,
              join_during_outage=ack["error"]["code"])
        assert counted == expected, f"{counted} counted, {expected} still there\n{proc.describe()}"
        assert late_member not in members, "the late viewer's add was written after its removal"
        assert sorted(node_hash) == sorted(members), "the node's hash holds the room's members"
        # And the room goes on counting: the viewer refused during the outage joins now, and
        # is the only one added.
        joined = await stayer.join(STREAM)
        assert joined["viewers"] == expected + 1, joined
        assert stayer_member in await private_client.hkeys(rooms.viewers(STREAM))
        proc.check_alive()
    finally:
        await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)

