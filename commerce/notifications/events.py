"""Domain events -> notifications. The only place that knows which event tells whom what
(analytics follows the same events in `commerce.analytics.events`).

Dedup keys name what a notification is about, so the same event delivered twice (or a second
event about the same fact) notifies once: one `order_placed` and one `order_paid` per order, one
`order_shipped` per order and seller, one `order_refunded` per refund event, one `stream_live`
per stream and follower.

The consumer hands over a batch of events at once (`handle_many`): in a flash sale they are
thousands of `order.placed` a second, and one transaction for the batch's orders, one for its
notifications and one delivery task for its messages cost the database a few statements per
batch where one event at a time cost it four transactions per order (BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select

from commerce.context import AppContext
from commerce.notifications import tasks
from commerce.notifications.service import Notice, notify_many
from commerce.notifications.values import Money
from commerce.orders.models import Order
from commerce.tasks import enqueue
from shared import events as ev


class _Order(NamedTuple):
    id: int
    buyer_id: int
    total_minor: int
    currency: str
    expires_at: datetime | None
    paid_at: datetime | None


async def _orders(ctx: AppContext, order_ids: Iterable[int]) -> dict[int, _Order]:
    wanted = sorted(set(order_ids))
    if not wanted:
        return {}
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(Order.id, Order.buyer_id, Order.total_minor, Order.currency,
                       Order.expires_at, Order.paid_at).where(Order.id.in_(wanted))
            )
        ).all()
    return {row.id: _Order(*row) for row in rows}


def _notice(event: ev.DomainEvent, orders: dict[int, _Order]) -> Notice | None:
    """The notification an event asks for (None: none, or its order is gone)."""
    if isinstance(event, ev.OrderPlaced):
        d = event.data
        placed = orders.get(d.order_id)
        return Notice(
            d.buyer_id, "order_placed", f"order_placed:{d.order_id}",
            {"order_id": d.order_id, "total": Money(d.total_minor, d.currency),
             "expires_at": (placed.expires_at if placed else None) or event.occurred_at},
            {"order_id": d.order_id},
        )
    if isinstance(event, ev.OrderPaid):
        order = orders.get(event.data.order_id)
        if order is None:
            return None
        return Notice(
            order.buyer_id, "order_paid", f"order_paid:{order.id}",
            {"order_id": order.id, "total": Money(order.total_minor, order.currency),
             "paid_at": order.paid_at or event.occurred_at},
            {"order_id": order.id},
        )
    if isinstance(event, ev.OrderShipped):
        s = event.data
        return Notice(
            s.buyer_id, "order_shipped", f"order_shipped:{s.order_id}:{s.seller_id}",
            {"order_id": s.order_id, "carrier": s.carrier, "tracking_number": s.tracking_number},
            {"order_id": s.order_id, "carrier": s.carrier,
             "tracking_number": s.tracking_number, "product_ids": s.product_ids},
        )
    if isinstance(event, ev.OrderRefunded):
        r = event.data
        return Notice(
            r.buyer_id, "order_refunded", f"order_refunded:{r.order_id}:{event.id}",
            {"order_id": r.order_id, "amount": Money(r.amount_minor, r.currency)},
            {"order_id": r.order_id, "product_ids": r.product_ids},
        )
    return None


async def handle_many(ctx: AppContext, events: Sequence[ev.DomainEvent]) -> None:
    """Turn a batch of events into notification rows (one transaction) and one delivery task
    for their messages; going live plans its followers' fan-out (events of no interest:
    nothing). Idempotent as a whole: a batch run again writes nothing twice and sends nothing
    twice (unique keys, claimed deliveries)."""
    orders = await _orders(ctx, (
        e.data.order_id for e in events if isinstance(e, ev.OrderPlaced | ev.OrderPaid)
    ))
    notices: list[Notice] = []
    for event in events:
        if (notice := _notice(event, orders)) is not None:
            notices.append(notice)
        elif (
            isinstance(event, ev.StreamStatusChanged)
            and event.stream_id is not None
            and event.data.status == "live"
        ):
            await enqueue(ctx, tasks.fanout_plan, "stream_live", event.stream_id)
    ids = await notify_many(ctx, notices, channels=set(ctx.channels))
    await tasks.deliver_batch_later(ctx, ids)


async def handle(ctx: AppContext, event: ev.DomainEvent) -> None:
    """One event (`handle_many` of one)."""
    await handle_many(ctx, [event])

