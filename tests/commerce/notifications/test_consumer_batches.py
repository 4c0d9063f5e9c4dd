"""A batch of order events costs the database the same few statements whatever its size (real
MariaDB and Redis stream; the consumer run by hand, no API running beside it): a flash sale's
thousands of `order.placed` a second must not cost a transaction or four each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select

from commerce.channels.sandbox import SandboxMailbox
from commerce.consumer import event_consumer
from commerce.context import AppContext
from commerce.notifications.events import handle_many
from commerce.notifications.models import Notification, NotificationDelivery
from shared import events as ev
from tests.commerce.factories import make_user


def _placed(order_id: int, buyer_id: int) -> ev.OrderPlaced:
    return ev.OrderPlaced(data=ev.OrderPlacedData(
        order_id=order_id, buyer_id=buyer_id, buyer_masked="b***", total_minor=129000,
        currency="TWD", items=[ev.OrderLine(product_id=1, quantity=1)]))


async def _statements_for(ctx: AppContext, events: list[ev.DomainEvent]) -> int:
    """Publish `events`, run the consumer over them once, wait for its delivery task, and
    return how many SQL statements that took."""
    for e in events:
        await ctx.bus.publish(e)
    consumer = event_consumer(ctx)
    await ctx.bus.ensure_group(consumer.group)
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(ctx.engine.sync_engine, "before_cursor_execute", count)
    try:
        assert await consumer.run_once() == len(events)
        await ctx.inline.drain()
    finally:
        event.remove(ctx.engine.sync_engine, "before_cursor_execute", count)
    return statements


async def _mailbox(ctx: AppContext, to: str) -> list[dict[str, Any]]:
    return await SandboxMailbox(ctx.redis, size=1000).list(to=to)


async def test_a_batch_of_order_events_costs_the_same_statements_as_one(ctx: AppContext) -> None:
    buyers = [(await make_user(ctx))[0] for _ in range(25)]
    one = await _statements_for(ctx, [_placed(1, buyers[0].id)])
    many = await _statements_for(
        ctx, [_placed(order_id, b.id) for order_id, b in enumerate(buyers[1:], start=2)]
    )
    assert one == many, (one, many)

    async with ctx.sessions() as session:
        notified = (await session.execute(
            select(Notification.user_id, func.count()).group_by(Notification.user_id)
        )).tuples().all()
        sent = await session.scalar(select(func.count()).select_from(NotificationDelivery)
                                    .where(NotificationDelivery.status == "sent"))
    assert sorted(notified) == sorted((b.id, 1) for b in buyers)
    assert sent == len(buyers)
    for order_id, buyer in enumerate(buyers, start=1):
        [message] = await _mailbox(ctx, buyer.email)
        assert message["kind"] == "order_placed" and f"#{order_id}" in message["subject"]


async def test_the_same_event_twice_in_one_batch_notifies_once(ctx: AppContext) -> None:
    buyer, _ = await make_user(ctx)
    other, _ = await make_user(ctx)
    twice = _placed(7, buyer.id)
    await handle_many(ctx, [twice, _placed(8, other.id), twice])  # lanes would split them
    await ctx.inline.drain()
    assert len(await _mailbox(ctx, buyer.email)) == 1
    assert len(await _mailbox(ctx, other.email)) == 1
