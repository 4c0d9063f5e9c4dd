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
any longer than before. Per checkout group, not per order, so the group commit's rate holds:
one statement that locks the buyers and counts their unpaid orders, and one for the units held
when a product has a limit.

The count rides in the locking statement as a correlated subquery that is itself a *locking*
read (`LOCK IN SHARE MODE`): under READ COMMITTED a plain subquery reads through a snapshot
that InnoDB takes at the statement's first plain read, so with several buyers the count of a
later one could predate the wait for its row lock and miss the orders that its holder committed
(shown on MariaDB 10.11 by `test_orders_caps_race.py`, which races it). A locking read has no
snapshot: it reads the latest committed rows, and as part of the select list it runs after
its own buyer's row is locked. It share-locks the buyer's unpaid orders until the commit,
after the buyer's row and before any product row: payment, expiry and cancellation lock an
order before its products too, and none of them then waits for a user row, so this closes no
new cycle; an order of the buyer being paid or expired only makes the checkout wait for that
commit.

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
# The buyers' rows locked, each with its unpaid orders counted by a locking read (see above).
_UNPAID_OF_BUYER = (
    select(func.count())
    .select_from(_ORDERS)
    .where(_ORDERS.c.buyer_id == _USERS.c.id, _ORDERS.c.status == "pending_payment")
    .with_for_update(read=True)
    .scalar_subquery()
)
_LOCK_BUYERS_COUNTING_UNPAID = (
    select(_USERS.c.id, _UNPAID_OF_BUYER)
    .where(_USERS.c.id.in_(_BUYER_IDS))
    .order_by(_USERS.c.id)
    .with_for_update()
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
    unpaid = await _lock_buyers(connection, buyers, count_unpaid=bool(max_unpaid))
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


async def _lock_buyers(
    connection: AsyncConnection, buyers: list[int], *, count_unpaid: bool
) -> Counter[int]:
    """Lock the buyers' rows; with `count_unpaid`, their unpaid orders by buyer, counted after
    the locks (in the same statement on MariaDB, the next one on SQLite)."""
    unpaid: Counter[int] = Counter()
    if connection.dialect.name == "sqlite":
        await connection.execute(_LOCK_BUYERS_SQLITE, {"buyers": buyers})
        if count_unpaid:
            rows = await connection.execute(_UNPAID, {"buyers": buyers})
            unpaid.update({int(buyer): int(n) for buyer, n in rows.all()})
    elif count_unpaid:
        rows = await connection.execute(_LOCK_BUYERS_COUNTING_UNPAID, {"buyers": buyers})
        unpaid.update({int(buyer): int(n) for buyer, n in rows.all()})
    else:
        await connection.execute(_LOCK_BUYERS, {"buyers": buyers})
    return unpaid
