"""Orders: reading, cancelling and expiring (placing: `commerce.orders.checkout`).

Reads check visibility in one place (`visible_order`): the buyer, a seller with at least one
line in the order, or an admin; everyone else gets 404 so order ids leak nothing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Literal, TypeVar

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.orders import state
from commerce.orders.errors import InvalidTransition
from commerce.orders.models import Order, OrderItem, Shipment
from commerce.orders.schemas import OrderOut, OrderPage, order_out
from commerce.pagination import decode_id_cursor, encode_cursor
from shared.errors import Forbidden, NotFound
from shared.tokens import Principal

__all__ = [
    "cancel_order",
    "expire_due",
    "list_orders",
    "visible_order",
]

log = structlog.get_logger(__name__)

ListAs = Literal["buyer", "seller"]


Row = TypeVar("Row", OrderItem, Shipment)


async def _rows_of(
    session: AsyncSession, model: type[Row], order_ids: list[int]
) -> dict[int, list[Row]]:
    """`model` rows (lines or shipments) of the given orders, grouped by order, in id order."""
    by_order: dict[int, list[Row]] = defaultdict(list)
    if order_ids:
        rows = await session.scalars(
            select(model).where(model.order_id.in_(order_ids)).order_by(model.id)
        )
        for row in rows:
            by_order[row.order_id].append(row)
    return by_order


def _seller_view(principal: Principal, order: Order) -> int | None:
    """The seller id to narrow the view to, or None for the whole order (buyer, admin)."""
    if principal.role == "admin" or order.buyer_id == principal.user_id:
        return None
    return principal.user_id


def _present(
    principal: Principal, order: Order, items: list[OrderItem], shipments: list[Shipment]
) -> OrderOut:
    return order_out(order, items, shipments, seller_id=_seller_view(principal, order))


def _can_see(principal: Principal, order: Order, items: list[OrderItem]) -> bool:
    return (
        principal.role == "admin"
        or order.buyer_id == principal.user_id
        or any(item.seller_id == principal.user_id for item in items)
    )


async def visible_order(session: AsyncSession, *, order_id: int, principal: Principal) -> OrderOut:
    """The order if `principal` may see it, else 404 (never 403: do not confirm it exists)."""
    order = await session.get(Order, order_id)
    if order is None:
        raise NotFound("order not found")
    items = (await _rows_of(session, OrderItem, [order_id]))[order_id]
    if not _can_see(principal, order, items):
        raise NotFound("order not found")
    shipments = (await _rows_of(session, Shipment, [order_id]))[order_id]
    return _present(principal, order, items, shipments)


async def list_orders(
    session: AsyncSession,
    *,
    principal: Principal,
    as_: ListAs,
    limit: int,
    cursor: str | None,
    status: str | None = None,
) -> OrderPage:
    """Newest first, optionally in one `status`. Buyers list their own orders; `as_="seller"`
    lists orders that contain the caller's products (through the `(seller_id, order_id)`
    index), each narrowed to the caller's own lines and total."""
    before = decode_id_cursor(cursor)
    if as_ == "seller":
        if principal.role not in ("seller", "admin"):
            raise Forbidden("listing as seller requires a seller account")
        ids_query = (
            select(OrderItem.order_id)
            .where(OrderItem.seller_id == principal.user_id)
            .distinct()
            .order_by(OrderItem.order_id.desc())
            .limit(limit + 1)
        )
        if before is not None:
            ids_query = ids_query.where(OrderItem.order_id < before)
        if status is not None:
            ids_query = ids_query.join(Order, Order.id == OrderItem.order_id).where(
                Order.status == status
            )
        ids = [int(i) for i in (await session.scalars(ids_query)).all()]
        orders = (
            (await session.scalars(select(Order).where(Order.id.in_(ids[:limit])))).all()
            if ids
            else []
        )
    else:
        query = (
            select(Order)
            .where(Order.buyer_id == principal.user_id)
            .order_by(Order.id.desc())
            .limit(limit + 1)
        )
        if before is not None:
            query = query.where(Order.id < before)
        if status is not None:
            query = query.where(Order.status == status)
        orders = (await session.scalars(query)).all()
        ids = [o.id for o in orders]
    page = sorted(orders, key=lambda o: o.id, reverse=True)[:limit]
    page_ids = [o.id for o in page]
    items = await _rows_of(session, OrderItem, page_ids)
    shipments = await _rows_of(session, Shipment, page_ids)
    next_cursor = encode_cursor(page[-1].id) if len(ids) > limit and page else None
    if as_ == "seller":  # the seller's own view, even of an order they also bought
        views = [order_out(o, items[o.id], shipments[o.id], seller_id=principal.user_id)
                 for o in page]
    else:
        views = [order_out(o, items[o.id], shipments[o.id]) for o in page]
    return OrderPage(items=views, next_cursor=next_cursor)


async def cancel_order(ctx: AppContext, *, order_id: int, principal: Principal) -> OrderOut:
    """Buyer (or admin) cancels a pending order; stock returns exactly once.

    Two concurrent cancels: both run the conditional UPDATE, one matches and releases, the
    other sees the new status and gets 409 `invalid_transition`.
    """
    async with ctx.sessions() as session, session.begin():
        view = await visible_order(session, order_id=order_id, principal=principal)
        if view.buyer_id != principal.user_id and principal.role != "admin":
            raise Forbidden("only the buyer can cancel an order")
        result = await state.transition(session, order_id, "cancelled")
        if not result.matched:
            current = await session.scalar(select(Order.status).where(Order.id == order_id))
            raise InvalidTransition(details={"status": current, "to": "cancelled"})
    await result.after_commit(ctx.stock_gate)
    async with ctx.sessions() as session:
        return await visible_order(session, order_id=order_id, principal=principal)


async def expire_due(
    ctx: AppContext, *, now: datetime | None = None, batch_size: int = 200, max_batches: int = 50
) -> int:
    """Expire pending orders past `expires_at`, releasing their stock; returns how many.

    Safe on several workers at once: each order is its own transaction around the conditional
    transition, so an order another worker already expired is a no-op here. Candidates are read
    in `(status, expires_at)` index order, `batch_size` at a time; every candidate leaves that
    range once handled (by us or by whoever got there first), so the next batch starts fresh.
    `max_batches` bounds one run; the beat runs it again 30 s later.
    """
    now = now or utcnow()
    expired = 0
    for _ in range(max_batches):
        async with ctx.sessions() as session:
            ids = (
                await session.scalars(
                    select(Order.id)
                    .where(Order.status == "pending_payment", Order.expires_at < now)
                    .order_by(Order.expires_at)
                    .limit(batch_size)
                )
            ).all()
        for order_id in ids:
            async with ctx.sessions() as session, session.begin():
                result = await state.transition(
                    session, order_id, "expired", expected_from="pending_payment"
                )
            if result.matched:
                expired += 1
                await result.after_commit(ctx.stock_gate)
        if len(ids) < batch_size:
            break
    if expired:
        log.info("orders_expired", count=expired)
    return expired
