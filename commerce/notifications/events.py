"""Domain events -> notifications. The only place that knows which event tells whom what
(analytics follows the same events in `commerce.analytics.events`).

Dedup keys name what a notification is about, so the same event delivered twice (or a second
event about the same fact) notifies once: one `order_placed` and one `order_paid` per order, one
`order_shipped` per order and seller, one `order_refunded` per refund event, one `stream_live`
per stream and follower.
"""

from __future__ import annotations

from typing import Any

import structlog

from commerce.context import AppContext
from commerce.notifications import tasks
from commerce.notifications.service import notify_users
from commerce.notifications.values import Money, Value
from commerce.orders.models import Order
from commerce.tasks import enqueue
from shared import events as ev

log = structlog.get_logger(__name__)


async def _notify_one(
    ctx: AppContext, *, user_id: int, kind: str, dedup_key: str, values: dict[str, Value],
    data: dict[str, Any],
) -> None:
    ids = await notify_users(
        ctx, user_ids=[user_id], kind=kind, dedup_key=dedup_key, values=values, data=data,
        channels=set(ctx.channels),
    )
    await tasks.deliver_all(ctx, ids)


async def _order(ctx: AppContext, order_id: int) -> Order | None:
    async with ctx.sessions() as session:
        return await session.get(Order, order_id)


async def handle(ctx: AppContext, event: ev.DomainEvent) -> None:
    """Turn one event into notification rows and delivery tasks (events of no interest: none)."""
    if isinstance(event, ev.OrderPlaced):
        d = event.data
        order = await _order(ctx, d.order_id)
        await _notify_one(
            ctx, user_id=d.buyer_id, kind="order_placed", dedup_key=f"order_placed:{d.order_id}",
            values={"order_id": d.order_id, "total": Money(d.total_minor, d.currency),
                    "expires_at": order.expires_at if order else event.occurred_at},
            data={"order_id": d.order_id},
        )
    elif isinstance(event, ev.OrderPaid):
        order = await _order(ctx, event.data.order_id)
        if order is None:
            return
        await _notify_one(
            ctx, user_id=order.buyer_id, kind="order_paid", dedup_key=f"order_paid:{order.id}",
            values={"order_id": order.id, "total": Money(order.total_minor, order.currency),
                    "paid_at": order.paid_at or event.occurred_at},
            data={"order_id": order.id},
        )
    elif isinstance(event, ev.OrderShipped):
        s = event.data
        await _notify_one(
            ctx, user_id=s.buyer_id, kind="order_shipped",
            dedup_key=f"order_shipped:{s.order_id}:{s.seller_id}",
            values={"order_id": s.order_id, "carrier": s.carrier,
                    "tracking_number": s.tracking_number},
            data={"order_id": s.order_id, "carrier": s.carrier,
                  "tracking_number": s.tracking_number, "product_ids": s.product_ids},
        )
    elif isinstance(event, ev.OrderRefunded):
        r = event.data
        await _notify_one(
            ctx, user_id=r.buyer_id, kind="order_refunded",
            dedup_key=f"order_refunded:{r.order_id}:{event.id}",
            values={"order_id": r.order_id, "amount": Money(r.amount_minor, r.currency)},
            data={"order_id": r.order_id, "product_ids": r.product_ids},
        )
    elif (
        isinstance(event, ev.StreamStatusChanged)
        and event.stream_id is not None
        and event.data.status == "live"
    ):
        await enqueue(ctx, tasks.fanout_plan, "stream_live", event.stream_id)
