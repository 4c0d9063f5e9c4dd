"""A checkout that MariaDB picks as a deadlock victim runs again instead of answering 500.

Checkouts lock in one order (the buyers' user rows, then products by id), so they cannot
deadlock each other; other writers can still close a cycle with one (a seller's own order
taking a foreign-key lock on their user row, a refund, a stock edit). Here a second
transaction plays that writer deterministically: it holds the product row, waits until the
checkout queues behind it holding the buyer's row, then asks for the buyer's row. InnoDB
rolls back the lighter transaction, the checkout (the other has changed 40 rows), and the
checkout's next attempt commits once the other transaction is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from commerce.auth.models import User
from commerce.context import AppContext
from commerce.metrics import CHECKOUT_GROUP_FALLBACKS, CHECKOUT_LOCK_RETRIES
from commerce.orders.checkout.answers import AnswerKey
from commerce.orders.checkout.flow import Checkout
from commerce.orders.checkout.transaction import CheckoutRequest
from commerce.orders.models import Order, OrderItem
from commerce.orders.schemas import OrderCreate
from shared.settings import CommerceSettings
from shared.tokens import Principal
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, order_body, order_count, stock_of


@pytest.fixture
def commerce_settings(commerce_settings: CommerceSettings) -> CommerceSettings:
    # The unpaid-orders cap is what makes a checkout lock its buyer's user row first.
    return commerce_settings.updated(orders={"max_unpaid_per_buyer": 3})


def _retries() -> float:
    return CHECKOUT_LOCK_RETRIES._value.get()  # type: ignore[attr-defined]


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_checkout_chosen_as_deadlock_victim_is_run_again(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=5)
    ballast = [(await make_product(ctx, seller, stock=1)).id for _ in range(40)]
    retries_before = _retries()
    # Connections of their own: the app's small test pool stays free for the checkout.
    engine = create_async_engine(ctx.engine.url, poolclass=NullPool)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as holder, sessions() as watcher:
            await holder.begin()
            # Weight: InnoDB rolls back the transaction with fewer changed rows and locks.
            await holder.execute(
                text("UPDATE products SET stock = stock + 1 WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)), {"ids": ballast})  # fmt: skip
            await holder.execute(text("SELECT id FROM products WHERE id = :p FOR UPDATE"),
                                 {"p": product.id})  # fmt: skip

            async def checkout_waits() -> bool:
                # The only writer of that row besides the holder is the checkout's stock UPDATE,
                # so one seen in progress is waiting for the holder's row lock.
                found = await watcher.execute(text(
                    "SELECT COUNT(*) FROM information_schema.processlist "
                    "WHERE db = DATABASE() AND command = 'Query' "
                    "AND info LIKE 'UPDATE products SET stock=%'"))  # fmt: skip
                await watcher.commit()  # a fresh read of information_schema each time
                return int(found.scalar_one()) > 0

            async def retried() -> bool:
                return _retries() > retries_before

            placing = asyncio.create_task(
                api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)
            )
            await _until(checkout_waits, "the checkout to queue behind the product row")
            # The cycle: the checkout holds the buyer's row and waits for the product row.
            await holder.execute(text("SELECT id FROM users WHERE id = :u FOR UPDATE"),
                                 {"u": buyer.id})  # fmt: skip
            await _until(retried, "the checkout's second attempt")
            await holder.rollback()  # the other writer goes away; the second attempt proceeds
            placed = await placing
    finally:
        await engine.dispose()

    assert placed.status_code == 201, placed.text
    assert _retries() - retries_before >= 1
    assert await order_count(ctx) == 1
    assert await stock_of(ctx, product.id) == 4


def _fallbacks() -> float:
    return CHECKOUT_GROUP_FALLBACKS.labels("lock_conflict")._value.get()  # type: ignore[attr-defined]


def _request(user: User, *lines: tuple[int, int], key: str | None = None) -> CheckoutRequest:
    body = OrderCreate.model_validate(order_body(*lines))
    principal = Principal(user.id, user.role, user.display_name, f"jti-{user.id}", 2**31)
    return CheckoutRequest(principal, body, dict(lines),
                           AnswerKey.of(user.id, key, body.model_dump(mode="json")))


async def test_two_checkout_groups_deadlock_and_the_victim_s_orders_retry_alone(
    ctx: AppContext,
) -> None:
    """A deadlock between two checkout groups, which the lock order does not prevent: an
    `order_items` row takes a shared foreign-key lock on its seller's `users` row after the
    product rows are locked, and a seller who buys has that row locked first (the caps).

    - group T (key R): the seller S of product P and 15 other buyers, each ordering R and Q;
      it locks its buyers' rows, S's included, then waits for R (held by the test's gate);
    - group G (key P): two buyers, each ordering P and Q; it locks P and Q, then its lines
      ask for a shared lock on S's row (P's seller) and wait for T;
    - the gate lets R go: T asks for Q, held by G, and InnoDB breaks the cycle by rolling
      back the lighter transaction, G (2 orders to T's 16 orders and 16 keys).

    The group is attempted once; its orders are then checked out one by one (where lock
    conflicts are retried), and the books are as if nothing had happened."""
    if ctx.settings.hot_routes_enabled:
        pytest.skip("drives the group commit directly, no route: one run is enough")
    seller_s, _ = await make_user(ctx, "seller")
    seller_2, _ = await make_user(ctx, "seller")
    p = await make_product(ctx, seller_s, stock=10)
    r = await make_product(ctx, seller_2, stock=100)
    q = await make_product(ctx, seller_2, stock=100)
    assert p.id < r.id < q.id
    t_buyers = [seller_s] + [(await make_user(ctx))[0] for _ in range(15)]
    g_buyers = [(await make_user(ctx))[0] for _ in range(2)]
    group = Checkout.build(
        ctx.settings, redis=ctx.redis, sessions=ctx.sessions, gate=ctx.stock_gate
    ).group_commit
    fallbacks_before = _fallbacks()
    engine = create_async_engine(ctx.engine.url, poolclass=NullPool)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with sessions() as gate, sessions() as watcher:

            def running(statement: str) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:  # a statement that stays in progress is waiting
                    found = await watcher.execute(text(
                        "SELECT COUNT(*) FROM information_schema.processlist "
                        "WHERE db = DATABASE() AND command = 'Query' AND info LIKE :s"),
                        {"s": statement + "%"})  # fmt: skip
                    await watcher.commit()
                    return int(found.scalar_one()) > 0
                return check

            await gate.begin()
            await gate.execute(text("SELECT id FROM products WHERE id = :r FOR UPDATE"),
                               {"r": r.id})  # fmt: skip
            t = asyncio.gather(*(
                group.checkout(_request(b, (r.id, 1), (q.id, 1), key=f"t{b.id}"))
                for b in t_buyers), return_exceptions=True)  # fmt: skip
            await _until(running("UPDATE products SET stock="), "group T to wait for R")
            g = asyncio.gather(*(group.checkout(_request(b, (p.id, 1), (q.id, 1)))
                                 for b in g_buyers), return_exceptions=True)  # fmt: skip
            await _until(running("INSERT INTO order_items"), "group G to wait for S's row")
            await gate.rollback()  # R goes to T, which then asks for Q: the cycle closes
            t_results, g_results = await t, await g
    finally:
        await engine.dispose()

    assert all(isinstance(o, tuple) for o in t_results + g_results), t_results + g_results
    assert _fallbacks() - fallbacks_before == 1  # one group was the deadlock's victim
    assert await order_count(ctx) == 18
    assert await stock_of(ctx, p.id) == 8
    assert await stock_of(ctx, r.id) == 84
    assert await stock_of(ctx, q.id) == 82
    async with ctx.sessions() as session:
        lines = (await session.execute(
            select(Order.buyer_id, OrderItem.product_id, OrderItem.quantity)
            .join(OrderItem, OrderItem.order_id == Order.id)
        )).tuples().all()  # fmt: skip
    assert sorted(lines) == sorted(
        [(b.id, pid, 1) for b in t_buyers for pid in (r.id, q.id)]
        + [(b.id, pid, 1) for b in g_buyers for pid in (p.id, q.id)])
    placed = await events(ctx, "order.placed")
    assert sorted(e.data.buyer_id for e in placed) == sorted(  # type: ignore[union-attr]
        b.id for b in t_buyers + g_buyers)
