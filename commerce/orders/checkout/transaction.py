"""The checkout transaction: reserve stock and write the orders, their lines, the keys' first
answers and the outbox events together, for one order or a group (`group_commit`).

Order of work inside the transaction, chosen for the hot product row:
1. products are read with a plain (non-locking) read for names, prices (never trusted from the
   client), sellers, currency and limits per buyer; the buyers' rows are locked and their
   purchase caps counted (`caps`: an order past one is left out, 409 `purchase_limit`), and the
   order rows are inserted;
2. the first answers' rows are inserted before any stock is touched: a concurrent duplicate waits
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

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from commerce.catalog.models import Product
from commerce.db import insert_returning_ids, table_of, utcnow
from commerce.inventory import stock
from commerce.metrics import CHECKOUT_LOCK_RETRIES, ORDERS_PLACED
from commerce.orders.checkout import caps
from commerce.orders.checkout.answers import AnswerKey, Claim, FirstAnswers, StoredResponse
from commerce.orders.checkout.fastpath import Hold
from commerce.orders.errors import OrderInputError, PurchaseLimit
from commerce.orders.models import Order, OrderItem
from commerce.orders.schemas import OrderCreate, order_out
from commerce.outage import DependencyDown, lock_conflict
from commerce.outbox import insert_events
from commerce.streams.models import Stream
from shared import events as ev
from shared.tokens import Principal

OPEN_STREAM_STATUSES = ("scheduled", "live")
_ORDERS = table_of(Order)
_ITEMS = table_of(OrderItem)
_PRODUCTS = table_of(Product)
_STREAMS = table_of(Stream)

# Statements built once: building a Core statement and its cache key costs about as much CPU
# as running it (≈ 100 µs each, measured), and these run for every checkout group.
_SELECT_PRODUCTS = select(
    _PRODUCTS.c.id, _PRODUCTS.c.seller_id, _PRODUCTS.c.name, _PRODUCTS.c.price_minor,
    _PRODUCTS.c.currency, _PRODUCTS.c.limit_per_buyer,
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
    limit_per_buyer: int | None


class DuplicateKey(Exception):
    """The Idempotency-Key is taken: by an earlier request, or a concurrent one that committed
    first (our INSERT waited for it on the unique index)."""


@dataclass(frozen=True)
class CheckoutRequest:
    principal: Principal
    body: OrderCreate
    lines: dict[int, int]
    answer: AnswerKey | None
    # The key's success marker is already set (by the fast path).
    marked: bool = False
    # What the fast path counted in the buyer's purchase-cap counters (given back if the
    # checkout does not commit); None: it did not run.
    hold: Hold | None = None

    @property
    def buyer_id(self) -> int:
        return self.principal.user_id


@dataclass(frozen=True)
class Written:
    """An order inserted in the current transaction, with its lines and response (not yet
    written: lines and events go in after the stock UPDATEs)."""

    request: CheckoutRequest
    order: Order
    items: list[OrderItem]
    response: StoredResponse


def mask_name(name: str) -> str:
    """'Mei Li' -> 'M***i': enough for a room to feel the sale, not enough to identify."""
    name = name.strip()
    if not name:
        return "***"
    return f"{name[0]}***{name[-1]}" if len(name) > 1 else f"{name}***"


Outcome = tuple[StoredResponse, dict[int, int]]
# A request the transaction left out: a rule its products break, or a purchase cap.
Refused = OrderInputError | PurchaseLimit
# Attempts of one order's own checkout transaction (`CheckoutTransaction.one`) that MariaDB rolls
# back as a deadlock victim or times out on a row lock; the only retry of a lock conflict. Lock
# order (users, then products by id) rules out most cycles, not all: an `order_items` row takes a
# shared foreign-key lock on its seller's `users` row after the product rows, so a seller who
# buys (their row locked first, for the caps) while a group holding the product they buy sells
# their own product closes one; other writers (refunds, stock edits) can too.
LOCK_CONFLICT_ATTEMPTS = 4


class CheckoutTransaction:
    """Runs checkouts in database transactions (one order, or a group of them)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        answers: FirstAnswers,
        *,
        reservation_ttl_s: int,
        max_unpaid_orders: int = 0,
    ) -> None:
        self.sessions = sessions
        self.answers = answers
        self.reservation_ttl_s = reservation_ttl_s
        self.max_unpaid_orders = max_unpaid_orders  # 0: no cap

    async def one(self, req: CheckoutRequest) -> Outcome:
        """One order in its own transaction. Returns the response and the products' new
        stock. A deadlock or lock-wait timeout runs the transaction again (the server has
        rolled it back, so nothing of the attempt remains), with a short random back-off, up to
        `LOCK_CONFLICT_ATTEMPTS` attempts; past the last it is 503 `unavailable` with
        `Retry-After`, never 500."""
        for attempt in range(1, LOCK_CONFLICT_ATTEMPTS + 1):
            try:
                [outcome] = await self._group([req])
            except Exception as exc:
                if not lock_conflict(exc):
                    raise
                if attempt == LOCK_CONFLICT_ATTEMPTS:
                    raise DependencyDown("database") from exc
                CHECKOUT_LOCK_RETRIES.inc()
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
                continue
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        raise AssertionError("unreachable")  # the loop returns or raises

    async def group(self, reqs: Sequence[CheckoutRequest]) -> list[Outcome | Refused]:
        """One transaction for `reqs`, attempted once: per request its outcome, or the rule or
        cap it broke (such a request is left out). Raises, rolling back all of them, when they
        cannot commit together: `OutOfStock` for the summed quantities, `DuplicateKey`, a lock
        conflict or any database error; the caller (`GroupCommit`) then checks each out alone
        with `one`, which is where lock conflicts are retried."""
        return await self._group(reqs)

    async def _group(self, reqs: Sequence[CheckoutRequest]) -> list[Outcome | Refused]:
        outcomes: list[Outcome | Refused | None] = [None] * len(reqs)
        written: list[Written] = []
        async with self.sessions() as session, session.begin():
            products = await load_products(session, sorted({p for r in reqs for p in r.lines}))
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
                live = await self._within_caps(session, reqs, live, products, outcomes)
            if live:
                written = await insert_orders(
                    session, [reqs[i] for i in live], products,
                    reservation_ttl_s=self.reservation_ttl_s,
                )
                await claim_answers(session, self.answers, written)
                totals: Counter[int] = Counter()
                for i in live:
                    totals.update(reqs[i].lines)
                stocks = await stock.reserve(session, lines=dict(totals))
                await insert_lines_and_events(session, written, stocks)
                for i, w in zip(live, written, strict=True):
                    outcomes[i] = (w.response, {pid: stocks[pid] for pid in w.request.lines})
        for w in written:  # committed: counted here, where each order's currency is at hand
            ORDERS_PLACED.labels(w.order.currency).inc()
        settled = [o for o in outcomes if o is not None]
        assert len(settled) == len(reqs)  # every request is either invalid or in the transaction
        return settled


    async def _within_caps(
        self,
        session: AsyncSession,
        reqs: Sequence[CheckoutRequest],
        live: list[int],
        products: Mapping[int, ProductFacts],
        outcomes: list[Outcome | Refused | None],
    ) -> list[int]:
        """`live` without the requests past a purchase cap (their outcome is the error)."""
        refused = await caps.check(
            await session.connection(), [reqs[i] for i in live],
            {pid: products[pid].limit_per_buyer for i in live for pid in reqs[i].lines},
            max_unpaid=self.max_unpaid_orders,
        )
        for j, exc in refused.items():
            outcomes[live[j]] = exc
        return [i for j, i in enumerate(live) if j not in refused]


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
    reqs: Sequence[CheckoutRequest],
    products: Mapping[int, ProductFacts],
    *,
    reservation_ttl_s: int,
) -> list[Written]:
    """Insert one `orders` row per request: one statement for all of them where the engine
    reports the new ids of a multi-row INSERT (`db.insert_returning_ids`)."""
    connection = await session.connection()
    now = utcnow()
    expires_at = now + timedelta(seconds=reservation_ttl_s)
    orders = [_new_order(req, products, now, expires_at) for req in reqs]
    ids = await insert_returning_ids(connection, _ORDERS, [_columns(o, _ORDERS) for o in orders])
    return [
        _written(req, order, order_id, products)
        for req, order, order_id in zip(reqs, orders, ids, strict=True)
    ]


