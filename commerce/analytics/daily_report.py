"""The seller's daily report: yesterday's orders, units and sales (in the seller's market's
time zone), sent as a `seller_daily_report` notification once per seller and day (the day is
in the dedup key, so the hourly beat, run twice or on two beats, reports each day once)."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.analytics.service import NOT_COUNTED
from commerce.auth.models import User
from commerce.context import AppContext
from commerce.db import utcnow
from commerce.notifications import tasks as notification_tasks
from commerce.notifications.formatting import MARKET_TIMEZONE, timezone_of
from commerce.notifications.service import notify_users
from commerce.notifications.values import Money
from commerce.orders.models import Order, OrderItem


def local_yesterday(market: str, now: datetime) -> tuple[date, datetime, datetime]:
    """The market's previous local day and its [start, end) in UTC."""
    tz = timezone_of(market)
    day = now.astimezone(tz).date() - timedelta(days=1)
    start = datetime.combine(day, time(), tz).astimezone(UTC)
    return day, start, start + timedelta(days=1)


async def send_daily_reports(ctx: AppContext, *, now: datetime | None = None) -> int:
    """Report yesterday to every seller who sold something; returns how many were reported."""
    now = now or utcnow()
    reported = 0
    for market in MARKET_TIMEZONE:
        day, start, end = local_yesterday(market, now)
        # A day that ended before the report runs: a replica within its lag bound has it all.
        rows = await ctx.reads.read(functools.partial(_day_totals, market=market,
                                                      start=start, end=end))
        per_seller: dict[int, list[tuple[str, int, int, int]]] = defaultdict(list)
        for seller_id, currency, orders, units, minor in rows:
            per_seller[seller_id].append((currency, int(orders), int(units), int(minor)))
        for seller_id, lines in per_seller.items():
            ids = await notify_users(
                ctx, user_ids=[seller_id], kind="seller_daily_report",
                dedup_key=f"seller_daily_report:{day.isoformat()}",
                values={"day": day, "orders": sum(o for _, o, _, _ in lines),
                        "units": sum(u for _, _, u, _ in lines),
                        "gmv": tuple(Money(m, c) for c, _, _, m in lines)},
                data={"day": day.isoformat(),
                      "report": f"/api/v1/sellers/me/reports/orders.csv?from={day}&to={day}"},
                channels=set(ctx.channels),
            )
            await notification_tasks.deliver_all(ctx, ids)
            reported += 1
    return reported


async def _day_totals(
    session: AsyncSession, *, market: str, start: datetime, end: datetime
) -> Sequence[tuple[int, str, int, int, int]]:
    """Per seller of `market` and currency: orders, units and sales in [start, end)."""
    rows = await session.execute(
        select(OrderItem.seller_id, Order.currency,
               func.count(func.distinct(Order.id)), func.sum(OrderItem.quantity),
               func.sum(OrderItem.quantity * OrderItem.unit_price_minor))
        .join(Order, Order.id == OrderItem.order_id)
        .join(User, User.id == OrderItem.seller_id)
        .where(User.market == market, Order.created_at >= start, Order.created_at < end,
               Order.status.not_in(NOT_COUNTED))
        .group_by(OrderItem.seller_id, Order.currency)
        .order_by(OrderItem.seller_id, Order.currency)
    )
    return rows.tuples().all()
