"""The checkout transaction: reserve stock and write the orders, their lines, the idempotency
records and the outbox events together, for one order or a group (`group_commit`).

Order of work inside the transaction, chosen for the hot product row:
1. products are read with a plain (non-locking) read for names, prices (never trusted from the
   client), sellers and currency, and the order rows are inserted;
2. the idempotency rows are inserted before any stock is touched: a concurrent duplicate waits
   on them, and a key already used fails the unique index, rolls back and is answered from the
   stored record (no SELECT first: the index is the check, and most requests are new);
3. only then the conditional stock UPDATEs run (primary-key order), followed by the order
   lines: an `order_items` row takes a shared FK lock on its product, which must come after our
   exclusive lock or two checkouts would deadlock upgrading shared to exclusive;
4. commit. The hot row's lock is held only for steps 3-4.

Written with Core statements (no ORM unit of work): the ORM's flush bookkeeping was the largest
share of a checkout's CPU (py-spy, BENCHMARKS.md), and the later statements run while the hot
product row is locked. Orders and items are transient model objects used as plain values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.catalog.models import Product
from commerce.context import AppContext
from commerce.db import insert_returning_ids, table_of, utcnow
from commerce.metrics import ORDERS_PLACED
from commerce.orders import idempotency as idem
from commerce.orders import reservations
from commerce.orders.errors import OrderInputError
from commerce.orders.models import Order, OrderItem
from commerce.orders.schemas import OrderCreate, order_out
from commerce.outbox import insert_events
from commerce.streams.models import Stream
from shared import events as ev
from shared.tokens import Principal

SCOPE = "orders.create"
OPEN_STREAM_STATUSES = ("scheduled", "live")
_ORDERS = table_of(Order)
_ITEMS = table_of(OrderItem)
_PRODUCTS = table_of(Product)
_STREAMS = table_of(Stream)

# Statements built once: building a Core statement and its cache key costs about as much CPU
# as running it (≈ 100 µs each, measured), and these run for every checkout group.
_SELECT_PRODUCTS = select(
    _PRODUCTS.c.id, _PRODUCTS.c.seller_id, _PRODUCTS.c.name, _PRODUCTS.c.price_minor,
    _PRODUCTS.c.currency,
).where(_PRODUCTS.c.id.in_(bindparam("ids", expanding=True)), _PRODUCTS.c.is_deleted.is_(False))
_SELECT_STREAMS = select(_STREAMS.c.id, _STREAMS.c.status).where(
    _STREAMS.c.id.in_(bindparam("ids", expanding=True))
)
_INSERT_ITEMS = insert(_ITEMS)


class ProductFacts(NamedTuple):
    """What a checkout reads of a product, with a plain (non-locking) read."""

    id: int
    seller_id: int
    name: str
    price_minor: int
    currency: str


class DuplicateKey(Exception):
    """The Idempotency-Key is taken: by an earlier request, or a concurrent one that committed
    first (our INSERT waited for it on the unique index)."""


@dataclass(frozen=True)
class CheckoutRequest:
    principal: Principal
    body: OrderCreate
    lines: dict[int, int]
    key: str | None
    digest: str
    # The key's idempotency marker is already set (by the stock gate's take).
    marked: bool = False


@dataclass(frozen=True)
class Written:
    """An order inserted in the current transaction, with its lines and response (not yet
    written: lines and events go in after the stock UPDATEs)."""

    request: CheckoutRequest
    order: Order
    items: list[OrderItem]
    response: idem.StoredResponse


def mask_name(name: str) -> str:
    """'Mei Li' -> 'M***i': enough for a room to feel the sale, not enough to identify."""
    name = name.strip()
    if not name:
        return "***"
    return f"{name[0]}***{name[-1]}" if len(name) > 1 else f"{name}***"


Outcome = tuple[idem.StoredResponse, dict[int, int]]


async def checkout_one(ctx: AppContext, req: CheckoutRequest) -> Outcome:
    """One order in its own transaction. Returns the response and the products' new stock."""
    [outcome] = await checkout_group(ctx, [req])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


