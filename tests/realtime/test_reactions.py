"""Reactions from two nodes coalesce into one `reactions` event per room per window."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from realtime import rooms
from tests.helpers.waiting import until
from tests.realtime.clients import Client, World, events_out
from tests.realtime.conftest import GatewayFactory


async def test_reactions_are_counted_once_and_coalesced_across_nodes(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    env = {"REACTION_WINDOW_MS": "200", "REACT_RATE_LIMIT": "1000/second"}
    (_, url_a), (_, url_b) = gateway_factory.many("a", "b", **env)
    await world.stream(1)
    await world.stream(2)
    reactors = [await Client(f"r{i}").connect(url_a if i % 2 else url_b) for i in range(4)]
    watchers = [await Client(f"w{u[-2:]}").connect(u) for u in (url_a, url_b)]
    other_room = await Client("other").connect(url_a)
    clients.extend([*reactors, *watchers, other_room])
    for c in [*reactors, *watchers]:
        await c.join(1)
    await other_room.join(2)

    kinds = ["heart", "fire", "clap"]

    async def burst(c: Client, i: int) -> Counter[str]:
        sent: Counter[str] = Counter()
        for k in range(10):
            kind = kinds[(i + k) % 3]
            assert await c.call("react", {"stream_id": 1, "kind": kind}) == {"ok": True}
            sent[kind] += 1
        return sent

    # Bursts from both nodes until several windows have been emitted (however fast the machine
    # is), so windows follow one another while both nodes push counts.
    # Each round lasts at least 50 ms, so a reactor sends at most 200 a second, well under the
    # limit, however fast the machine answers (unpaced, a quiet machine's sub-millisecond acks
    # reached the limit before the fourth window arrived).
    total: Counter[str] = Counter()
    while len(watchers[0].of("reactions")) < 4:
        rounds = await asyncio.gather(
            asyncio.sleep(0.05), *(burst(c, i) for i, c in enumerate(reactors)))
        for sent in rounds[1:]:
            total += sent
        assert sum(total.values()) < 40 * 200, "reactions are not being emitted"

    def received(c: Client) -> Counter[str]:
        got: Counter[str] = Counter()
        for r in c.of("reactions"):
            got.update(r["counts"])
        return got

    for w in watchers:
        await w.wait_for(lambda w=w: received(w) == total)
    # Nothing more arrives: no window is open or waiting to be drained (no lock, no pending
    # counts), and each watcher got every `reactions` the nodes counted as emitted.
    async def settled() -> bool:
        if await world.redis.exists(rooms.key(1, "reactions"), rooms.key(1, "rlock")):
            return False
        emitted = sum([await events_out(u, "reactions") for u in (url_a, url_b)])
        return all(len(w.of("reactions")) == emitted for w in watchers)

    await until(settled, "every reaction window emitted and received", timeout=15)
    for w in watchers:
        assert received(w) == total  # no double counting across nodes
        events = w.of("reactions")
        assert all(e["stream_id"] == 1 and e["window_ms"] == 200 for e in events)
        # One emitter per window: windows open at least window_ms apart on Redis' clock (`at`),
        # whenever the events themselves were delivered.
        opened = sorted(e["at"] for e in events)
        assert all(b - a >= 200 for a, b in itertools.pairwise(opened)), opened
    assert watchers[0].of("reactions") == watchers[1].of("reactions")
    assert other_room.of("reactions") == []


async def test_react_rules(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    _, url = gateway_factory(REACT_RATE_LIMIT="5/minute")
    await world.stream(1)
    await world.stream(2, status="ended")
    guest = await Client("guest").connect(url)
    clients.append(guest)
    ack = await guest.call("react", {"stream_id": 1, "kind": "heart"})
    assert ack["error"]["code"] == "forbidden"  # join first
    await guest.join(1)
    await guest.join(2)
    assert (await guest.call("react", {"stream_id": 2, "kind": "heart"}))["error"]["code"] == \
        "forbidden"  # ended
    assert (await guest.call("react", {"stream_id": 1, "kind": "poop"}))["error"]["code"] == \
        "invalid"
    acks = [await guest.call("react", {"stream_id": 1, "kind": "wow"}) for _ in range(6)]
    assert [a["ok"] for a in acks] == [True] * 5 + [False]
    assert acks[5]["error"]["code"] == "rate_limited"
    event = (await guest.wait_for(lambda: guest.of("reactions")))[0]
    assert event["counts"] == {"wow": 5}
