"""The seller's CSV of order lines in a period, streamed page by page (keyset on the line id),
never built in memory. All pages are read in one snapshot (`ReadSessions.snapshot`): one
server (a replica while one is healthy, else the primary) and one instant, so a report adds up
even while orders are placed or change status under it, and never mixes a lagging replica's
pages with the primary's. It may trail the latest orders by the replica lag bound.

Cells that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) are prefixed with `'`
(OWASP's CSV-injection advice): product names and addresses come from users. A UTF-8 BOM makes
Excel read Chinese and Thai names correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from commerce.context import AppContext
from commerce.orders.models import Order, OrderItem
from shared.errors import InvalidInput
from shared.money import from_minor

PAGE = 500
MAX_DAYS = 366
HEADER = ["order_id", "created_at", "status", "stream_id", "product_id", "product_name",
          "quantity", "unit_price", "line_total", "currency", "buyer_id"]


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive


def period(first: date, last: date) -> Period:
    if last < first:
        raise InvalidInput("`to` is before `from`", code="invalid_period")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days", code="invalid_period")
    return Period(datetime.combine(first, time(), UTC),
                  datetime.combine(last + timedelta(days=1), time(), UTC))


def _safe(cell: object) -> object:
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def _encode(rows: list[list[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([[_safe(c) for c in row] for row in rows])
    return buffer.getvalue().encode()


async def rows_csv(ctx: AppContext, *, seller_id: int, period: Period) -> AsyncIterator[bytes]:
    yield "\ufeff".encode() + _encode([list(HEADER)])
    after = 0
    async with ctx.reads.snapshot(user_id=seller_id) as session:
        while True:
            page = (await session.execute(
                select(OrderItem.id, Order.id, Order.created_at, Order.status, Order.stream_id,
                       OrderItem.product_id, OrderItem.name, OrderItem.quantity,
                       OrderItem.unit_price_minor, Order.currency, Order.buyer_id)
                .join(Order, Order.id == OrderItem.order_id)
                .where(OrderItem.seller_id == seller_id, OrderItem.id > after,
                       Order.created_at >= period.start, Order.created_at < period.end)
                .order_by(OrderItem.id).limit(PAGE)
            )).tuples().all()
            if not page:
                return
            yield _encode([
                [order_id, created.isoformat(), status, stream_id or "", product_id, name, qty,
                 from_minor(price), from_minor(price * qty), currency, buyer_id]
                for _, order_id, created, status, stream_id, product_id, name, qty, price,
                currency, buyer_id in page
            ])
            after = page[-1][0]
