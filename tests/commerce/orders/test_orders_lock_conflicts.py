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
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from commerce.context import AppContext
from commerce.metrics import CHECKOUT_LOCK_RETRIES
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body, order_count, stock_of


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
