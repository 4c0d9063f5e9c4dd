"""Cancel, expiry and the state machine: stock is released exactly once, however often or
concurrently a transition is attempted."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.inventory import gate as stock_gate
from commerce.orders import state
from commerce.orders.models import Order
from commerce.orders.tasks import expire_reservations
from commerce.tasks import BEAT, REGISTRY
from commerce.worker import TASK_MODULES
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, make_stream, order_body, stock_of


async def _status(ctx: AppContext, order_id: int) -> str:
    async with ctx.sessions() as session:
        value = await session.scalar(select(Order.status).where(Order.id == order_id))
    return str(value)


async def test_cancel_releases_stock_once(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=5)
    stream_id = await make_stream(ctx, seller.id, "scheduled")
    order = (
        await api.post(
            "/api/v1/orders", json=order_body((product.id, 5), stream_id=stream_id),
            headers=headers,
        )
    ).json()
    assert await stock_of(ctx, product.id) == 0

    cancelled = await api.post(f"/api/v1/orders/{order['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    again = await api.post(f"/api/v1/orders/{order['id']}/cancel", headers=headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    assert again.json()["error"]["details"] == {"status": "cancelled", "to": "cancelled"}
    assert await stock_of(ctx, product.id) == 5

    [cancel_event] = await events(ctx, "order.cancelled")
    assert cancel_event.stream_id == stream_id
    assert cancel_event.data.order_id == order["id"]
    stock_events = [(e.data.product_id, e.data.stock) for e in await events(ctx, "stock.changed")]
    assert stock_events == [(product.id, 0), (product.id, 5)]
    # The release also went back into the gate, so the units are buyable at once.
    assert int(await ctx.redis.get(stock_gate.key(product.id))) == 5
    rebuy = await api.post("/api/v1/orders", json=order_body((product.id, 5)), headers=headers)
    assert rebuy.status_code == 201


async def test_concurrent_cancels_release_once(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=4)
    order = (
        await api.post("/api/v1/orders", json=order_body((product.id, 3)), headers=headers)
    ).json()

    results = await asyncio.gather(
        *(api.post(f"/api/v1/orders/{order['id']}/cancel", headers=headers) for _ in range(6))
    )
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409, 409, 409]
    assert await stock_of(ctx, product.id) == 4
    assert len(await events(ctx, "order.cancelled")) == 1


async def test_expiry_releases_once_even_when_run_concurrently(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=10)
    ids = []
    for qty in (1, 2, 3):
        response = await api.post(
            "/api/v1/orders", json=order_body((product.id, qty)), headers=headers
        )
        ids.append(response.json()["id"])
    fresh = ids.pop()  # stays within its reservation window
    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(Order).where(Order.id.in_(ids)).values(expires_at=utcnow() - timedelta(1))
        )
    assert await stock_of(ctx, product.id) == 4

    counts = await asyncio.gather(expire_reservations(ctx), expire_reservations(ctx))
    assert sorted(counts) in ([0, 2], [1, 1])
    assert await expire_reservations(ctx) == 0  # and once more, sequentially
    assert await stock_of(ctx, product.id) == 7
    assert [await _status(ctx, i) for i in ids] == ["expired", "expired"]
    assert await _status(ctx, fresh) == "pending_payment"
    assert sorted(e.data.order_id for e in await events(ctx, "order.expired")) == ids
    # Cancelling an expired order is refused and releases nothing.
    late = await api.post(f"/api/v1/orders/{ids[0]}/cancel", headers=headers)
    assert late.status_code == 409
    assert await stock_of(ctx, product.id) == 7


async def test_expiry_batches_through_many_orders(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    from commerce.orders import service as order_service

    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=30)
    for _ in range(7):
        await api.post("/api/v1/orders", json=order_body((product.id, 2)), headers=headers)
    async with ctx.sessions() as session, session.begin():
        await session.execute(update(Order).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await order_service.expire_due(ctx, batch_size=3) == 7
    assert await stock_of(ctx, product.id) == 30


async def test_state_table_and_transition_for_payments(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=3)
    order = (
        await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
    ).json()

    async with ctx.sessions() as session, session.begin():
        paid = await state.transition(session, order["id"], "paid")
    assert paid.matched and paid.status_before == "pending_payment" and not paid.released
    async with ctx.sessions() as session, session.begin():
        assert not (await state.transition(session, order["id"], "paid")).matched
        assert not (await state.transition(session, order["id"], "expired")).matched
        assert not (await state.transition(session, order["id"], "completed")).matched
    fetched = (await api.get(f"/api/v1/orders/{order['id']}", headers=headers)).json()
    assert fetched["status"] == "paid" and fetched["paid_at"] is not None
    assert (await api.post(f"/api/v1/orders/{order['id']}/cancel", headers=headers)).status_code \
        == 409
    [paid_event] = await events(ctx, "order.paid")
    assert paid_event.data.order_id == order["id"]
    for to in ("fulfilled", "completed"):
        async with ctx.sessions() as session, session.begin():
            assert (await state.transition(session, order["id"], to)).matched
    assert await stock_of(ctx, product.id) == 2  # a paid order keeps its units
    assert ("completed", "paid") not in state.TRANSITIONS


def test_expiry_task_is_registered_on_the_beat() -> None:
    assert "commerce.orders.tasks" in TASK_MODULES
    assert REGISTRY["orders.expire_reservations"] is expire_reservations
    assert BEAT["orders.expire_reservations"] == timedelta(seconds=30)
