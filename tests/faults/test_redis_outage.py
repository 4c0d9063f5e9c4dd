"""Redis crashes mid-sale: checkout answers 201, 409 or 503 (never 500), and recovers by itself.

The private Redis is SIGKILLed while buyers keep ordering, stays down for a moment, and comes
back from its AOF on the same port. Every answer during the outage is a 503 with Retry-After;
once Redis answers again the next orders succeed without any restart of the API, and the
database's books balance: the units the committed orders hold plus the stock left are the
stock the sale started with.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from commerce.app import create_app
from commerce.context import AppContext
from commerce.orders.models import Order, OrderItem
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import stock_of
from tests.faults.conftest import FlashSale, books
from tests.helpers.private_servers import PrivateRedis, private_redis
from tests.helpers.procs import free_port

pytestmark = pytest.mark.timeout(90)

STOCK = 1000


async def _units_ordered(ctx: AppContext, product_id: int) -> int:
    async with ctx.sessions() as session:
        value = await session.scalar(
            select(func.coalesce(func.sum(OrderItem.quantity), 0))
            .join(Order, Order.id == OrderItem.order_id)
            .where(OrderItem.product_id == product_id)
        )
    return int(value or 0)


async def test_checkout_during_redis_crash_answers_503_then_recovers(
    fault_api: httpx.AsyncClient, fault_ctx: AppContext, fault_redis: PrivateRedis
) -> None:
    seller, _ = await make_user(fault_ctx, role="seller")
    product = await make_product(fault_ctx, seller, stock=STOCK)
    buyers = [await make_user(fault_ctx) for _ in range(8)]
    sale = FlashSale(fault_api, product.id, [h for _, h in buyers], pause_s=0.03)
    await asyncio.sleep(0.5)
    fault_redis.kill()
    await asyncio.sleep(1.5)
    down_statuses = Counter(sale.statuses)
    await asyncio.to_thread(fault_redis.start)
    sale.back()
    await asyncio.sleep(2.0)
    await sale.stop()

    units = await _units_ordered(fault_ctx, product.id)
    left = await stock_of(fault_ctx, product.id)
    books("checkout across a Redis crash", answers=dict(sale.statuses),
          units_ordered=units, stock_left=left, stock_start=STOCK, recovery_s=sale.recovery_s)
    assert not sale.bad, sale.bad[:5]
    assert down_statuses[503] > 0, "the outage should have been answered 503"
    recovered = sale.after_back
    assert recovered[201] > 0 and not any(s >= 500 for s in recovered), recovered
    assert units + left == STOCK


async def test_database_unreachable_is_503_not_500(fault_settings: CommerceSettings) -> None:
    """The API's database refuses connections (nothing listens on its port): 503, Retry-After."""
    dead = fault_settings.model_copy(update={
        "database_url": f"mysql+aiomysql://root@127.0.0.1:{free_port()}/nowhere",
        "outbox_relay_enabled": False,
    })
    ctx = AppContext.build(dead)
    app = create_app(dead, ctx=ctx)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            reply = await client.get("/api/v1/products/1")
            ready = await client.get("/readyz")
    finally:
        await ctx.close()
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"] == {
        "code": "unavailable", "message": "database is unavailable; try again shortly",
        "details": {"dependency": "database"},
    }
    assert reply.headers["retry-after"] == "2"
    assert ready.status_code == 503


@pytest.mark.parametrize("appendonly", [True, False])
async def test_readiness_requires_aof_when_configured(
    fault_settings: CommerceSettings, tmp_path: Path, appendonly: bool
) -> None:
    """`REDIS_REQUIRE_AOF=true`: /readyz is 503 while Redis runs without its append-only file."""
    with private_redis(tmp_path / "r", appendonly=appendonly) as server:
        settings = fault_settings.model_copy(
            update={"redis_url": server.url, "redis_require_aof": True,
                    "outbox_relay_enabled": False})
        ctx = AppContext.build(settings)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=create_app(settings, ctx=ctx)),
                base_url="http://test",
            ) as client:
                reply = await client.get("/readyz")
        finally:
            await ctx.close()
    checks = reply.json()["checks"]
    if appendonly:
        assert reply.status_code == 200 and checks["redis"] == "ok", reply.text
    else:
        assert reply.status_code == 503 and checks["redis"] == "error: appendonly is off"
