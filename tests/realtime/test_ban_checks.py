"""Concurrent signed-in joins of one room share the ban check (`Moderation.is_banned`: one
`SMISMEMBER` per round trip): each joiner still gets its own answer, on a real gateway."""

from __future__ import annotations

import asyncio

from realtime import rooms
from tests.realtime.clients import Client, World, connect_all
from tests.realtime.conftest import GatewayFactory


async def test_concurrent_joins_each_get_their_own_ban_answer(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    (_, url), = gateway_factory.many("a")
    await world.stream(1)
    users = list(range(200, 240))
    banned = set(users[::4])
    await world.redis.sadd(rooms.banned(1), *[str(u) for u in banned])
    joiners = await connect_all([(url, world.token(u, f"U{u}")) for u in users])
    clients.extend(joiners)
    acks = await asyncio.gather(*(c.call("join", {"stream_id": 1}) for c in joiners))
    for user, ack in zip(users, acks, strict=True):
        if user in banned:
            assert ack["error"]["code"] == "forbidden", (user, ack)
        else:
            assert ack["ok"] is True, (user, ack)
    # A ban written after those joins is seen by the next join of that user.
    late = users[1]
    await world.redis.sadd(rooms.banned(1), str(late))
    rejoin = await Client("late").connect(url, world.token(late, "Late"))
    clients.append(rejoin)
    assert (await rejoin.call("join", {"stream_id": 1}))["error"]["code"] == "forbidden"
