"""Redis crashes mid-sale: checkout answers 201, 409 or 503 (never 500), and recovers by itself.

The private Redis is SIGKILLed while buyers keep ordering, stays down for 5 s, and comes back
from its AOF on the same port. Meanwhile the checkout sells from the database alone
(commerce/orders/checkout/degraded.py), behind a local rate limit whose refusals are 503 with
Retry-After; once Redis answers again it goes back to the stock gate without any restart of
the API, and the database's books balance: the units the committed orders hold plus the stock
left are the stock the sale started with.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from commerce.app import create_app
from commerce.context import AppContext
from commerce.inventory.gate import key as gate_key
from commerce.orders.checkout.flow import Checkout
from commerce.orders.models import Order, OrderItem
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body, stock_of
from tests.conftest import app_client, built_ctx
from tests.faults.conftest import FlashSale, books
from tests.helpers.private_servers import PrivateRedis, private_redis
from tests.helpers.procs import free_port
from tests.helpers.waiting import until_true

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


@pytest.fixture
def fault_settings(fault_settings: CommerceSettings) -> CommerceSettings:
    """The local rate limit far above what 8 buyers send: here every answer during the outage
    shows what the database path does (the limit's 503s have their own test below)."""
    return fault_settings.updated(orders={"degraded_rate_per_s": 10_000.0})


async def test_checkout_sells_from_the_database_while_redis_is_down(
    fault_api: httpx.AsyncClient, fault_ctx: AppContext, fault_redis: PrivateRedis
) -> None:
    """A 5 s Redis crash mid-sale: the checkout keeps selling from the database (201, or 409,
    or a 503 from its local rate limit; never 500), a retry of an order placed meanwhile
    replays it (during the outage from the database's record, after it from the marker the
    recovery set, even when the gate says sold out), and no 5xx follows Redis's return."""
    seller, _ = await make_user(fault_ctx, role="seller")
    product = await make_product(fault_ctx, seller, stock=STOCK)
    buyers = [await make_user(fault_ctx) for _ in range(8)]
    checkout = _checkout(fault_api)
    sale = FlashSale(fault_api, product.id, [h for _, h in buyers], pause_s=0.03)
    await until_true(lambda: sale.statuses[201] > 0, "a first order", timeout=20)
    fault_redis.kill()
    killed = time.monotonic()
    try:
        await until_true(lambda: checkout.outage is not None and checkout.outage.active,
                         "the checkout to meet the outage", timeout=10)
    except AssertionError:
        print(sale.statuses, sale.bad[:3])
        raise
    before = Counter(sale.statuses)

    # An order placed from the database, and its retry (the database's record answers).
    _, headers = buyers[0]
    keyed = {**headers, "Idempotency-Key": "placed-while-redis-was-down"}
    body = order_body((product.id, 1))
    first = await fault_api.post("/api/v1/orders", json=body, headers=keyed)
    assert first.status_code == 201, first.text
    again = await fault_api.post("/api/v1/orders", json=body, headers=keyed)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]

    await asyncio.sleep(max(0.0, 5.0 - (time.monotonic() - killed)))  # the fault: 5 s down
    down = Counter(sale.statuses) - before
    await asyncio.to_thread(fault_redis.start)
    sale.back()
    back = time.monotonic()
    await until_true(lambda: checkout.outage is not None and not checkout.outage.active,
                     "the checkout to use Redis again", timeout=10)
    recovered_s = time.monotonic() - back
    await until_true(lambda: sale.after_back[201] >= 20, "orders after the outage", timeout=20)
    await sale.stop()

    # Sold out at the gate: the retry of the order placed during the outage is still its 201
    # (the recovery set its marker), not a 409.
    await fault_ctx.redis.set(gate_key(product.id), 0, ex=30)
    late = await fault_api.post("/api/v1/orders", json=body, headers=keyed)
    assert late.status_code == 201, late.text
    assert late.json()["id"] == first.json()["id"]

    units = await _units_ordered(fault_ctx, product.id)
    left = await stock_of(fault_ctx, product.id)
    books("checkout across a 5 s Redis crash", answers=dict(sale.statuses),
          during_outage=dict(down), after_back=dict(sale.after_back), units_ordered=units,
          stock_left=left, stock_start=STOCK, db_mode_left_s=round(recovered_s, 2),
          first_201_after_back_s=sale.recovery_s)
    assert not sale.bad, sale.bad[:5]
    assert down[201] > 0, f"no order was placed from the database: {dict(down)}"
    assert not any(s >= 500 and s != 503 for s in down), down
    assert sale.after_back[201] > 0 and not any(s >= 500 for s in sale.after_back), (
        sale.after_back)
    assert units + left == STOCK and left >= 0


