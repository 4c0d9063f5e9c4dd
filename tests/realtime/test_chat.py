"""Chat on a real gateway: policy, normalisation, masking, limits, history, busy-room batching."""

from __future__ import annotations

import asyncio

from tests.realtime.clients import Client, World
from tests.realtime.conftest import GatewayFactory


async def test_chat_policy_text_rules_and_history(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    _, url = gateway_factory(BANNED_WORDS='["fuck", "壞蛋"]')
    await world.stream(1)
    guest = await Client("guest").connect(url)
    ann = await Client("ann").connect(url, world.token(10, "Ann"))
    bob = await Client("bob").connect(url, world.token(11, "Bob"))
    clients.extend([guest, ann, bob])

    # Must join first; guests cannot chat.
    not_joined = await ann.call("chat", {"stream_id": 1, "text": "hi"})
    assert not_joined["error"]["code"] == "forbidden"
    await asyncio.gather(guest.join(1), ann.join(1), bob.join(1))
    as_guest = await guest.call("chat", {"stream_id": 1, "text": "hi"})
    assert as_guest == {"ok": False,
                        "error": {"code": "unauthorized", "message": "sign in to chat"}}

    # Length is counted after trimming and stripping control characters.
    # Invisible-only text (zero-width, fillers, a lone bidi override) is refused too.
    for bad in ["", "   ", "\x00\x07", "x" * 201, "\u200b\u200d", "\u3164", "\u202e "]:
        ack = await ann.call("chat", {"stream_id": 1, "text": bad})
        assert ack["error"]["code"] == "invalid", bad
    ok = await ann.call("chat", {"stream_id": 1, "text": "  cafe\u0301\x00 é\nok " + "y" * 150})
    assert ok["ok"] and isinstance(ok["id"], str)
    message = (await bob.wait_for(lambda: bob.chats(1)))[0]
    assert message["text"] == "café é ok " + "y" * 150  # NFC, control stripped, newline -> space
    assert message["user"] == {"id": 10, "name": "Ann"}
    assert message["id"] == ok["id"] and message["stream_id"] == 1
    assert isinstance(message["ts"], int) and message["seq"] == ok["seq"]

    # Banned words are masked, whatever the width, case, separators or repeats.
    full_width_fu = "\uff26\uff35"
    await ann.call("chat", {"stream_id": 1, "text": f"what the {full_width_fu}.u.uCK man"})
    await ann.call("chat", {"stream_id": 1, "text": "你是壞 蛋嗎"})
    texts = [m["text"] for m in await bob.wait_for(lambda: len(bob.chats(1)) >= 3 and
                                                   bob.chats(1))]
    assert texts[1] == "what the ******** man"
    assert texts[2] == "你是* *嗎"

    # A late joiner gets the history with seqs; the ack seq covers it.
    late = await Client("late").connect(url, world.token(12, "Late"))
    clients.append(late)
    ack = await late.join(1)
    assert [m["text"] for m in ack["recent_messages"]] == texts
    assert ack["seq"] == ack["recent_messages"][-1]["seq"]


async def test_rate_limit_slow_mode_and_ended_stream(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    _, url = gateway_factory(CHAT_RATE_LIMIT="3/10 seconds")
    await world.stream(1)
    await world.stream(2, status="ended")
    ann = await Client("ann").connect(url, world.token(10, "Ann"))
    clients.append(ann)
    await ann.join(1)
    acks = [await ann.call("chat", {"stream_id": 1, "text": f"m{i}"}) for i in range(4)]
    assert [a["ok"] for a in acks] == [True, True, True, False]
    assert acks[3]["error"]["code"] == "rate_limited"

    # An ended stream can be joined (read-only) but not chatted in.
    ack = await ann.join(2)
    assert ack["status"] == "ended"
    ended = await ann.call("chat", {"stream_id": 2, "text": "hello?"})
    assert ended["error"]["code"] == "forbidden"

    # Unknown stream.
    unknown = await ann.call("join", {"stream_id": 999})
    assert unknown["error"]["code"] == "not_found"


async def test_busy_room_gets_batches_in_seq_order(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    """Past the busy threshold messages arrive as `chat_batch`es from both nodes' senders."""
    env = {"CHAT_RATE_LIMIT": "1000/second", "CHAT_BUSY_THRESHOLD": "3"}
    (_, url_a), (_, url_b) = gateway_factory.many("a", "b", **env)
    await world.stream(1)
    senders = [await Client(f"s{i}").connect(url_a if i % 2 else url_b, world.token(20 + i))
               for i in range(4)]
    watcher = await Client("watcher").connect(url_a)
    clients.extend([*senders, watcher])
    for c in [*senders, watcher]:
        await c.join(1)

    async def burst(c: Client, i: int) -> list[int]:
        return [(await c.call("chat", {"stream_id": 1, "text": f"{i}-{k}"}))["seq"]
                for k in range(10)]

    sent = sorted(s for seqs in await asyncio.gather(*(burst(c, i) for i, c in
                                                      enumerate(senders))) for s in seqs)
    received = await watcher.wait_for(lambda: len(watcher.chats(1)) >= 40 and watcher.chats(1))
    assert sorted(m["seq"] for m in received) == sent  # each message once, with its own seq
    batches = watcher.of("chat_batch")
    assert batches, "a busy room must get chat_batch events"
    for batch in batches:
        seqs = [m["seq"] for m in batch["messages"]]
        assert seqs == sorted(seqs) and batch["seq"] == seqs[-1] and batch["stream_id"] == 1
    assert len(batches) + len(watcher.of("chat")) < 40  # coalesced
