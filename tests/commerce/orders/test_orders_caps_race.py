"""The unpaid-orders cap against a real race on MariaDB: a checkout group counts its buyers'
unpaid orders in the statement that locks their rows (`caps`), so the count must see what
another transaction of one of those buyers committed while the group waited for that buyer's
row. Deterministic: a second transaction holds the buyer's row with an unpaid order inserted,
the group queues behind it, then the holder commits.

Two buyers in the group, the contested one second: under READ COMMITTED a plain subquery's
snapshot is taken at the statement's first plain read (the first buyer's count), before the
wait for the second buyer's row, so it misses the committed order. The second test shows that
on this server, so the first one can fail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from commerce.auth.models import User
from commerce.context import AppContext
from commerce.db import table_of, utcnow
from commerce.orders.checkout import caps
from commerce.orders.errors import PurchaseLimit
from commerce.orders.models import Order
from tests.commerce.factories import make_user

_ORDERS = table_of(Order)
_USERS = table_of(User)
CAP = 1


@dataclass(frozen=True)
class _Req:
    buyer_id: int
    lines: dict[int, int] = field(default_factory=dict)


@pytest.fixture
async def engine(ctx: AppContext) -> AsyncIterator[AsyncEngine]:
    """Connections of the test's own (the holder, the group, a watcher)."""
    engine = create_async_engine(ctx.engine.url, poolclass=NullPool,
                                 isolation_level="READ COMMITTED")
    yield engine
    await engine.dispose()


async def _insert_unpaid(connection: AsyncConnection, buyer_id: int) -> None:
    now = utcnow()
    await connection.execute(insert(_ORDERS).values(
        buyer_id=buyer_id, status="pending_payment", currency="TWD", total_minor=100,
        shipping_address={}, expires_at=now + timedelta(minutes=15), created_at=now,
        updated_at=now,
    ))


async def _group_waits(watcher: AsyncConnection) -> bool:
    """The group's statement is in progress: it waits for the holder's row lock."""
    found = await watcher.execute(text(
        "SELECT COUNT(*) FROM information_schema.processlist "
        "WHERE db = DATABASE() AND command = 'Query' AND info LIKE 'SELECT users.id, (SELECT%'"))
    await watcher.commit()  # a fresh read each time
    return int(found.scalar_one()) > 0


async def _race(engine: AsyncEngine, first: User, second: User) -> dict[int, PurchaseLimit]:
    """The holder (another checkout of `second`, which fits the cap) has inserted its unpaid
    order and holds `second`'s row; a group of `first` and `second` checks the caps behind it;
    the holder commits. Returns what the group refused."""
    assert first.id < second.id  # the contested buyer's row is locked second
    async with engine.connect() as holder, engine.connect() as group, \
            engine.connect() as watcher:
        await holder.begin()
        fits = await caps.check(holder, [_Req(second.id)], {}, max_unpaid=CAP)
        assert fits == {}
        await _insert_unpaid(holder, second.id)
        await group.begin()
        checking = asyncio.create_task(caps.check(
            group, [_Req(first.id), _Req(second.id)], {}, max_unpaid=CAP))
        for _ in range(400):
            if await _group_waits(watcher):
                break
            assert not checking.done(), "the group did not wait for the holder's row lock"
            await asyncio.sleep(0.025)
        else:
            raise AssertionError("timed out waiting for the group to queue behind the holder")
        await holder.commit()
        refused = await checking
        await group.rollback()
    return refused


async def test_the_count_sees_an_order_committed_while_the_group_waited(
    ctx: AppContext, engine: AsyncEngine
) -> None:
    first, _ = await make_user(ctx)
    second, _ = await make_user(ctx)
    refused = await _race(engine, first, second)
    assert list(refused) == [1], refused  # `first` fits; `second` holds the holder's order
    assert (refused[1].kind, refused[1].held, refused[1].details["limit"]) == (
        PurchaseLimit.UNPAID_ORDERS, 1, CAP)


async def test_a_plain_subquery_would_miss_it(
    ctx: AppContext, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the count is a locking read: the same race with a plain correlated subquery lets
    `second` past the cap on this server (the snapshot predates the lock wait)."""
    plain = (
        select(func.count()).select_from(_ORDERS)
        .where(_ORDERS.c.buyer_id == _USERS.c.id, _ORDERS.c.status == "pending_payment")
        .scalar_subquery()
    )
    monkeypatch.setattr(caps, "_LOCK_BUYERS_COUNTING_UNPAID", (
        select(_USERS.c.id, plain).where(_USERS.c.id.in_(caps._BUYER_IDS))
        .order_by(_USERS.c.id).with_for_update()
    ))
    first, _ = await make_user(ctx)
    second, _ = await make_user(ctx)
    assert await _race(engine, first, second) == {}
