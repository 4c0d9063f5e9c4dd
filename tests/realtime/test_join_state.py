"""A join's ack is read by the presence batch that counts the joiner (realtime/presence.py,
realtime/presence_writes.py, realtime/roomstate.py): one round trip instead of a batch and then
a read of its own (BENCHMARKS.md, issue 20, session 11).

What must hold: the state a joiner gets is read after its own add and after every change queued
before it, so its `viewers` counts itself and every earlier joiner; concurrent joiners of a
batch each get their own room's state; a second socket of a member already counted gets a count
that includes the member, even while the first socket's add is still in flight; a failed batch
fails its joiners (`unavailable`) and its changes are written again. On a real Redis (and, in
the suite's cluster pass, on the Redis Cluster: rooms on several slots in one batch).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
import socketio

from realtime import rooms, roomstate
from realtime.presence import Presence
from realtime.presence_writes import ADD, REMOVE, PresenceWrites
from realtime.sequence import RoomEvents
from shared.settings import GatewaySettings
from tests.realtime.clients import Client, World
from tests.realtime.conftest import GatewayFactory


@pytest.fixture
async def node(aredis: aioredis.Redis) -> AsyncIterator[Presence]:
    """One gateway node's presence on the test Redis, stopped after the test."""
    events = RoomEvents(socketio.AsyncServer(async_mode="asgi"), aredis)
    presence = Presence(settings=GatewaySettings(), redis=aredis, room_events=events,
                        node_id="n1")
    try:
        yield presence
    finally:
        await presence.stop()


async def test_each_joiner_of_a_batch_gets_the_state_with_itself_and_every_earlier_joiner(
    aredis: aioredis.Redis, node: Presence,
) -> None:
    await aredis.set(rooms.pin(1), orjson.dumps({"id": 5, "name": "mug"}))
    await aredis.rpush(rooms.chat_history(1), orjson.dumps({"id": "m1", "text": "hi"}))
    await aredis.set(rooms.key(1, "seq"), 41)
    replies = await asyncio.gather(*(node.add(1, f"g:{i}") for i in range(40)))
    states = [roomstate.decode(r) for r in replies]
    for i, state in enumerate(states):
        # Joiner i was queued after joiners 0..i-1: its batch holds them all.
        assert state["viewers"] >= i + 1, (i, state["viewers"])
        assert state["pinned"] == {"id": 5, "name": "mug"}
        assert state["recent_messages"] == [{"id": "m1", "text": "hi"}]
        assert state["seq"] == 41
    assert states[-1]["viewers"] == 40
    assert len({s["epoch"] for s in states}) == 1
    # The epoch is the room's, as `resume` and the events carry it.
    assert states[0]["epoch"] == int(await node.room_events.epoch(1))
    assert await aredis.hlen(rooms.viewers(1)) == 40


async def test_joiners_of_several_rooms_in_one_batch_get_their_own_rooms_state(
    aredis: aioredis.Redis, node: Presence,
) -> None:
    await asyncio.gather(*(node.add(2, f"g:pre{i}") for i in range(3)))
    await aredis.set(rooms.key(3, "seq"), 7)
    # One batch: adds in rooms 1, 2 and 3 and a removal in room 4 (no state wanted there).
    await node.add(4, "g:gone")
    node.remove(4, "g:gone")
    replies = await asyncio.gather(
        node.add(1, "g:a"), node.add(2, "g:b"), node.add(3, "g:c"), node.add(1, "g:d")
    )
    one, two, three, one_again = (roomstate.decode(r) for r in replies)
    assert one["viewers"] == 2 and one_again["viewers"] == 2
    assert two["viewers"] == 4
    assert three["viewers"] == 1 and three["seq"] == 7
    assert one["seq"] == 0 and one["pinned"] is None and one["recent_messages"] == []
    assert await aredis.hlen(rooms.viewers(4)) == 0


