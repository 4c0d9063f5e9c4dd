"""After payment: sellers ship their lines, the buyer completes, the beat completes the rest.

Each seller ships their own lines of an order in one parcel (`shipments`, unique per order and
seller). The order moves `paid -> fulfilled` when no line is left that is neither shipped nor
refunded, and `fulfilled -> completed` when the buyer says so or `ORDER_AUTO_COMPLETE_DAYS`
after the last shipment. Every step locks the order row first, so two sellers shipping at once
cannot both miss that the order is now complete, and every status change is the state table's
conditional UPDATE with its outbox event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.orders import service as order_service
from commerce.orders import state
from commerce.orders.errors import InvalidTransition
from commerce.orders.models import Order, OrderItem, Shipment
from commerce.orders.schemas import OrderOut, ShipIn
from commerce.outbox import add_event
from shared import events as ev
from shared.errors import Conflict, Forbidden
from shared.tokens import Principal

log = structlog.get_logger(__name__)


async def lock_order(session: AsyncSession, order_id: int) -> Order:
    """The order row, locked for the rest of the caller's transaction."""
    order = await session.scalar(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(
            populate_existing=True
        )
    )
    if order is None:  # visible_order checked it exists; deleted meanwhile
        raise InvalidTransition(details={"status": None})
    return order


async def settle_fulfilment(session: AsyncSession, order: Order, *, now: datetime) -> str:
    """`paid -> fulfilled` when every line that is not refunded has shipped (and one has).
    Returns the order's status afterwards. The caller holds the order row."""
    if order.status != "paid":
        return order.status
    open_lines, shipped = (
        await session.execute(
            select(
                func.coalesce(func.sum(case((OrderItem.shipment_id.is_(None), 1), else_=0)), 0),
                func.coalesce(func.sum(case((OrderItem.shipment_id.is_not(None), 1), else_=0)), 0),
            ).where(OrderItem.order_id == order.id, OrderItem.refund_id.is_(None))
        )
    ).one()
    if open_lines or not shipped:
        return order.status
    moved = await state.transition(session, order.id, "fulfilled", now=now, expected_from="paid")
    return "fulfilled" if moved.matched else order.status


async def ship(ctx: AppContext, *, order_id: int, principal: Principal, body: ShipIn) -> OrderOut:
    """Ship the caller's lines of a paid order (those not refunded) in one parcel.

    409 `invalid_transition` unless the order is paid; 409 `already_shipped` when the caller
    has shipped already (or has nothing left to ship); 403 when the caller sells nothing in it.
    """
    now = utcnow()
    async with ctx.sessions() as session, session.begin():
        view = await order_service.visible_order(session, order_id=order_id, principal=principal)
        order = await lock_order(session, order_id)
        mine = [i for i in (await _lines(session, order_id)) if i.seller_id == principal.user_id]
        if not mine:
            raise Forbidden("only a seller of lines in the order can ship them")
        if order.status != "paid":
            raise InvalidTransition(details={"status": order.status, "to": "shipped"})
        todo = [i for i in mine if i.shipment_id is None and i.refund_id is None]
        if not todo:
            raise Conflict("your lines of this order are already shipped or refunded",
                           code="already_shipped")
        shipment = Shipment(order_id=order_id, seller_id=principal.user_id, carrier=body.carrier,
                            tracking_number=body.tracking_number, shipped_at=now)
        session.add(shipment)
        await session.flush()
        marked = await session.execute(
            update(OrderItem)
            .where(OrderItem.id.in_([i.id for i in todo]), OrderItem.shipment_id.is_(None),
                   OrderItem.refund_id.is_(None))
            .values(shipment_id=shipment.id)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount != len(todo):  # type: ignore[attr-defined]
            raise Conflict("the lines changed meanwhile; try again", code="already_shipped")
        status = await settle_fulfilment(session, order, now=now)
        product_ids = sorted({i.product_id for i in todo})
        add_event(session, ev.OrderShipped(
            stream_id=order.stream_id,
            data=ev.OrderShippedData(
                order_id=order_id, buyer_id=view.buyer_id, seller_id=principal.user_id,
                status=status, product_ids=product_ids, carrier=body.carrier,
                tracking_number=body.tracking_number,
            ),
        ))
    log.info("order_shipped", order_id=order_id, seller_id=principal.user_id, status=status)
    async with ctx.sessions() as session:
        return await order_service.visible_order(session, order_id=order_id, principal=principal)


async def _lines(session: AsyncSession, order_id: int) -> list[OrderItem]:
    rows = await session.scalars(
        select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def complete(ctx: AppContext, *, order_id: int, principal: Principal) -> OrderOut:
    """The buyer confirms receipt: `fulfilled -> completed` (409 from any other status)."""
    async with ctx.sessions() as session, session.begin():
        view = await order_service.visible_order(session, order_id=order_id, principal=principal)
        if view.buyer_id != principal.user_id:
            raise Forbidden("only the buyer can complete an order")
        moved = await state.transition(session, order_id, "completed", expected_from="fulfilled")
        if not moved.matched:
            current = await session.scalar(select(Order.status).where(Order.id == order_id))
            raise InvalidTransition(details={"status": current, "to": "completed"})
    log.info("order_completed", order_id=order_id, by="buyer")
    async with ctx.sessions() as session:
        return await order_service.visible_order(session, order_id=order_id, principal=principal)


async def complete_due(
    ctx: AppContext, *, now: datetime | None = None, batch_size: int = 200, max_batches: int = 50
) -> int:
    """Complete fulfilled orders whose last shipment is `order_auto_complete_days` old.

    Safe on two beats at once: each order is its own conditional transition, so one another
    run completed (or the buyer did) is a no-op here. Reads the `(status, fulfilled_at)` index.
    """
    cutoff = (now or utcnow()) - timedelta(days=ctx.settings.orders.auto_complete_days)
    done = 0
    for _ in range(max_batches):
        async with ctx.sessions() as session:
            ids = list(await session.scalars(
                select(Order.id)
                .where(Order.status == "fulfilled", Order.fulfilled_at <= cutoff)
                .order_by(Order.fulfilled_at)
                .limit(batch_size)
            ))
        for order_id in ids:
            async with ctx.sessions() as session, session.begin():
                moved = await state.transition(
                    session, order_id, "completed", expected_from="fulfilled"
                )
            done += int(moved.matched)
        if len(ids) < batch_size:
            break
    if done:
        log.info("orders_auto_completed", count=done)
    return done
