"""Adaptive chat coalescing (issue 20) with real socket.io clients on a real gateway: a quiet
room's message goes out at once as its own `chat`; past `chat_busy_threshold` messages in one
`chat_batch_window_ms` the room switches to `chat_batch`; when it calms down it is back to single
`chat`s. Per-room order (`seq`) holds across the switches, and one busy room does not batch
another, quiet one. A burst that finds the room's turn taken is queued for a batch without
waiting for the turn (issue 20: one process at 300 msg/s collapsed waiting for it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtime.app import CTX
from realtime.chat import Chat
from shared.settings import GatewaySettings
from tests.realtime.clients import Client, World
from tests.realtime.conftest import GatewayFactory, in_process_gateway

THRESHOLD = 3
WINDOW_MS = 100


def _arrived(client: Client, stream_id: int) -> list[tuple[str, list[int]]]:
    """Chat events of one room in arrival order: (event name, the seqs it carried)."""
    out: list[tuple[str, list[int]]] = []
    for event, data in client.events:
        if event == "chat" and data["stream_id"] == stream_id:
            out.append(("chat", [data["seq"]]))
        elif event == "chat_batch" and data["stream_id"] == stream_id:
            out.append(("chat_batch", [m["seq"] for m in data["messages"]]))
    return out


async def test_quiet_busy_and_calm_again_keep_room_order(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    _, url = gateway_factory(
        CHAT_RATE_LIMIT="1000/second", CHAT_BUSY_THRESHOLD=str(THRESHOLD),
        CHAT_BATCH_WINDOW_MS=str(WINDOW_MS),
    )
    await world.stream(1)
    await world.stream(2)
    senders = [await Client(f"s{i}").connect(url, world.token(30 + i)) for i in range(3)]
    watcher = await Client("watcher").connect(url)
    clients.extend([*senders, watcher])
    for c in [*senders, watcher]:
        await c.join(1)
        await c.join(2)

    async def say(c: Client, stream_id: int, text: str) -> int:
        ack: dict[str, Any] = await c.call("chat", {"stream_id": stream_id, "text": text})
        assert ack["ok"], ack
        return int(ack["seq"])

    # Quiet: one message per window, each arrives alone as `chat`.
    quiet = []
    for k in range(3):
        quiet.append(await say(senders[k], 1, f"quiet {k}"))
        await watcher.wait_for(lambda n=len(quiet): len(watcher.chats(1)) >= n)
        await asyncio.sleep(2 * WINDOW_MS / 1000)
    assert _arrived(watcher, 1) == [("chat", [s]) for s in quiet]

    # Busy: 3 senders x 8 messages at once in room 1, while room 2 hears one message per window.
    async def burst(i: int) -> list[int]:
        return [await say(senders[i], 1, f"busy {i}-{k}") for k in range(8)]

    async def trickle() -> list[int]:
        seqs = []
        for k in range(3):
            seqs.append(await say(senders[0], 2, f"room two {k}"))
            await asyncio.sleep(2 * WINDOW_MS / 1000)
        return seqs

    *bursts, room_two = await asyncio.gather(*(burst(i) for i in range(3)), trickle())
    busy = sorted(s for seqs in bursts for s in seqs)
    await watcher.wait_for(lambda: len(watcher.chats(1)) >= len(quiet) + len(busy))
    await watcher.wait_for(lambda: len(watcher.chats(2)) >= len(room_two))

    # Calm again: after the window passes, a message is a single `chat` once more.
    await asyncio.sleep(3 * WINDOW_MS / 1000)
    calm = await say(senders[1], 1, "calm")
    await watcher.wait_for(lambda: len(watcher.chats(1)) >= len(quiet) + len(busy) + 1)

    events = _arrived(watcher, 1)
    received = [s for _, seqs in events for s in seqs]
    assert received == [*quiet, *busy, calm]  # every message once, in room order
    batches = [seqs for name, seqs in events if name == "chat_batch"]
    assert batches, "a busy room must switch to chat_batch"
    assert sum(len(b) for b in batches) > len(busy) // 2  # most of the burst was coalesced
    assert events[-1] == ("chat", [calm])
    # Room 2 stayed quiet the whole time: single `chat`s in its own order.
    assert _arrived(watcher, 2) == [("chat", [s]) for s in room_two]


@pytest.fixture
async def in_process(
    redis_url: str, channel: str, jwt_keys: tuple[str, str], clean_redis: None
) -> AsyncIterator[tuple[str, Chat]]:
    """A gateway in this process (real Redis, sharded manager), and its chat service."""
    settings = GatewaySettings(
        app_env="test", redis_url=redis_url, jwt_public_key=jwt_keys[1],
        socketio_channel=channel, events_stream=f"events-{channel}",
        chat_rate_limit="1000/second", chat_busy_threshold=THRESHOLD,
        chat_batch_window_ms=WINDOW_MS, log_level="WARNING",
        _env_file=None,  # type: ignore[call-arg]
    )
    async with in_process_gateway(settings) as (url, app):
        yield url, app[CTX].sio.namespace_handlers["/"].services.chat


async def test_a_burst_does_not_wait_for_a_slow_turn(
    in_process: tuple[str, Chat], world: World, clients: list[Client]
) -> None:
    """While one message of a room holds the room's turn on a node (its stamp or emit slow, as
    on a loaded process), the next messages of a burst used to queue for that turn one by one:
    each then got stamped alone in its window, so the room never looked busy and never batched,
    and the batch flush queued behind all of them. Now only `chat_busy_threshold` take turns;
    the rest are stamped into the batch queue at once and acked without waiting."""
    url, chat = in_process
    await world.stream(1)
    senders = [await Client(f"s{i}").connect(url, world.token(40 + i)) for i in range(3)]
    watcher = await Client("watcher").connect(url)
    clients.extend([*senders, watcher])
    for c in [*senders, watcher]:
        await c.join(1)

    burst = 12
    waiting_for_turn = THRESHOLD - 1  # the test's own hold is the first of the threshold
    async with chat._order.turn(1):  # a slow stamp+emit in progress
        calls = [
            asyncio.ensure_future(senders[k % 3].call("chat", {"stream_id": 1, "text": f"b{k}"}))
            for k in range(burst)
        ]
        acked_while_held = await watcher.wait_for(
            lambda: [c for c in calls if c.done()]
            if sum(c.done() for c in calls) >= burst - waiting_for_turn else None
        )
        assert len(acked_while_held) == burst - waiting_for_turn
        assert all(c.result()["ok"] for c in acked_while_held)
        # Nothing went out past the held turn: the batch's flush takes the turn too.
        assert watcher.chats(1) == []
    acks = await asyncio.gather(*calls)
    assert all(a["ok"] for a in acks), acks
    seqs = sorted(int(a["seq"]) for a in acks)
    await watcher.wait_for(lambda: len(watcher.chats(1)) >= burst)
    events = _arrived(watcher, 1)
    assert [s for _, got in events for s in got] == seqs  # every message once, in room order
    forced = {int(c.result()["seq"]) for c in acked_while_held}
    assert forced <= {s for name, got in events if name == "chat_batch" for s in got}
