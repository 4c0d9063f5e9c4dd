"""Purchase caps inside the checkout transaction (flash-sale fairness, issue 17): a buyer may
hold at most `MAX_UNPAID_ORDERS_PER_BUYER` unpaid orders, and at most a product's
`limit_per_buyer` units of it across orders that are not cancelled, expired or refunded. An
order past either is 409 `purchase_limit` (`PurchaseLimit`) and reserves nothing.

The database is the truth (the Redis gate only answers early, `fastpath`). Counting and then
inserting is a read-then-write, so one buyer's concurrent checkouts (a bot holding 50 sessions,
several API processes) must not both count before either inserts: each transaction first locks
its buyers' `users` rows (ascending id), then counts. Lock order stays users, then products:
the buyer lock is taken before the order rows are inserted (their foreign key takes a shared
lock on the same row; exclusive first means no shared-to-exclusive upgrade that two checkouts
could deadlock on) and before the hot product row is touched, so the hot row's lock is not held
any longer than before. One statement each per checkout group (lock, unpaid counts, units
held), not per order, so the group commit's rate holds.

SQLite (the embedded default) has no row locks and begins its transaction only at the first
write: a no-op UPDATE of the buyers' rows takes its single write lock before the counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter

from commerce.auth.models import User
from commerce.db import table_of
from commerce.orders.errors import PurchaseLimit
from commerce.orders.models import Order, OrderItem

_USERS = table_of(User)
_ORDERS = table_of(Order)
_ITEMS = table_of(OrderItem)
# Orders whose lines no longer count against `limit_per_buyer` (their units went back, or the
# money did). Lines refunded or given back on their own in a live order do not count either.
RELEASED_STATUSES = ("cancelled", "expired", "refunded")

_BUYER_IDS: BindParameter[int] = bindparam("buyers", expanding=True)
_LOCK_BUYERS = (
    select(_USERS.c.id).where(_USERS.c.id.in_(_BUYER_IDS)).order_by(_USERS.c.id).with_for_update()
)
_LOCK_BUYERS_SQLITE = (
    update(_USERS).where(_USERS.c.id.in_(_BUYER_IDS)).values(updated_at=_USERS.c.updated_at)
)
_UNPAID = (
    select(_ORDERS.c.buyer_id, func.count())
    .where(_ORDERS.c.buyer_id.in_(_BUYER_IDS), _ORDERS.c.status == "pending_payment")
    .group_by(_ORDERS.c.buyer_id)
)
_UNITS_HELD = (
    select(_ORDERS.c.buyer_id, _ITEMS.c.product_id, func.sum(_ITEMS.c.quantity))
    .select_from(_ORDERS.join(_ITEMS, _ITEMS.c.order_id == _ORDERS.c.id))
    .where(
        _ORDERS.c.buyer_id.in_(_BUYER_IDS),
        _ORDERS.c.status.not_in(RELEASED_STATUSES),
        _ITEMS.c.product_id.in_(bindparam("products", expanding=True)),
        _ITEMS.c.restocked_at.is_(None),
        _ITEMS.c.refund_id.is_(None),
    )
    .group_by(_ORDERS.c.buyer_id, _ITEMS.c.product_id)
)


class Capped(Protocol):
    """What the caps read of a checkout request (`transaction.CheckoutRequest`)."""

    @property
    def buyer_id(self) -> int: ...

    @property
    def lines(self) -> dict[int, int]: ...


async def check(
    connection: AsyncConnection,
    reqs: Sequence[Capped],
    limits: Mapping[int, int | None],
    *,
    max_unpaid: int,
) -> dict[int, PurchaseLimit]:
    """The requests (by index) that would take their buyer past a cap, each with its error;
    the others fit, counted together in the order given (two orders of one buyer in one group
    count as two). `limits`: product id -> `limit_per_buyer` of every product the requests
    name. Locks the buyers' rows first (see the module's docstring)."""
    limited = sorted({pid for r in reqs for pid in r.lines if limits.get(pid)})
    if not max_unpaid and not limited:
        return {}
    buyers = sorted({r.buyer_id for r in reqs})
    lock = _LOCK_BUYERS_SQLITE if connection.dialect.name == "sqlite" else _LOCK_BUYERS
    await connection.execute(lock, {"buyers": buyers})
    unpaid: Counter[int] = Counter()
    if max_unpaid:
        rows = await connection.execute(_UNPAID, {"buyers": buyers})
        unpaid.update({int(buyer): int(n) for buyer, n in rows.all()})
    held: Counter[tuple[int, int]] = Counter()
    if limited:
        rows = await connection.execute(_UNITS_HELD, {"buyers": buyers, "products": limited})
        held.update({(int(b), int(p)): int(units) for b, p, units in rows.all()})
    refused: dict[int, PurchaseLimit] = {}
    for i, req in enumerate(reqs):
        buyer = req.buyer_id
        if max_unpaid and unpaid[buyer] + 1 > max_unpaid:
            refused[i] = PurchaseLimit(
                limit=max_unpaid, kind=PurchaseLimit.UNPAID_ORDERS, held=unpaid[buyer]
            )
            continue
        over = next(
            (pid for pid in sorted(req.lines)
             if (limit := limits.get(pid)) and held[buyer, pid] + req.lines[pid] > limit),
            None,
        )
        if over is not None:
            refused[i] = PurchaseLimit(
                limit=int(limits[over] or 0), kind=PurchaseLimit.PER_PRODUCT, product_id=over,
                held=held[buyer, over],
            )
            continue
        unpaid[buyer] += 1
        for pid, quantity in req.lines.items():
            held[buyer, pid] += quantity
    return refused
