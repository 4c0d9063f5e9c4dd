"""The order state machine as a table, and the one function that moves an order along it.

Every transition is a conditional `UPDATE orders SET status = :to WHERE id = :id AND status =
:from`. Only the transaction whose UPDATE matched a row performs the side effects (releasing
stock, writing events), so a repeated or concurrent transition — a double cancel, two expiry
workers, a late payment webhook — is a no-op, never a double release.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.db import utcnow
from commerce.inventory import stock
from commerce.inventory.gate import StockGate
from commerce.orders.errors import InvalidTransition
from commerce.orders.models import Order, OrderItem
from commerce.outbox import add_event
from shared import events as ev

Status = Literal[
    "pending_payment", "paid", "cancelled", "expired", "fulfilled", "completed", "refunded"
]

TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        ("pending_payment", "paid"),
        ("pending_payment", "cancelled"),
        ("pending_payment", "expired"),
        ("paid", "fulfilled"),
        ("fulfilled", "completed"),
        ("paid", "refunded"),
        ("fulfilled", "refunded"),
    }
)
# Transitions that give the units still held by the order's lines back to stock (a shipped
# line holds none; a line already given back, e.g. refunded earlier on its own, is skipped).
RELEASES_STOCK = frozenset({"cancelled", "expired", "refunded"})
CLOSED = frozenset({"cancelled", "expired", "completed", "refunded"})


def sources(to: str) -> list[str]:
    return sorted(src for src, dst in TRANSITIONS if dst == to)


@dataclass
class TransitionResult:
    """What happened; `released` feeds `inventory.stock.after_commit` once committed."""

    matched: bool
    status_before: str | None = None
    released: dict[int, int] = field(default_factory=dict)
    buyer_id: int | None = None

    @property
    def unpaid_closed(self) -> bool:
        """An unpaid order left `pending_payment` (paid, cancelled, expired): its buyer may
        hold one more (`MAX_UNPAID_ORDERS_PER_BUYER`)."""
        return self.matched and self.status_before == "pending_payment"

    async def after_commit(self, gate: StockGate) -> None:
        """Sync the stock gate with what this committed transition changed."""
        await stock.after_commit(
            gate, released=self.released, buyer_id=self.buyer_id,
            unpaid_closed=self.unpaid_closed,
        )


async def transition(
    session: AsyncSession,
    order_id: int,
    to: Status,
    *,
    now: datetime | None = None,
    expected_from: str | None = None,
) -> TransitionResult:
    """Move `order_id` to `to` inside the caller's transaction, once.

    `matched=False` means the order was not in a state that allows `to` (someone else got
    there first, or it never could): nothing was changed. The caller commits; after the commit
    it should pass the result to `inventory.stock.after_commit` to sync Redis.
    """
    froms = sources(to) if expected_from is None else [expected_from]
    if not froms or any((src, to) not in TRANSITIONS for src in froms):
        return TransitionResult(matched=False)
    now = now or utcnow()
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if to == "paid":
        values["paid_at"] = now
    if to == "fulfilled":
        values["fulfilled_at"] = now
    if to in CLOSED:
        values["closed_at"] = now
    found: Any = None
    for src in froms:
        result = await session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status == src)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            found = src
            break
    if found is None:
        return TransitionResult(matched=False)
    order = (
        await session.execute(
            select(Order.buyer_id, Order.stream_id).where(Order.id == order_id)
        )
    ).one()
    outcome = TransitionResult(matched=True, status_before=found, buyer_id=int(order.buyer_id))
    if to in RELEASES_STOCK:
        outcome.released = await release_lines(
            session, order_id, stream_id=order.stream_id, now=now
        )
    _state_event(session, order_id, order.buyer_id, order.stream_id, to)
    return outcome


async def release_lines(
    session: AsyncSession,
    order_id: int,
    *,
    stream_id: int | None,
    product_ids: list[int] | None = None,
    now: datetime | None = None,
) -> dict[int, int]:
    """Give back the units the order's lines (or those of `product_ids`) still hold, once.

    A line holds its units until it ships (sold) or is given back; `restocked_at` is set by a
    conditional UPDATE, so no line returns its units twice. The caller holds the order row
    (its transition matched, or it locked the row), which serialises releases of one order.
    Returns product id -> units given back, for `inventory.stock.after_commit`.
    """
    query = select(OrderItem.id, OrderItem.product_id, OrderItem.quantity).where(
        OrderItem.order_id == order_id,
        OrderItem.restocked_at.is_(None),
        OrderItem.shipment_id.is_(None),
    )
    if product_ids is not None:
        query = query.where(OrderItem.product_id.in_(product_ids))
    rows = (await session.execute(query.with_for_update())).all()
    if not rows:
        return {}
    marked = await session.execute(
        update(OrderItem)
        .where(OrderItem.id.in_([r.id for r in rows]), OrderItem.restocked_at.is_(None))
        .values(restocked_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != len(rows):  # type: ignore[attr-defined]
        raise InvalidTransition(details={"reason": "lines released concurrently"})
    lines: dict[int, int] = defaultdict(int)
    for row in rows:
        lines[int(row.product_id)] += int(row.quantity)
    await stock.release(session, lines=lines, stream_id=stream_id)
    return dict(lines)


_EVENTS: dict[str, type[ev.OrderPaid] | type[ev.OrderCancelled] | type[ev.OrderExpired]
              | type[ev.OrderCompleted]] = {
    "paid": ev.OrderPaid,
    "cancelled": ev.OrderCancelled,
    "expired": ev.OrderExpired,
    "completed": ev.OrderCompleted,
}


def _state_event(
    session: AsyncSession, order_id: int, buyer_id: int, stream_id: int | None, to: str
) -> None:
    event_cls = _EVENTS.get(to)
    if event_cls is not None:
        data = ev.OrderStateData(order_id=order_id, buyer_id=buyer_id, status=to)
        add_event(session, event_cls(stream_id=stream_id, data=data))