async def checkout_group(
    ctx: AppContext, reqs: Sequence[CheckoutRequest]
) -> list[Outcome | OrderInputError]:
    """One transaction for `reqs`: per request its outcome, or the rule it broke (such a
    request is left out). Raises, rolling back all of them, when they cannot commit together:
    `OutOfStock` for the summed quantities, `DuplicateKey`, or any database error."""
    outcomes: list[Outcome | OrderInputError | None] = [None] * len(reqs)
    written: list[Written] = []
    async with ctx.sessions() as session, session.begin():
        products = await load_products(session, sorted({pid for r in reqs for pid in r.lines}))
        stream_ids = [r.body.stream_id for r in reqs if r.body.stream_id is not None]
        statuses = await stream_statuses(session, stream_ids) if stream_ids else {}
        live = []
        for i, req in enumerate(reqs):
            try:
                validate(products, req)
                validate_stream(statuses, req)
            except OrderInputError as exc:
                outcomes[i] = exc
            else:
                live.append(i)
        if live:
            written = await insert_orders(session, ctx, [reqs[i] for i in live], products)
            await insert_idempotency(session, ctx, written)
            totals: Counter[int] = Counter()
            for i in live:
                totals.update(reqs[i].lines)
            stocks = await reservations.reserve(session, lines=dict(totals))
            await insert_lines_and_events(session, written, stocks)
            for i, w in zip(live, written, strict=True):
                outcomes[i] = (w.response, {pid: stocks[pid] for pid in w.request.lines})
    for w in written:  # committed: counted here, where each order's currency is at hand
        ORDERS_PLACED.labels(w.order.currency).inc()
    settled = [o for o in outcomes if o is not None]
    assert len(settled) == len(reqs)  # every request is either invalid or in the transaction
    return settled


async def load_products(session: AsyncSession, ids: Sequence[int]) -> dict[int, ProductFacts]:
    """The non-deleted products among `ids` (at most a group's lines), by id."""
    connection = await session.connection()
    rows = await connection.execute(_SELECT_PRODUCTS, {"ids": list(ids)})
    return {int(row.id): ProductFacts(*row) for row in rows}


def validate(products: Mapping[int, ProductFacts], req: CheckoutRequest) -> None:
    """The rules an order's products must meet (raises `OrderInputError`)."""
    missing = sorted(pid for pid in req.lines if pid not in products)
    if missing:
        raise OrderInputError(
            "some products do not exist", code="product_not_found",
            details={"product_ids": missing},
        )
    own = sorted(pid for pid in req.lines if products[pid].seller_id == req.principal.user_id)
    if own:
        raise OrderInputError(
            "you cannot buy your own products", code="own_product", details={"product_ids": own}
        )
    currencies = sorted({products[pid].currency for pid in req.lines})
    if len(currencies) > 1:
        raise OrderInputError(
            "all products of one order must share a currency", code="currency_mismatch",
            details={"currencies": currencies},
        )


async def stream_statuses(session: AsyncSession, stream_ids: Sequence[int]) -> dict[int, str]:
    connection = await session.connection()
    rows = await connection.execute(_SELECT_STREAMS, {"ids": sorted(set(stream_ids))})
    return {int(sid): str(status) for sid, status in rows.all()}


def validate_stream(statuses: Mapping[int, str], req: CheckoutRequest) -> None:
    stream_id = req.body.stream_id
    if stream_id is None:
        return
    status = statuses.get(stream_id)
    if status not in OPEN_STREAM_STATUSES:
        raise OrderInputError(
            "orders can reference only a scheduled or live stream", code="invalid_stream",
            details={"stream_id": stream_id, "status": status},
        )


async def insert_orders(
    session: AsyncSession,
    ctx: AppContext,
    reqs: Sequence[CheckoutRequest],
    products: Mapping[int, ProductFacts],
) -> list[Written]:
    """Insert one `orders` row per request: one statement for all of them where the engine
    reports the new ids of a multi-row INSERT (`db.insert_returning_ids`)."""
    connection = await session.connection()
    now = utcnow()
    orders = [_new_order(ctx, req, products, now) for req in reqs]
    ids = await insert_returning_ids(connection, _ORDERS, [_columns(o, _ORDERS) for o in orders])
    return [
        _written(req, order, order_id, products)
        for req, order, order_id in zip(reqs, orders, ids, strict=True)
    ]