async def test_the_local_rate_limit_answers_503_beyond_its_burst(
    fault_settings: CommerceSettings, fault_redis: PrivateRedis
) -> None:
    """Without the gate, a flood would all reach the hot product row: beyond the token
    bucket's burst (here 5, refilled at 1 a second) a checkout gets 503 + Retry-After."""
    settings = fault_settings.updated(orders={"degraded_rate_per_s": 1.0, "degraded_burst": 5})
    async with built_ctx(settings) as ctx, app_client(settings, ctx) as api:
        seller, _ = await make_user(ctx, role="seller")
        product = await make_product(ctx, seller, stock=100)
        _, headers = await make_user(ctx)
        fault_redis.kill()
        replies = await asyncio.gather(*(
            api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
            for _ in range(12)))
        statuses = Counter(r.status_code for r in replies)
        refused = [r for r in replies if r.status_code == 503]
        assert statuses[201] == 5 and statuses[503] == 7, statuses
        assert all(r.headers["retry-after"] and r.json()["error"]["code"] == "unavailable"
                   for r in refused)
        assert await stock_of(ctx, product.id) == 95
        books("the local rate limit without Redis", answers=dict(statuses))


async def test_order_limits_hold_while_redis_is_down(
    fault_settings: CommerceSettings, fault_redis: PrivateRedis
) -> None:
    """Without Redis the per-user and per-address order limits are counted in the process's
    memory with the same settings: past 3 a minute a buyer gets 429 `rate_limited` with
    Retry-After while another buyer still orders; past 5 from one address, every buyer does."""
    settings = fault_settings.updated(
        rate_limits={"orders_per_user": "3/minute", "orders_per_ip": "5/minute"})
    async with built_ctx(settings) as ctx, app_client(settings, ctx) as api:
        seller, _ = await make_user(ctx, role="seller")
        product = await make_product(ctx, seller, stock=100)
        (_, eager), (_, other) = await make_user(ctx), await make_user(ctx)
        fault_redis.kill()

        async def order(headers: dict[str, str]) -> httpx.Response:
            return await api.post("/api/v1/orders", json=order_body((product.id, 1)),
                                  headers=headers)

        eager_replies = [await order(eager) for _ in range(4)]
        other_replies = [await order(other) for _ in range(2)]  # the address's 5th and 6th
        checkout = _checkout(api)
        assert checkout.outage is not None and checkout.outage.active
    statuses = [r.status_code for r in eager_replies], [r.status_code for r in other_replies]
    books("order limits without Redis", eager_buyer=statuses[0], other_buyer=statuses[1])
    assert statuses == ([201, 201, 201, 429], [201, 429]), [r.text for r in eager_replies]
    for refused in (eager_replies[3], other_replies[1]):
        assert refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1


def _checkout(api: httpx.AsyncClient) -> Checkout:
    transport = api._transport
    assert isinstance(transport, httpx.ASGITransport)
    checkout = transport.app.state.checkout  # type: ignore[attr-defined]
    assert isinstance(checkout, Checkout)
    return checkout


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
            serving = await client.get("/readyz", params={"degraded": "ok"})
    finally:
        await ctx.close()
    assert reply.status_code == 503, reply.text
    assert reply.json()["error"] == {
        "code": "unavailable", "message": "database is unavailable; try again shortly",
        "details": {"dependency": "database"},
    }
    assert reply.headers["retry-after"] == "2"
    assert ready.status_code == 503
    assert serving.status_code == 503, serving.text  # without its database nothing is served


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
