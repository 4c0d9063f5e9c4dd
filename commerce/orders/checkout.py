"""Placing an order: validate, pass the stock gate, then one transaction that reserves stock,
writes the order, its lines, the idempotency record and the outbox events together.

Order of work inside the transaction, chosen for the hot product row:
1. products are read with a plain (non-locking) read for names, prices (never trusted from the
   client), sellers and currency, and the order row is inserted;
2. the idempotency row is inserted before any stock is touched: a concurrent duplicate waits
   on it, and a key already used fails the unique index, rolls back and is answered from the
   stored record (no SELECT first: the index is the check, and most requests are new);
3. only then the conditional stock UPDATEs run (primary-key order), followed by the order
   lines: an `order_items` row takes a shared FK lock on its product, which must come after our
   exclusive lock or two checkouts would deadlock upgrading shared to exclusive;
4. commit. The hot row's lock is held only for steps 3-4.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from commerce.carts import service as cart_service
from commerce.catalog import service as catalog_service
from commerce.catalog.models import Product
from commerce.context import AppContext
from commerce.db import table_of, utcnow
from commerce.metrics import ORDERS_PLACED, ORDERS_REJECTED
from commerce.orders import idempotency as idem
from commerce.orders import reservations
from commerce.orders.errors import OrderInputError, OutOfStock
from commerce.orders.models import Order, OrderItem
from commerce.orders.schemas import MAX_LINES, MAX_QUANTITY, OrderCreate, order_out
from commerce.orders.stock_gate import Revoked
from commerce.outbox import insert_events
from commerce.streams.models import Stream
from shared import events as ev
from shared.errors import Unauthorized
from shared.tokens import Principal, ensure_not_revoked

SCOPE = "orders.create"
OPEN_STREAM_STATUSES = ("scheduled", "live")


class _DuplicateKey(Exception):
    """The Idempotency-Key is taken: by an earlier request, or a concurrent one that committed
    first (our INSERT waited for it on the unique index)."""


@dataclass(frozen=True)
class _Request:
    principal: Principal
    body: OrderCreate
    lines: dict[int, int]
    key: str | None
    digest: str


def mask_name(name: str) -> str:
    """'Mei Li' -> 'M***i': enough for a room to feel the sale, not enough to identify."""
    name = name.strip()
    if not name:
        return "***"
    return f"{name[0]}***{name[-1]}" if len(name) > 1 else f"{name}***"


async def place_order(
    *,
    ctx: AppContext,
    principal: Principal,
    body: OrderCreate,
    idempotency_key: str | None,
    revocation_checked: bool = True,
) -> idem.StoredResponse:
    """Create an order (201) or replay the stored response of an earlier one with this key.

    `revocation_checked=False`: `principal`'s signature is verified but not its revocation;
    this function checks it before anything else reads or changes state, inside the stock
    gate's script when the gate runs (one Redis round trip for both), else on its own.
    """
    key = idem.check_key(idempotency_key)
    digest = idem.request_hash(body.model_dump(mode="json")) if key else ""
    gate = reservations.gate(ctx) if ctx.settings.order_stock_gate_enabled else None
    if not revocation_checked and (gate is None or body.from_cart):
        await ensure_not_revoked(ctx.redis, principal)
        revocation_checked = True
    # The cart is cleared by the first success: look for a replay before reading it.
    if key and body.from_cart and (stored := await _replay(ctx, principal.user_id, key, digest)):
        return stored
    lines = await _lines(ctx, principal.user_id, body)
    request = _Request(principal, body, lines, key, digest)

    if gate is not None:
        marker = idem.marker_key(principal.user_id, SCOPE, key) if key else None
        rejected = await gate.take(
            lines, marker_key=marker, unrevoked=None if revocation_checked else principal
        )
        if isinstance(rejected, Revoked):
            raise Unauthorized("token revoked")
        if rejected is not None:
            # The cheap path of a flash sale: one Redis round trip (a DB read only for a likely
            # replay, which the gate's script checked for with the marker).
            if key and rejected.marked and (
                stored := await _find(ctx, principal.user_id, key, digest)
            ):
                return stored
            raise OutOfStock(product_id=rejected.product_id, available=rejected.available)
    committed = False
    try:
        stored, stocks = await _checkout(ctx, request)
        committed = stocks is not None
    except _DuplicateKey:
        replay = await _find(ctx, principal.user_id, key or "", digest)
        if replay is None:  # the record was purged between the two reads (after 24 hours)
            raise
        stored, stocks = replay, None
    except (OrderInputError, OutOfStock) as exc:
        # A retry of an order that succeeded may fail today (product deleted, stream ended,
        # sold out): the stored response wins, as it would have with a SELECT first.
        if key and (replay := await _replay(ctx, principal.user_id, key, digest)):
            stored, stocks = replay, None
        else:
            ORDERS_REJECTED.labels(str(exc.code)).inc()
            raise
    finally:
        if gate is not None and not committed:
            await gate.give_back(lines)
    if stocks is not None:
        ORDERS_PLACED.labels(orjson.loads(stored.body)["currency"]).inc()
        await reservations.after_commit(ctx, stocks=stocks)
        if body.from_cart:
            await cart_service.clear_cart(ctx, principal.user_id)
    return stored


async def _replay(
    ctx: AppContext, user_id: int, key: str, digest: str
) -> idem.StoredResponse | None:
    """A stored response for this key, asking the database only if the marker says maybe."""
    if not await idem.may_exist(ctx.redis, user_id=user_id, scope=SCOPE, key=key):
        return None
    return await _find(ctx, user_id, key, digest)


async def _find(ctx: AppContext, user_id: int, key: str, digest: str) -> idem.StoredResponse | None:
    async with ctx.sessions() as session:
        return await idem.find(session, user_id=user_id, scope=SCOPE, key=key, digest=digest)


async def _lines(ctx: AppContext, user_id: int, body: OrderCreate) -> dict[int, int]:
    if body.items is not None:
        return {line.product_id: line.quantity for line in body.items}
    lines = await cart_service.read_cart(ctx, user_id)
    if not lines:
        raise OrderInputError("the cart is empty", code="cart_empty")
    if len(lines) > MAX_LINES or any(not 1 <= q <= MAX_QUANTITY for q in lines.values()):
        raise OrderInputError(
            f"a cart order takes 1-{MAX_LINES} lines of 1-{MAX_QUANTITY} units",
            code="invalid_cart",
        )
    return lines


async def _checkout(
    ctx: AppContext, req: _Request
) -> tuple[idem.StoredResponse, dict[int, int] | None]:
    """The transaction. Returns the response and, if an order was committed, the new stocks.

    Written with Core statements (no ORM unit of work): the ORM's flush bookkeeping was the
    largest share of a checkout's CPU (py-spy, BENCHMARKS.md), and the later statements run
    while the hot product row is locked. The order and its items are plain values here.
    """
    async with ctx.sessions() as session, session.begin():
        products = await _products(session, req)
        if req.body.stream_id is not None:
            await _check_stream(session, req.body.stream_id)
        connection = await session.connection()
        now = utcnow()
        order = Order(
            buyer_id=req.principal.user_id,
            stream_id=req.body.stream_id,
            status="pending_payment",
            currency=next(iter(products.values())).currency,
            total_minor=sum(products[pid].price_minor * q for pid, q in req.lines.items()),
            shipping_address=req.body.shipping_address.model_dump(mode="json"),
            expires_at=now + timedelta(seconds=ctx.settings.order_reservation_ttl_s),
            created_at=now,
            updated_at=now,
        )
        inserted = await connection.execute(insert(_ORDERS).values(_columns(order, _ORDERS)))
        order.id = int(inserted.lastrowid)
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
        if req.key:
            try:
                await idem.insert_record(
                    session, user_id=req.principal.user_id, scope=SCOPE, key=req.key,
                    digest=req.digest, response=response,
                )
            except IntegrityError:
                raise _DuplicateKey() from None
            await idem.mark(ctx.redis, user_id=req.principal.user_id, scope=SCOPE, key=req.key)
        stocks = await reservations.reserve(session, lines=req.lines)
        await connection.execute(insert(_ITEMS), [_columns(item, _ITEMS) for item in items])
        await insert_events(
            session,
            [*reservations.stock_events(stocks, req.body.stream_id), _placed_event(order, req)],
        )
    return response, stocks


_ORDERS = table_of(Order)
_ITEMS = table_of(OrderItem)


def _columns(row: Order | OrderItem, table: Table) -> dict[str, Any]:
    """The column values set on a transient model object, for a Core INSERT."""
    values = {c.key: getattr(row, c.key) for c in table.columns}
    return {k: v for k, v in values.items() if v is not None or k != "id"}


async def _products(session: AsyncSession, req: _Request) -> dict[int, Product]:
    products = await catalog_service.load_active_products(session, list(req.lines))
    missing = sorted(set(req.lines) - set(products))
    if missing:
        raise OrderInputError(
            "some products do not exist", code="product_not_found",
            details={"product_ids": missing},
        )
    own = sorted(pid for pid, p in products.items() if p.seller_id == req.principal.user_id)
    if own:
        raise OrderInputError(
            "you cannot buy your own products", code="own_product", details={"product_ids": own}
        )
    currencies = sorted({p.currency for p in products.values()})
    if len(currencies) > 1:
        raise OrderInputError(
            "all products of one order must share a currency", code="currency_mismatch",
            details={"currencies": currencies},
        )
    return products


async def _check_stream(session: AsyncSession, stream_id: int) -> None:
    status = await session.scalar(select(Stream.status).where(Stream.id == stream_id))
    if status not in OPEN_STREAM_STATUSES:
        raise OrderInputError(
            "orders can reference only a scheduled or live stream", code="invalid_stream",
            details={"stream_id": stream_id, "status": status},
        )


def _placed_event(order: Order, req: _Request) -> ev.OrderPlaced:
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
