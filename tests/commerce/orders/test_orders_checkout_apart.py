"""The checkout's checks without the fast path's script (Redis Cluster, gate off, cart orders):
the order limits, the token's revocation and the key's lookup are independent, so they wait one
round trip together, not one each (on a cluster each is one or more round trips to another
shard: docs/checkout.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from commerce.context import AppContext
from commerce.orders.checkout.flow import Checkout
from commerce.orders.schemas import OrderCreate
from shared.redis import is_cluster, make_limiter, make_redis
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body

HOLD_S = 0.25  # every Redis reply is held this long


class SlowRedis:
    """A TCP proxy in front of one Redis that holds every reply `HOLD_S`, and records the most
    connections waiting for a reply at one moment (`peak`): commands in flight at once."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.waiting = 0
        self.peak = 0
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        asked = asyncio.Event()

        async def requests() -> None:
            while data := await reader.read(65536):
                if not asked.is_set():
                    asked.set()
                    self.waiting += 1
                    self.peak = max(self.peak, self.waiting)
                up_writer.write(data)
                await up_writer.drain()

        async def replies() -> None:
            while data := await up_reader.read(65536):
                await asyncio.sleep(HOLD_S)
                if asked.is_set():
                    asked.clear()
                    self.waiting -= 1
                writer.write(data)
                await writer.drain()

        try:
            await asyncio.gather(requests(), replies())
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SlowRedis]:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        try:
            yield self
        finally:
            self.server.close()


async def test_limits_revocation_and_lookup_are_asked_at_once(
    ctx: AppContext, redis_url: str
) -> None:
    if is_cluster(redis_url):
        pytest.skip("the proxy fronts one Redis; on the cluster the same code path runs in the "
                    "order tests")
    seller, _ = await make_user(ctx, "seller")
    buyer, _ = await make_user(ctx)
    product = await make_product(ctx, seller, stock=3)
    _, principal = ctx.tokens.issue_access(user_id=buyer.id, role="buyer", name="B")
    target = urlsplit(redis_url)
    proxy = SlowRedis(target.hostname or "127.0.0.1", target.port or 6379)
    async with proxy.running():
        slow_url = f"redis://127.0.0.1:{proxy.port}{target.path}"
        redis, limiter = make_redis(slow_url), make_limiter(slow_url)
        # Gate off: no fast path script, so the checks run apart, as on a Redis Cluster.
        checkout = Checkout.build(
            ctx.settings.updated(orders={"stock_gate_enabled": False}), redis=redis,
            sessions=ctx.sessions, gate=ctx.stock_gate, limiter=limiter,
        )
        body = OrderCreate.model_validate(order_body((product.id, 1)))
        try:
            stored = await checkout.place_order(
                principal=principal, body=body, idempotency_key="k1",
                revocation_checked=False, client_ip="203.0.113.7",
            )
        finally:
            await redis.aclose()
    assert stored.status_code == 201
    # The user's and the address's limit (two hits), the revocation marks, the key's answers:
    # four commands waiting at once. One after another, no more than the two hits would.
    assert proxy.peak >= 4, proxy.peak
