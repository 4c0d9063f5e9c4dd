"""Real socket.io clients for gateway tests: record every event, await conditions, ack calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import redis.asyncio as aioredis
import socketio
from prometheus_client.parser import text_string_to_metric_families

from shared.livedata import ProductSnapshot, StreamMeta, put_product, put_stream
from shared.tls import client_tls
from shared.tokens import TokenIssuer


class Client:
    def __init__(self, name: str = "client") -> None:
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.arrivals: list[float] = []  # monotonic arrival time of each event
        self.disconnected = asyncio.Event()
        self._changed = asyncio.Event()

        @self.sio.on("*")
        async def _any(event: str, data: Any = None) -> None:
            self.events.append((event, data))
            self.arrivals.append(time.monotonic())
            self._changed.set()

        @self.sio.event
        async def disconnect(reason: Any = None) -> None:
            self.disconnected.set()
            self._changed.set()

    async def connect(
        self, url: str, token: str | None = None, *, transports: list[str] | None = None
    ) -> Client:
        auth = {"token": token} if token else None
        await self.sio.connect(
            url, auth=auth, transports=transports or ["websocket"], wait_timeout=5
        )
        return self

    async def call(self, event: str, *data: Any) -> Any:
        return await self.sio.call(event, data[0] if len(data) == 1 else data, timeout=5)

    async def join(self, stream_id: int) -> dict[str, Any]:
        ack = await self.call("join", {"stream_id": stream_id})
        assert ack["ok"], ack
        return ack  # type: ignore[no-any-return]

    def of(self, name: str) -> list[Any]:
        return [data for event, data in self.events if event == name]

    def times_of(self, name: str) -> list[float]:
        return [t for (event, _), t in zip(self.events, self.arrivals, strict=True)
                if event == name]

    def chats(self, stream_id: int | None = None) -> list[dict[str, Any]]:
        """Chat messages received one by one or in batches, in arrival order."""
        out: list[dict[str, Any]] = []
        for event, data in self.events:
            if event == "chat":
                out.append(data)
            elif event == "chat_batch":
                out.extend(data["messages"])
        return [m for m in out if stream_id is None or m["stream_id"] == stream_id]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until `predicate()` is truthy (re-checked on every event); return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.name}: condition not met in {timeout}s; events: {self.events[-20:]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def connect_all(specs: list[tuple[str, str | None]]) -> list[Client]:
    """Connect clients (url, token) concurrently."""
    clients = [Client(f"c{i}") for i in range(len(specs))]
    await asyncio.gather(*(c.connect(url, tok) for c, (url, tok) in zip(clients, specs,
                                                                        strict=True)))
    return clients


async def viewers_of(client: Client, stream_id: int, expected: int, timeout: float = 5.0) -> None:
    """Wait until the last `viewers` event the client got for the room says `expected`."""

    def last_is_expected() -> bool:
        counts = [v["count"] for v in client.of("viewers") if v["stream_id"] == stream_id]
        return bool(counts) and counts[-1] == expected

    await client.wait_for(last_is_expected, timeout)


async def marker(speaker: Client, stream_id: int, audience: list[Client]) -> None:
    """A barrier for "nothing else arrives": `speaker` (joined, signed in) says a unique chat
    line in the room and every member of `audience` waits for it.

    Every emit to a room crosses the same ordered path (the room's pub/sub channel, then each
    node's one listener writing to each socket in order), so anything emitted to the room before
    the marker's emit (every relay emit before its XACK, every chat before its ack) has reached
    a member once the marker has; count events after this, not after a sleep. Chat events
    that are the marker are easy to leave out: their text starts with "marker ".
    """
    text = f"marker {uuid.uuid4().hex[:12]}"
    ack = await speaker.call("chat", {"stream_id": stream_id, "text": text})
    assert ack.get("ok"), ack
    for c in audience:
        await c.wait_for(lambda c=c: any(m["text"] == text for m in c.chats(stream_id)))


async def events_out(url: str, event: str) -> float:
    """How many `event`s the node at `url` has emitted to rooms (its `/metrics`)."""
    async with httpx.AsyncClient(verify=client_tls()) as http:  # no CA bundle load per call
        text = (await http.get(f"{url}/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "gateway_events_out"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("event") == event
    )


class World:
    """Stream and product data the way commerce writes it (shared/livedata.py)."""

    def __init__(self, redis: aioredis.Redis, issuer: TokenIssuer) -> None:
        self.redis = redis
        self.issuer = issuer

    def token(self, user_id: int, name: str = "User", role: str = "buyer") -> str:
        token, _ = self.issuer.issue_access(user_id=user_id, role=role, name=name)
        return token

    async def stream(
        self,
        stream_id: int,
        *,
        host_id: int = 1,
        status: str = "live",
        product_ids: list[int] | None = None,
        moderator_ids: list[int] | None = None,
    ) -> StreamMeta:
        meta = StreamMeta(
            id=stream_id,
            host_id=host_id,
            status=status,  # type: ignore[arg-type]
            title=f"stream {stream_id}",
            product_ids=product_ids or [],
            moderator_ids=moderator_ids or [],
        )
        await put_stream(self.redis, meta)
        return meta

    async def product(self, product_id: int, *, stock: int = 10, price: str = "1290.00"
                      ) -> ProductSnapshot:
        snap = ProductSnapshot(
            id=product_id, name=f"product {product_id}", price=price, currency="TWD",
            stock=stock, image_url=f"https://cdn.example/p/{product_id}.jpg", seller_id=1,
        )
        await put_product(self.redis, snap)
        return snap
