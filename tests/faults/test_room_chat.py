"""A room's chat while its Redis is SIGKILLed and started again from its AOF.

A gateway node (its own process) on a private Redis (AOF everysec); twelve signed-in chatters
each say a numbered line every 2.5 s (under the per-user limit of 5 per 10 s), staggered so that
a line is said about every 0.2 s, while a listener watches, and the Redis dies for 2 s in the
middle. The books, checked at the end:
- every `chat` call was answered: `ok`, or `{ok: false, error: {code: "unavailable"}}` while
  Redis was away; never a missing ack and never another error;
- every line acknowledged `ok` reached the listener exactly once, and nothing else did;
- chat is accepted again without a restart of the node, within a time the test measures and
  prints;
- the listener's `resume` from the last (epoch, seq) it saw is answered (`reload` across the
  new Redis run, or the missed events), never `not_found`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from commerce.context import AppContext
from commerce.streams import service as stream_service
from tests.commerce.factories import bearer, make_user
from tests.commerce.orders.helpers import make_stream
from tests.faults.conftest import books, marks_restored
from tests.helpers.private_servers import PrivateRedis
from tests.realtime.clients import Client, marker

pytestmark = pytest.mark.timeout(120)

CHATTERS = 12
EVERY_S = 2.5


class Chatter:
    """One signed-in member saying numbered lines until `stop`; every answer is kept."""

    def __init__(self, client: Client, stream_id: int, *, start_after_s: float) -> None:
        self.client = client
        self.start_after_s = start_after_s
        self.stream_id = stream_id
        self.acks: list[tuple[str, float, dict[str, Any] | str]] = []
        self._stop = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        await asyncio.sleep(self.start_after_s)
        n = 0
        while not self._stop.is_set():
            n += 1
            text = f"{self.client.name} line {n}"
            try:
                ack = await self.client.call("chat", {"stream_id": self.stream_id, "text": text})
            except TimeoutError:
                ack = "no ack"
            self.acks.append((text, time.monotonic(), ack))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), EVERY_S)

    async def stop(self) -> None:
        self._stop.set()
        await self.task


def _verdict(ack: dict[str, Any] | str) -> str:
    if not isinstance(ack, dict):
        return ack
    if ack.get("ok"):
        return "ok"
    return str(ack.get("error", {}).get("code"))


async def test_a_rooms_chat_goes_on_across_a_redis_crash(
    fault_api: httpx.AsyncClient, fault_ctx: AppContext, fault_redis: PrivateRedis,
    fault_gateway: str,
) -> None:
    # fault_api: the API's lifespan runs the RevocationGuard, which writes the revocation
    # marks into this fresh Redis (and again after the crash); signed-in connects wait on it.
    seller, _ = await make_user(fault_ctx, role="seller")
    stream_id = await make_stream(fault_ctx, seller.id)
    await stream_service.restore_live_data(fault_ctx)  # the gateway's view, as on create
    users = [await make_user(fault_ctx) for _ in range(CHATTERS + 1)]
    tokens = [bearer(fault_ctx, u)["Authorization"][7:] for u, _ in users]
    await marks_restored(fault_ctx)
    listener = await Client("listener").connect(fault_gateway, tokens[0])
    await listener.join(stream_id)
    members = [await Client(f"chatter{i}").connect(fault_gateway, t)
               for i, t in enumerate(tokens[1:])]
    for m in members:
        await m.join(stream_id)
    chatters = [Chatter(m, stream_id, start_after_s=i * EVERY_S / CHATTERS)
                for i, m in enumerate(members)]

    await listener.wait_for(lambda: len(listener.chats(stream_id)) >= CHATTERS, timeout=15)
    last_seen = listener.chats(stream_id)[-1]
    fault_redis.kill()
    killed_at = time.monotonic()
    await asyncio.sleep(2.0)
    await asyncio.to_thread(fault_redis.start)
    back_at = time.monotonic()

    def accepted_since_back() -> int:
        return sum(1 for c in chatters for _, at, ack in c.acks
                   if at > back_at and _verdict(ack) == "ok")

    # Every chatter has said at least one line since Redis came back (about one period).
    await listener.wait_for(lambda: accepted_since_back() >= CHATTERS, timeout=30)
    first_ok_after = min(at for c in chatters for _, at, ack in c.acks
                         if at > back_at and _verdict(ack) == "ok")
    for c in chatters:
        await c.stop()
    accepted = {text for c in chatters for text, _, ack in c.acks if _verdict(ack) == "ok"}
    # "Nothing else arrives": the listener's own marker line comes after every accepted line.
    await marker(listener, stream_id, [listener])
    received = [m["text"] for m in listener.chats(stream_id) if not m["text"].startswith("marker ")]
    resume = await listener.call("resume", {"stream_id": stream_id,
                                            "since_seq": last_seen["seq"],
                                            "epoch": last_seen["epoch"]})
    for c in [listener, *members]:
        await c.close()

    verdicts = Counter(_verdict(ack) for c in chatters for _, _, ack in c.acks)
    counts = Counter(received)
    books("a room's chat across a Redis crash", answers=dict(verdicts),
          accepted=len(accepted), received=len(received),
          twice=sum(1 for n in counts.values() if n > 1),
          missing=len(accepted - set(counts)), unexpected=len(set(counts) - accepted),
          redis_down_s=round(back_at - killed_at, 2),
          chat_accepted_again_s=round(first_ok_after - back_at, 2),
          resume="reload" if "reload" in resume else ("missed" if resume.get("ok") else resume))
    assert set(verdicts) <= {"ok", "unavailable"}, verdicts
    assert verdicts["unavailable"] > 0, "some lines were said while Redis was down"
    assert verdicts["ok"] >= 2 * CHATTERS
    assert set(counts) == accepted, "every accepted line reached the listener, nothing else"
    assert all(n == 1 for n in counts.values()), "each line exactly once"
    assert resume["ok"], resume
    assert "reload" in resume or "missed" in resume, resume
