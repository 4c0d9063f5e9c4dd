"""The stock gate on its own (commerce/inventory/gate.py) on MariaDB + Redis: take all lines or
none, load missing keys from the database, and raise instead of passing when a script breaks
its own rule."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from commerce.catalog.models import Product
from commerce.context import AppContext
from commerce.inventory import gate as stock_gate
from tests.commerce.factories import make_product, make_user


async def test_take_is_all_or_nothing_and_loads_missing_keys(ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    a = await make_product(ctx, seller, stock=3)
    b = await make_product(ctx, seller, stock=1)
    gate = stock_gate.StockGate(ctx.redis, ctx.sessions, ttl_s=30)

    assert await gate.take({a.id: 2, b.id: 1}) is None  # both keys loaded from the database
    assert int(await ctx.redis.get(stock_gate.key(a.id))) == 1
    assert int(await ctx.redis.get(stock_gate.key(b.id))) == 0
    assert 0 < await ctx.redis.ttl(stock_gate.key(a.id)) <= 30

    short = await gate.take({a.id: 1, b.id: 1})
    assert short == stock_gate.Short(product_id=b.id, available=0)
    assert int(await ctx.redis.get(stock_gate.key(a.id))) == 1  # nothing taken

    # No such product: the key stays missing and the database will answer for it.
    assert await gate.take({a.id: 1, 2**40: 1}) is None
    assert await ctx.redis.exists(stock_gate.key(2**40)) == 0


async def test_a_script_reporting_missing_keys_when_lenient_raises(ctx: AppContext) -> None:
    """It used to fall through to "taken"; now the broken promise is an error."""
    gate = stock_gate.StockGate(ctx.redis, ctx.sessions, ttl_s=30)
    calls: list[bool] = []

    async def always_missing(lenient: bool) -> stock_gate.Missing:
        calls.append(lenient)
        return stock_gate.Missing((1,))

    with pytest.raises(stock_gate.GateError):
        await gate.with_loaded_keys(always_missing, [2**40])
    assert calls == [False, True]


async def test_release_lowers_one_buyers_counters(ctx: AppContext) -> None:
    """Units back without an unpaid order closing (a cancelled line), then with one (paid):
    one script over the buyer's keys, which on a Redis Cluster must all be in the buyer's slot
    (a '' placeholder for the unpaid key was refused there: `all keys must map to the same key
    slot`, seen in the journey's checkout on the cluster)."""
    gate = stock_gate.StockGate(ctx.redis, ctx.sessions, ttl_s=30)
    buyer = 42
    await ctx.redis.set(stock_gate.unpaid_key(buyer), 2)
    await ctx.redis.set(stock_gate.units_key(buyer, 7), 5)
    await ctx.redis.set(stock_gate.units_key(buyer, 8), 1)

    await gate.release({7: 2, 8: 1}, buyer_id=buyer, unpaid_closed=False)
    assert int(await ctx.redis.get(stock_gate.unpaid_key(buyer))) == 2
    assert int(await ctx.redis.get(stock_gate.units_key(buyer, 7))) == 3
    assert int(await ctx.redis.get(stock_gate.units_key(buyer, 8))) == 0

    await gate.release({7: 1}, buyer_id=buyer, unpaid_closed=True)
    assert int(await ctx.redis.get(stock_gate.unpaid_key(buyer))) == 1
    assert int(await ctx.redis.get(stock_gate.units_key(buyer, 7))) == 2

    await gate.release({}, buyer_id=buyer, unpaid_closed=True)
    assert int(await ctx.redis.get(stock_gate.unpaid_key(buyer))) == 0


async def test_reconcile_raises_a_key_only_while_the_stock_holds_still(ctx: AppContext) -> None:
    """Units taken at the gate whose checkouts still commit one by one must not be given back
    (the stock moves); units stranded by a dead process must (the key and the stock hold
    still). CI once saw the first case raise the key over a sale's last orders in flight,
    leaving it 40 units too high after their reservations expired."""
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=10)
    gate = stock_gate.StockGate(ctx.redis, ctx.sessions, ttl_s=30)
    assert await gate.take({product.id: 6}) is None  # six units on their way to the database

    async def commit_one() -> None:  # one of those checkouts commits its unit
        async with ctx.sessions() as session, session.begin():
            await session.execute(
                update(Product).where(Product.id == product.id).values(stock=Product.stock - 1)
            )

    seen, raised = await gate.reconcile({})
    assert (seen, raised) == ({product.id: ("4", 10)}, 0)
    for stock in (9, 8, 7):
        await commit_one()
        seen, raised = await gate.reconcile(seen)
        assert (seen, raised) == ({product.id: ("4", stock)}, 0)
    assert int(await ctx.redis.get(stock_gate.key(product.id))) == 4

    # The other three checkouts' process died: the database rolled them back. Nothing moves
    # any more, and the next pass returns their units.
    seen, raised = await gate.reconcile(seen)
    assert (seen, raised) == ({}, 1)
    assert int(await ctx.redis.get(stock_gate.key(product.id))) == 7


async def test_reconcile_lowers_a_key_left_above_the_stock_once_both_hold_still(
    ctx: AppContext,
) -> None:
    """A key can end above its stock (a pass raised it while checkouts of a stalled hot row were
    still in flight, and they committed later; a reload before an in-flight commit): it comes
    down to the stock once neither moves, and not while the stock still moves. CI saw a key 49
    units high after a flash sale's reservations expired (two API processes, a loaded machine)."""
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=10)
    gate = stock_gate.StockGate(ctx.redis, ctx.sessions, ttl_s=30)
    assert await gate.take({product.id: 1}) is None  # loads the key (10), takes one: 9
    await ctx.redis.set(stock_gate.key(product.id), 15, keepttl=True)  # too high by 6

    async def commit_one() -> None:
        async with ctx.sessions() as session, session.begin():
            await session.execute(
                update(Product).where(Product.id == product.id).values(stock=Product.stock - 1)
            )

    seen, settled = await gate.reconcile({})
    assert (seen, settled) == ({product.id: ("15", 10)}, 0)
    await commit_one()  # the stock moves: not yet
    seen, settled = await gate.reconcile(seen)
    assert (seen, settled) == ({product.id: ("15", 9)}, 0)
    seen, settled = await gate.reconcile(seen)  # both held still for a pass
    assert (seen, settled) == ({}, 1)
    assert int(await ctx.redis.get(stock_gate.key(product.id))) == 9
    assert 0 < await ctx.redis.ttl(stock_gate.key(product.id)) <= 30  # its TTL kept
    assert await gate.reconcile({}) == ({}, 0)  # equal now: nothing to do
