"""Group commit (commerce/orders/checkout/group_commit.py) on MariaDB + Redis: concurrent
checkouts of a product share transactions, and a group that cannot commit as a whole falls back
to the per-order path, so every order gets the answer it would have got alone."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from commerce.auth.models import User
from commerce.context import AppContext
from commerce.orders.checkout.answers import AnswerKey
from commerce.orders.checkout.flow import Checkout
from commerce.orders.checkout.group_commit import GroupCommit
from commerce.orders.checkout.transaction import CheckoutRequest, DuplicateKey
from commerce.orders.errors import OrderInputError, OutOfStock
from commerce.orders.models import Order, OrderItem
from commerce.orders.schemas import OrderCreate
from shared.tokens import Principal
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import events, make_stream, order_body, order_count, stock_of


def _request(user: User, *lines: tuple[int, int], key: str | None = None) -> CheckoutRequest:
    body = OrderCreate.model_validate(order_body(*lines))
    principal = Principal(user.id, user.role, user.display_name, f"jti-{user.id}", 2**31)
    answer = AnswerKey.of(user.id, key, body.model_dump(mode="json"))
    return CheckoutRequest(principal, body, dict(lines), answer)


def _group_commit(ctx: AppContext) -> GroupCommit:
    return Checkout.build(
        ctx.settings, redis=ctx.redis, sessions=ctx.sessions, gate=ctx.stock_gate
    ).group_commit


async def _all(group: GroupCommit, reqs: list[CheckoutRequest]) -> list[Any]:
    return await asyncio.gather(*(group.checkout(r) for r in reqs), return_exceptions=True)


async def test_concurrent_checkouts_share_transactions(ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=100)
    buyers = [(await make_user(ctx))[0] for _ in range(30)]
    group = _group_commit(ctx)

    results = await _all(group, [_request(b, (product.id, 2), key=f"k{b.id}") for b in buyers])

    assert all(isinstance(r, tuple) for r in results), results
    assert await stock_of(ctx, product.id) == 40
    assert await order_count(ctx) == 30
    answers = [orjson.loads(r[0].body) for r in results]
    assert len({a["id"] for a in answers}) == 30
    # Each answer describes its own buyer's row (the group's ids come from one multi-row
    # INSERT ... RETURNING on MariaDB, matched to the rows by order).
    assert [a["buyer_id"] for a in answers] == [b.id for b in buyers]
    async with ctx.sessions() as session:
        stored = dict((await session.execute(select(Order.id, Order.buyer_id))).all())
    assert {a["id"]: a["buyer_id"] for a in answers} == stored
    async with ctx.sessions() as session:
        lines = dict((await session.execute(select(OrderItem.order_id, OrderItem.quantity))).all())
    assert lines == {a["id"]: 2 for a in answers}
    placed = await events(ctx, "order.placed")
    changed = await events(ctx, "stock.changed")
    assert len(placed) == 30
    # One stock.changed per transaction: fewer than orders means orders were grouped; the last
    # one carries the final stock.
    assert 1 <= len(changed) < 30
    assert changed[-1].data.stock == 40  # type: ignore[union-attr]
    # Each order's own outcome has the stock after its group's commit.
    assert min(r[1][product.id] for r in results) == 40
    assert not group._queues, "idle groups are dropped"


async def test_a_group_that_cannot_commit_falls_back_to_single_orders(ctx: AppContext) -> None:
    """Too little stock for the whole group, a duplicate key and a rule broken in the same
    burst: the short group is retried order by order, each gets its own answer."""
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=3)
    buyers = [(await make_user(ctx))[0] for _ in range(5)]
    group = _group_commit(ctx)
    first = await group.checkout(_request(buyers[0], (product.id, 1), key="dup"))
    assert isinstance(first, tuple)

    reqs = [
        _request(buyers[0], (product.id, 1), key="dup"),  # key already used
        _request(seller, (product.id, 1)),  # own product
        *[_request(b, (product.id, 1), key=f"k{b.id}") for b in buyers[1:]],  # 4 for 2 units
    ]
    results = await _all(group, reqs)

    assert isinstance(results[0], DuplicateKey)
    assert isinstance(results[1], OrderInputError) and results[1].code == "own_product"
    ok = [r for r in results[2:] if isinstance(r, tuple)]
    short = [r for r in results[2:] if isinstance(r, OutOfStock)]
    assert (len(ok), len(short)) == (2, 2), results
    assert await stock_of(ctx, product.id) == 0
    assert await order_count(ctx) == 3


@pytest.mark.parametrize("size", [1, 7])
async def test_groups_of_unrelated_products_do_not_wait_for_each_other(
    ctx: AppContext, size: int
) -> None:
    seller, _ = await make_user(ctx, "seller")
    a = await make_product(ctx, seller, stock=size)
    b = await make_product(ctx, seller, stock=size)
    buyer, _ = await make_user(ctx)
    group = _group_commit(ctx)
    reqs = [_request(buyer, (a.id, 1)) for _ in range(size)]
    reqs += [_request(buyer, (b.id, 1)) for _ in range(size)]
    reqs.append(_request(buyer, (a.id, 1), (b.id, 1)))  # joins a's group; one unit too many
    results = await _all(group, reqs)
    assert sum(isinstance(r, tuple) for r in results) == 2 * size
    assert sum(isinstance(r, OutOfStock) for r in results) == 1
    assert (await stock_of(ctx, a.id), await stock_of(ctx, b.id)) == (0, 0)


async def test_one_group_holds_orders_with_and_without_a_stream(ctx: AppContext) -> None:
    """The group's multi-row INSERTs carry every row's columns, None included where an order
    set it (`transaction._columns`): orders with and without a stream commit together, in one
    transaction, each with its own stream."""
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=10)
    stream_id = await make_stream(ctx, seller.id)
    buyers = [(await make_user(ctx))[0] for _ in range(3)]
    streams = [None, stream_id, None]
    reqs = []
    for buyer, stream in zip(buyers, streams, strict=True):
        body = OrderCreate.model_validate(order_body((product.id, 1), stream_id=stream))
        principal = Principal(buyer.id, buyer.role, buyer.display_name, f"jti-{buyer.id}", 2**31)
        reqs.append(CheckoutRequest(principal, body, {product.id: 1}, None))

    outcomes = await _group_commit(ctx).transaction.group(reqs)  # one attempt: raises if not

    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    async with ctx.sessions() as session:
        stored = dict((await session.execute(select(Order.buyer_id, Order.stream_id))).all())
        lines = (await session.execute(select(OrderItem.shipment_id, OrderItem.refund_id,
                                              OrderItem.restocked_at))).all()
    assert stored == {b.id: s for b, s in zip(buyers, streams, strict=True)}
    assert [tuple(line) for line in lines] == [(None, None, None)] * 3
    assert await stock_of(ctx, product.id) == 7