async def test_a_second_socket_of_a_member_gets_a_count_that_includes_the_member(
    node: Presence,
) -> None:
    # Both tabs at once: the second does not write (the member is counted once) but must
    # not read the room before the first tab's add is written.
    first, second = await asyncio.gather(node.add(1, "u:7"), node.add(1, "u:7"))
    assert roomstate.decode(first)["viewers"] == 1
    assert roomstate.decode(second)["viewers"] == 1
    node.remove(1, "u:7")  # one tab leaves: still counted
    assert roomstate.decode(await node.add(1, "g:x"))["viewers"] == 2


class FlakyWrites:
    """A batch writer that fails its first call and records what each call was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[int, list[tuple[str, str]]], set[int]]] = []

    async def __call__(
        self, batch: dict[int, list[tuple[str, str]]], wanted: set[int]
    ) -> dict[int, Any]:
        self.calls.append(({room: list(ops) for room, ops in batch.items()}, set(wanted)))
        await asyncio.sleep(0)
        if len(self.calls) == 1:
            raise ConnectionError("redis down")
        return {room: f"state of {room} after {len(batch[room])}" for room in wanted}


async def test_a_failed_batch_fails_its_joiners_and_is_written_again() -> None:
    writer = FlakyWrites()
    writes = PresenceWrites(write=writer, retry_s=0.01)
    try:
        joins = [asyncio.ensure_future(writes.add(1, "g:a")),
                 asyncio.ensure_future(writes.read(2))]
        writes.remove(3, "g:z")
        results = await asyncio.gather(*joins, return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results), results
        assert writer.calls[0] == ({1: [(ADD, "g:a")], 2: [], 3: [(REMOVE, "g:z")]}, {1, 2})
        # A joiner after the failure gets its state from the retried batch, which carries the
        # failed changes first; the failed read-only room is not read again for nobody.
        assert await writes.add(1, "g:b") == "state of 1 after 2"
        assert writer.calls[1] == ({1: [(ADD, "g:a"), (ADD, "g:b")], 3: [(REMOVE, "g:z")]}, {1})
    finally:
        await writes.stop()


async def test_an_add_after_stop_does_not_hang() -> None:
    writes = PresenceWrites(write=FlakyWrites())
    await writes.stop()
    with pytest.raises(asyncio.CancelledError):
        await writes.add(1, "g:a")


async def test_a_joiner_whose_batch_is_in_flight_at_stop_does_not_hang() -> None:
    started = asyncio.Event()

    async def never_answers(batch: dict[int, list[tuple[str, str]]], wanted: set[int]) -> Any:
        started.set()
        await asyncio.Event().wait()

    writes = PresenceWrites(write=never_answers)
    join = asyncio.ensure_future(writes.add(1, "g:a"))
    await started.wait()
    await writes.stop()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(join, 5)


async def test_concurrent_joiners_through_the_gateway_each_get_a_count_with_themselves(
    gateway_factory: GatewayFactory, world: World, aredis: aioredis.Redis,
    clients: list[Client],
) -> None:
    _, url = gateway_factory("joinstate")
    await world.stream(1)
    viewers = [Client(f"v{i}") for i in range(30)]
    tabs = [Client("tab1"), Client("tab2")]  # one signed-in user, two sockets
    clients.extend([*viewers, *tabs])
    await asyncio.gather(*(c.connect(url) for c in viewers))
    token = world.token(8, "Eight")
    await asyncio.gather(*(t.connect(url, token) for t in tabs))
    acks = await asyncio.gather(*(c.join(1) for c in [*viewers, *tabs]))
    assert all(1 <= ack["viewers"] <= 31 for ack in acks), [a["viewers"] for a in acks]
    assert max(ack["viewers"] for ack in acks) == 31  # 30 guests + the user's two tabs once
    assert await aredis.hlen(rooms.viewers(1)) == 31
    for ack in acks:
        assert set(ack) == {"ok", "viewers", "pinned", "recent_messages", "seq", "epoch",
                            "status"}
    # A socket joining again gets the room's state read on its own, the same shape.
    again = await viewers[0].join(1)
    assert again["viewers"] == 31 and again["epoch"] == acks[0]["epoch"]
