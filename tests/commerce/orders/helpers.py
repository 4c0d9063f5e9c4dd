"""Shared helpers of the order tests: request bodies and direct reads of the database."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from commerce.catalog.models import Product
from commerce.context import AppContext
from commerce.orders.checkout.flow import Checkout
from commerce.orders.models import Order
from commerce.outbox import OutboxEvent
from commerce.streams.models import Stream
from shared import events as ev
from tests.commerce.factories import make_product, make_user

ADDRESS: dict[str, Any] = {
    "name": "王小明",
    "phone": "+886 912 345 678",
    "line1": "No. 7, Section 5, Xinyi Road",
    "district": "Xinyi",
    "city": "Taipei",
    "postal_code": "110",
    "country": "TW",
}


def use_stock_gate(
    monkeypatch: pytest.MonkeyPatch, api: httpx.AsyncClient, ctx: AppContext, on: bool
) -> None:
    """Turn the stock gate on or off for one test: the settings, and the app's checkout built
    from them (as `create_app` builds it)."""
    settings = ctx.settings.updated(orders={"stock_gate_enabled": on})
    monkeypatch.setattr(ctx, "settings", settings)
    transport = api._transport
    assert isinstance(transport, httpx.ASGITransport)
    checkout = Checkout.build(
        settings, redis=ctx.redis, sessions=ctx.sessions, gate=ctx.stock_gate,
        limiter=ctx.limiter,
    )
    monkeypatch.setattr(transport.app.state, "checkout", checkout)  # type: ignore[attr-defined]


def order_body(*lines: tuple[int, int], **extra: Any) -> dict[str, Any]:
    return {
        "items": [{"product_id": pid, "quantity": qty} for pid, qty in lines],
        "shipping_address": ADDRESS,
        **extra,
    }


async def stock_of(ctx: AppContext, product_id: int) -> int:
    async with ctx.sessions() as session:
        value = await session.scalar(select(Product.stock).where(Product.id == product_id))
    assert value is not None
    return int(value)


async def order_count(ctx: AppContext) -> int:
    async with ctx.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


async def events(ctx: AppContext, *types: str) -> list[ev.DomainEvent]:
    """Outbox events in commit order (published or not), optionally of some types only."""
    async with ctx.sessions() as session:
        rows = (await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all()
    decoded = [ev.decode(row.payload) for row in rows]
    return [e for e in decoded if not types or e.type in types]


async def make_stream(ctx: AppContext, host_id: int, status: str = "live") -> int:
    async with ctx.sessions() as session, session.begin():
        stream = Stream(host_id=host_id, title="Flash sale", status=status)
        session.add(stream)
        await session.flush()
        return stream.id


async def mixed_order(api: httpx.AsyncClient, ctx: AppContext) -> dict[str, Any]:
    """A placed order with one line of seller A (2 units of 1290.00) and one of seller B (500.00):
    ids, headers (`a`, `b`, `buyer`), product ids (`pa`, `pb`) and the order's `url`."""
    a, a_h = await make_user(ctx, "seller")
    b, b_h = await make_user(ctx, "seller")
    _, buyer_h = await make_user(ctx)
    pa = await make_product(ctx, a, price="1290.00", stock=5)
    pb = await make_product(ctx, b, price="500.00", stock=5)
    placed = await api.post("/api/v1/orders", json=order_body((pa.id, 2), (pb.id, 1)),
                            headers=buyer_h)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    return {"id": order_id, "a": a_h, "b": b_h, "buyer": buyer_h, "pa": pa.id, "pb": pb.id,
            "url": f"/api/v1/orders/{order_id}"}