def _new_order(
    req: CheckoutRequest, products: Mapping[int, ProductFacts], now: datetime,
    expires_at: datetime,
) -> Order:
    return Order(
        buyer_id=req.principal.user_id,
        stream_id=req.body.stream_id,
        status="pending_payment",
        currency=products[next(iter(req.lines))].currency,
        total_minor=sum(products[pid].price_minor * q for pid, q in req.lines.items()),
        shipping_address=req.body.shipping_address.model_dump(mode="json"),
        expires_at=expires_at,
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
    response = StoredResponse(
        201, orjson.dumps(order_out(order, items).model_dump(mode="json"))
    )
    return Written(req, order, items, response)


async def claim_answers(
    session: AsyncSession, answers: FirstAnswers, written: Sequence[Written]
) -> None:
    """Store the keyed orders' responses as their keys' first answers (`FirstAnswers.claim`);
    a key already taken raises `DuplicateKey` (the transaction must be rolled back)."""
    claims = [
        Claim(w.request.answer, w.response, w.request.marked)
        for w in written
        if w.request.answer is not None
    ]
    try:
        await answers.claim(session, claims)
    except IntegrityError:
        raise DuplicateKey() from None


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
        events += stock.stock_events({pid: stocks[pid] for pid in touched}, stream_id)
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
    """The column values set on a transient model object, for a Core INSERT: what its
    constructor set (the instance's own dict; None included where it was set, so every row of
    one statement has the same keys). Columns never set, the id and those a row only gets
    later in its life (`paid_at`, `shipment_id`, ...), are left out and take their default,
    NULL: reading each one through the ORM's attribute machinery and sending it as a
    parameter was most of this function's cost, per order and line (BENCHMARKS.md, session 9)."""
    values = vars(row)
    return {c.key: values[c.key] for c in table.columns if c.key in values}
