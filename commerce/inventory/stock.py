"""Stock changes inside the caller's transaction, the one rule for the events they publish,
and the stock gate's sync after a commit.

The database is the only oversell guard: one conditional `UPDATE ... WHERE stock >= :q` per
line, lines in primary-key order so two orders over the same products lock rows in the same
order and cannot deadlock. No read-modify-write in Python, no global lock.

MariaDB has no `UPDATE ... RETURNING`, so the new stock is read back after the updates; the
rows are locked by this transaction by then, so the read sees exactly our own result.

Every change of stock (a reservation, a release, a seller's edit) publishes its events through
`stock_events`, so the gateway's view of the stock has one source rule.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog.models import Product
from commerce.db import table_of
from commerce.inventory.errors import OutOfStock
from commerce.inventory.gate import StockGate
from commerce.outbox import insert_events
from shared import events as ev

log = structlog.get_logger(__name__)
# Core, not ORM: these statements run while the product rows are locked (see the checkout's
# transaction module).
_products = table_of(Product)
# Built once: one stock line each, in primary-key order.
_TAKE = (
    update(_products)
    .where(_products.c.id == bindparam("pid"), _products.c.stock >= bindparam("qty"),
           _products.c.is_deleted.is_(False))
    .values(stock=_products.c.stock - bindparam("qty"))
)
_GIVE_BACK = (
    update(_products)
    .where(_products.c.id == bindparam("pid"))
    .values(stock=_products.c.stock + bindparam("qty"))
)
_STOCKS = select(_products.c.id, _products.c.stock).where(
    _products.c.id.in_(bindparam("ids", expanding=True))
)


async def reserve(session: AsyncSession, *, lines: Mapping[int, int]) -> dict[int, int]:
    """Take `lines` (product id → quantity) out of stock; returns product id → new stock.

    Raises `OutOfStock` at the first line that cannot be served; the caller's transaction
    then rolls back every earlier line too. The caller writes `stock_events(...)` for the
    result in the same transaction (with its own events, in one statement).
    """
    connection = await session.connection()
    for pid in sorted(lines):
        result = await connection.execute(_TAKE, {"pid": pid, "qty": lines[pid]})
        if result.rowcount == 0:
            available = await connection.scalar(
                select(_products.c.stock).where(
                    _products.c.id == pid, _products.c.is_deleted.is_(False)
                )
            )
            raise OutOfStock(product_id=pid, available=int(available or 0))
    return await _stocks(session, list(lines))


async def release(
    session: AsyncSession, *, lines: Mapping[int, int], stream_id: int | None
) -> None:
    """Put reserved units back (the caller's transition matched, so this runs once per order),
    with the `stock.changed` events in the same transaction."""
    connection = await session.connection()
    for pid in sorted(lines):
        await connection.execute(_GIVE_BACK, {"pid": pid, "qty": lines[pid]})
    stocks = await _stocks(session, list(lines))
    await insert_events(session, stock_events(stocks, stream_id))


async def edited(session: AsyncSession, *, product_id: int, stock: int) -> None:
    """A seller set a product's stock (in the caller's transaction, which holds the row): its
    events. After the commit the caller calls `StockGate.forget`, or a restocked product would
    keep answering out_of_stock from the gate until the key's TTL."""
    await insert_events(session, stock_events({product_id: stock}, None))


async def _stocks(session: AsyncSession, product_ids: list[int]) -> dict[int, int]:
    connection = await session.connection()
    rows = await connection.execute(_STOCKS, {"ids": product_ids})
    return {int(pid): int(stock) for pid, stock in rows.all()}


def stock_events(stocks: Mapping[int, int], stream_id: int | None) -> list[ev.DomainEvent]:
    """The one stock-event rule: `stock.changed` for each product, and `product.sold_out` for
    those now at zero."""
    events: list[ev.DomainEvent] = []
    for pid in sorted(stocks):
        events.append(
            ev.StockChanged(
                stream_id=stream_id, data=ev.StockChangedData(product_id=pid, stock=stocks[pid])
            )
        )
        if stocks[pid] == 0:
            events.append(
                ev.ProductSoldOut(stream_id=stream_id, data=ev.SoldOutData(product_id=pid))
            )
    return events


async def after_commit(
    gate: StockGate,
    *,
    released: Mapping[int, int] | None,
    buyer_id: int | None = None,
    unpaid_closed: bool = False,
) -> None:
    """Best-effort sync of the stock gate after a commit that released units or closed an
    unpaid order (paid, cancelled, expired): the units go back to the stock keys, and the
    buyer's purchase-cap counters (`buyer_id`) go down. A failure here is logged, not raised:
    the change is committed and the gate heals by its TTL. (The gateway's view of the stock
    follows the `stock.changed` events, in commit order: `shared.livedata`.)"""
    if not released and not (unpaid_closed and buyer_id is not None):
        return
    try:
        await gate.release(released or {}, buyer_id=buyer_id, unpaid_closed=unpaid_closed)
    except Exception:
        log.warning("stock_gate_sync_failed", product_ids=sorted(released or {}),
                    buyer_id=buyer_id, exc_info=True)