def _new_order(
    ctx: AppContext, req: CheckoutRequest, products: Mapping[int, ProductFacts], now: datetime
) -> Order:
    return Order(
        buyer_id=req.principal.user_id,
        stream_id=req.body.stream_id,
        status="pending_payment",
        currency=products[next(iter(req.lines))].currency,
        total_minor=sum(products[pid].price_minor * q for pid, q in req.lines.items()),
        shipping_address=req.body.shipping_address.model_dump(mode="json"),
        expires_at=now + timedelta(seconds=ctx.settings.order_reservation_ttl_s),
        created_at=now,
        updated_at=now,
    )


def _written(
    req: CheckoutRequest, order: Order, order_id: int, products: Mapping[int, ProductFacts]
) -> Written:
    """The inserted order with its lines and the response that describes it."""
    order.id = order_id
    items = [
        OrderItem(
            order_id=order.id,
            product_id=pid,
            seller_id=products[pid].seller_id,
            name=products[pid].name,
            unit_price_minor=products[pid].price_minor,
            quantity=req.lines[pid],
        )
        for pid in sorted(req.lines)
    ]
    response = idem.StoredResponse(
        201, orjson.dumps(order_out(order, items).model_dump(mode="json"))
    )
    return Written(req, order, items, response)


async def insert_idempotency(
    session: AsyncSession, ctx: AppContext, written: Sequence[Written]
) -> None:
    """Claim the keys of the keyed orders (one statement), then set the Redis markers the
    stock gate has not; a key already taken raises `DuplicateKey` (the transaction must be
    rolled back)."""
    keyed = [w for w in written if w.request.key]
    if not keyed:
        return
    records = [
        idem.Record(
            user_id=w.request.principal.user_id, key=w.request.key or "",
            digest=w.request.digest, response=w.response,
        )
        for w in keyed
    ]
    try:
        await idem.insert_records(session, scope=SCOPE, records=records)
    except IntegrityError:
        raise DuplicateKey() from None
    unmarked = [r for r, w in zip(records, keyed, strict=True) if not w.request.marked]
    if unmarked:  # the stock gate sets the markers of the requests it passes
        await idem.mark_many(ctx.redis, scope=SCOPE, records=unmarked)


async def insert_lines_and_events(
    session: AsyncSession, written: Sequence[Written], stocks: Mapping[int, int]
) -> None:
    """The orders' lines (one statement) and their outbox events (one statement): the new
    stock of each product once per stream the orders came from, then `order.placed` each."""
    connection = await session.connection()
    await connection.execute(
        _INSERT_ITEMS, [_columns(item, _ITEMS) for w in written for item in w.items]
    )
    events: list[ev.DomainEvent] = []
    for stream_id in dict.fromkeys(w.order.stream_id for w in written):
        touched = {
            pid for w in written if w.order.stream_id == stream_id for pid in w.request.lines
        }
        events += reservations.stock_events({pid: stocks[pid] for pid in touched}, stream_id)
    events += [_placed_event(w) for w in written]
    await insert_events(session, events)


def _placed_event(w: Written) -> ev.OrderPlaced:
    order, req = w.order, w.request
    return ev.OrderPlaced(
        stream_id=order.stream_id,
        data=ev.OrderPlacedData(
            order_id=order.id,
            buyer_id=order.buyer_id,
            buyer_masked=mask_name(req.principal.name),
            items=[ev.OrderLine(product_id=p, quantity=q) for p, q in sorted(req.lines.items())],
            total_minor=order.total_minor,
            currency=order.currency,
        ),
    )


def _columns(row: Order | OrderItem, table: Table) -> dict[str, Any]:
    """The column values set on a transient model object, for a Core INSERT."""
    values = {c.key: getattr(row, c.key) for c in table.columns}
    return {k: v for k, v in values.items() if v is not None or k != "id"}
