"""`resume {since_seq}` returns what a reconnecting client missed, batched chat included."""

from __future__ import annotations

from tests.realtime.clients import Client, World
from tests.realtime.conftest import GatewayFactory


async def test_resume_returns_missed_events_in_order(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    _, url = gateway_factory(CHAT_RATE_LIMIT="1000/second", CHAT_BUSY_THRESHOLD="2")
    await world.stream(1, host_id=1, product_ids=[5])
    await world.product(5)
    host = await Client("host").connect(url, world.token(1, "Host"))
    viewer = await Client("viewer").connect(url, world.token(2, "Viewer"))
    clients.extend([host, viewer])
    await host.join(1)
    joined = await viewer.join(1)
    seen, epoch = joined["seq"], joined["epoch"]
    await viewer.close()  # drops off; the room goes on

    await host.call("pin", {"stream_id": 1, "product_id": 5})
    sent = [await host.call("chat", {"stream_id": 1, "text": f"m{i}"}) for i in range(6)]
    await host.wait_for(lambda: len(host.chats(1)) == 6)
    assert host.of("chat_batch"), "past the threshold the messages went out batched"

    back = await Client("back").connect(url, world.token(2, "Viewer"))
    clients.append(back)
    ack = await back.call("resume", {"stream_id": 1, "since_seq": seen})
    assert ack["ok"] and ack["complete"] is True
    missed = ack["missed"]
    assert [m["event"] for m in missed] == ["product_pinned"] + ["chat"] * 6
    assert [m["data"]["id"] for m in missed[1:]] == [s["id"] for s in sent]
    seqs = [m["data"]["seq"] for m in missed]
    assert seqs == list(range(seen + 1, seen + 8))
    assert missed[1]["data"]["text"] == "m0" and missed[1]["data"]["user"]["id"] == 1

    # Nothing new since the last seq; a gap older than the log says so.
    latest = seqs[-1]
    assert await back.call("resume", {"stream_id": 1, "since_seq": latest}) == {
        "ok": True, "missed": [], "complete": True, "epoch": epoch}
    assert {m["data"]["epoch"] for m in missed} == {epoch}
    assert (await back.call("resume", {"stream_id": 404, "since_seq": 0}))["error"]["code"] == \
        "not_found"


async def test_resume_beyond_the_log_is_flagged_incomplete(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    _, url = gateway_factory(CHAT_RATE_LIMIT="1000/second", RESUME_MAX_EVENTS="3")
    await world.stream(1)
    c = await Client("c").connect(url, world.token(1))
    clients.append(c)
    await c.join(1)
    for i in range(5):
        await c.call("chat", {"stream_id": 1, "text": f"m{i}"})
    ack = await c.call("resume", {"stream_id": 1, "since_seq": 0})
    assert [m["data"]["seq"] for m in ack["missed"]] == [3, 4, 5]
    assert ack["complete"] is False


async def test_resume_across_a_reset_answers_reload_with_the_room_state(
    gateway_factory: GatewayFactory, world: World, clients: list[Client]
) -> None:
    """A seq from another epoch, or one the room never reached (its counter was reset), is
    answered with `reload`: the join ack's room state, never `not_found` or a wrong replay."""
    _, url = gateway_factory(CHAT_RATE_LIMIT="1000/second")
    await world.stream(1)
    c = await Client("c").connect(url, world.token(1))
    clients.append(c)
    joined = await c.join(1)
    for i in range(3):
        await c.call("chat", {"stream_id": 1, "text": f"m{i}"})
    same = await c.call("resume", {"stream_id": 1, "since_seq": 1, "epoch": joined["epoch"]})
    assert "reload" not in same and [m["data"]["seq"] for m in same["missed"]] == [2, 3]

    for stale in ({"since_seq": 1, "epoch": joined["epoch"] - 1}, {"since_seq": 579}):
        ack = await c.call("resume", {"stream_id": 1, **stale})
        assert ack["ok"] and ack["missed"] == [] and ack["complete"] is False, ack
        reload = ack["reload"]
        assert reload["seq"] == 3 and reload["epoch"] == joined["epoch"] == ack["epoch"]
        assert [m["text"] for m in reload["recent_messages"]] == ["m0", "m1", "m2"]
        assert reload["status"] == "live" and reload["pinned"] is None
