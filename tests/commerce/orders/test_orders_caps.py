"""Flash-sale fairness (issue 17): a buyer holds at most `MAX_UNPAID_ORDERS_PER_BUYER` unpaid
orders and at most a product's `limit_per_buyer` units of it; past either, 409
`purchase_limit` with the limit in `details`, and nothing reserved. Every test runs on both
order routes (the package's conftest) with the stock gate on, and again with it off where the
database alone answers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from commerce.context import AppContext
from commerce.db import utcnow
from commerce.inventory import gate as stock_gate
from commerce.orders import state
from commerce.orders.models import Order
from commerce.orders.tasks import expire_reservations
from commerce.throttle import OrderLimits
from shared.settings import CommerceSettings
from tests.commerce.factories import bearer, make_product, make_user
from tests.commerce.orders.helpers import order_body, order_count, stock_of, use_stock_gate

CAP = 2


@pytest.fixture
def commerce_settings(commerce_settings: CommerceSettings) -> CommerceSettings:
    return commerce_settings.updated(orders={"max_unpaid_per_buyer": CAP})


@pytest.fixture(params=["gate-on", "gate-off"])
def gate(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, api: httpx.AsyncClient,
    ctx: AppContext,
) -> bool:
    """The stock gate on (the default: the fast path answers what it can) or off (every
    order reaches the database, which alone enforces the caps)."""
    on = request.param == "gate-on"
    if not on:
        use_stock_gate(monkeypatch, api, ctx, False)
    return on


def _limit(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "purchase_limit", error
    details: dict[str, Any] = error["details"]
    return details


async def _set_status(ctx: AppContext, order_id: int, to: state.Status) -> None:
    """Move an order as payment settlement and refunds do: the transition, then the gate's
    sync after the commit."""
    async with ctx.sessions() as session, session.begin():
        moved = await state.transition(session, order_id, to)
    assert moved.matched
    await moved.after_commit(ctx.stock_gate)


async def test_unpaid_orders_are_capped_until_one_is_paid_cancelled_or_expired(
    api: httpx.AsyncClient, ctx: AppContext, gate: bool
) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx)
    _, other = await make_user(ctx)
    product = await make_product(ctx, seller, stock=20)

    async def order() -> httpx.Response:
        return await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=buyer)

    ids = []
    for _ in range(CAP):
        placed = await order()
        assert placed.status_code == 201, placed.text
        ids.append(placed.json()["id"])
    assert _limit(await order()) == {"limit": CAP, "kind": "unpaid_orders"}
    assert await order_count(ctx) == CAP and await stock_of(ctx, product.id) == 20 - CAP
    # Another buyer has a cap of their own.
    assert (await api.post("/api/v1/orders", json=order_body((product.id, 1)),
                           headers=other)).status_code == 201

    # Paid, cancelled or expired: each frees a place.
    await _set_status(ctx, ids[0], "paid")
    freed = await order()
    assert freed.status_code == 201, freed.text
    _limit(await order())
    cancelled = await api.post(f"/api/v1/orders/{ids[1]}/cancel", headers=buyer)
    assert cancelled.status_code == 200
    assert (await order()).status_code == 201
    _limit(await order())
    async with ctx.sessions() as session, session.begin():
        await session.execute(update(Order).where(Order.id == freed.json()["id"])
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await expire_reservations(ctx) == 1
    assert (await order()).status_code == 201
    _limit(await order())
    assert await stock_of(ctx, product.id) == 20 - 4  # paid 1, other 1, unpaid 2


async def test_units_per_product_are_capped_across_live_orders(
    api: httpx.AsyncClient, ctx: AppContext, gate: bool
) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx)
    limited = await make_product(ctx, seller, stock=50, limit_per_buyer=3)
    free = await make_product(ctx, seller, stock=50)

    async def order(*lines: tuple[int, int]) -> httpx.Response:
        return await api.post("/api/v1/orders", json=order_body(*lines), headers=buyer)

    first = await order((limited.id, 2))
    assert first.status_code == 201, first.text
    # Two more units would make 4: refused, the free line too (nothing of the order reserved).
    assert _limit(await order((free.id, 5), (limited.id, 2))) == {
        "limit": 3, "kind": "per_product", "product_id": limited.id,
    }
    assert _limit(await order((limited.id, 4))) == {
        "limit": 3, "kind": "per_product", "product_id": limited.id,
    }
    assert (await stock_of(ctx, limited.id), await stock_of(ctx, free.id)) == (48, 50)
    paid = await order((limited.id, 1))
    assert paid.status_code == 201  # 3 units: the limit exactly
    await _set_status(ctx, paid.json()["id"], "paid")  # a paid order still holds its units
    _limit(await order((limited.id, 1)))

    # Cancelled units no longer count; refunded ones neither.
    cancelled = await api.post(f"/api/v1/orders/{first.json()['id']}/cancel", headers=buyer)
    assert cancelled.status_code == 200
    _limit(await order((limited.id, 3)))
    again = await order((limited.id, 2))
    assert again.status_code == 201, again.text
    _limit(await order((limited.id, 1)))
    await _set_status(ctx, paid.json()["id"], "refunded")
    assert (await order((limited.id, 1))).status_code == 201

    # A seller may lift the limit; the gate reads the product again.
    lifted = await api.patch(f"/api/v1/products/{limited.id}", json={"limit_per_buyer": None},
                             headers=bearer(ctx, seller))
    assert lifted.status_code == 200, lifted.text
    await _set_status(ctx, again.json()["id"], "paid")
    assert (await order((limited.id, 5))).status_code == 201


async def test_a_capped_answer_is_replayed_for_its_key(
    api: httpx.AsyncClient, ctx: AppContext, gate: bool
) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, buyer = await make_user(ctx)
    product = await make_product(ctx, seller, stock=20, limit_per_buyer=5)
    ids = []
    for _ in range(CAP):
        placed = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=buyer)
        ids.append(placed.json()["id"])
    keyed = {**buyer, "Idempotency-Key": "capped-1"}
    body = order_body((product.id, 1))
    first = await api.post("/api/v1/orders", json=body, headers=keyed)
    details = _limit(first)
    # A place frees up, yet the key's first answer stays the rejection (as for out_of_stock).
    await _set_status(ctx, ids[0], "paid")
    replay = await api.post("/api/v1/orders", json=body, headers=keyed)
    assert _limit(replay) == details
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["error"]["message"] == first.json()["error"]["message"]
    conflict = await api.post("/api/v1/orders", json=order_body((product.id, 2)), headers=keyed)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    # A new key is a new request, which now fits.
    fresh = await api.post("/api/v1/orders", json=body,
                           headers={**buyer, "Idempotency-Key": "capped-2"})
    assert fresh.status_code == 201, fresh.text

    # The per-product form replays the same way.
    await _set_status(ctx, fresh.json()["id"], "paid")
    over = {**buyer, "Idempotency-Key": "capped-3"}
    too_many = order_body((product.id, 4))  # 2 paid + 1 unpaid + 4 > 5
    first = await api.post("/api/v1/orders", json=too_many, headers=over)
    assert _limit(first) == {"limit": 5, "kind": "per_product", "product_id": product.id}
    replay = await api.post("/api/v1/orders", json=too_many, headers=over)
    assert _limit(replay) == _limit(first) and replay.headers["Idempotent-Replayed"] == "true"


async def test_fifty_sessions_of_one_buyer_at_once_get_the_cap(
    api: httpx.AsyncClient, ctx: AppContext, gate: bool
) -> None:
    """In one process, through the group commit: 50 concurrent orders of one buyer, each from
    its own session (token), keyed or not; exactly the cap commits."""
    seller, _ = await make_user(ctx, "seller")
    greedy, _ = await make_user(ctx)
    product = await make_product(ctx, seller, stock=100)
    sessions = [bearer(ctx, greedy) for _ in range(50)]
    assert len({h["Authorization"] for h in sessions}) == 50
    start = asyncio.Event()

    async def buy(i: int, headers: dict[str, str]) -> httpx.Response:
        await start.wait()
        if i % 2:
            headers = {**headers, "Idempotency-Key": f"greedy-{i}"}
        return await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=headers)

    tasks = [asyncio.create_task(buy(i, h)) for i, h in enumerate(sessions)]
    await asyncio.sleep(0)
    start.set()
    responses = await asyncio.gather(*tasks)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * CAP + [409] * (50 - CAP), [r.text for r in responses][:3]
    assert all(_limit(r)["kind"] == "unpaid_orders" for r in responses if r.status_code == 409)
    async with ctx.sessions() as session:
        held = await session.scalar(
            select(func.count()).select_from(Order).where(Order.buyer_id == greedy.id)
        )
    assert held == CAP
    assert await stock_of(ctx, product.id) == 100 - CAP


def test_the_cap_is_documented_where_operators_look() -> None:
    root = Path(__file__).resolve().parents[3]
    assert "MAX_UNPAID_ORDERS_PER_BUYER=3\n" in (root / ".env.example").read_text()
    table = (root / "README.md").read_text().split("## Configuration", 1)[1]
    assert "| `MAX_UNPAID_ORDERS_PER_BUYER` | 3 |" in table
    defaults = CommerceSettings(_env_file=None)  # type: ignore[call-arg]
    assert defaults.orders.max_unpaid_per_buyer == 3


async def test_the_gate_counts_the_caps_and_learns_from_the_database(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """The Redis gate's counters (gate on): counted by each take, lowered by payment, cancel,
    expiry and refund, and raised to the database's count when the database refuses an order
    the gate let through (its counter had expired)."""
    seller, _ = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=50, limit_per_buyer=3)
    unpaid, units = stock_gate.unpaid_key(buyer.id), stock_gate.units_key(buyer.id, product.id)

    async def order(quantity: int) -> httpx.Response:
        return await api.post("/api/v1/orders", json=order_body((product.id, quantity)),
                              headers=headers)

    async def counters() -> tuple[int, int]:
        return int(await ctx.redis.get(unpaid) or 0), int(await ctx.redis.get(units) or 0)

    first, second = await order(1), await order(2)
    assert (first.status_code, second.status_code) == (201, 201)
    assert await counters() == (CAP, 3)
    assert 0 < await ctx.redis.ttl(unpaid) <= ctx.settings.orders.stock_gate_ttl_s

    # The counters expire (a hint lives the gate's TTL): the database refuses, and teaches it.
    await ctx.redis.delete(unpaid, units)
    assert _limit(await order(1))["kind"] == "unpaid_orders"
    assert await counters() == (CAP, 0)
    await _set_status(ctx, first.json()["id"], "paid")
    assert await counters() == (CAP - 1, 0)
    assert _limit(await order(1)) == {"limit": 3, "kind": "per_product", "product_id": product.id}
    assert await counters() == (CAP - 1, 3)

    # A release lowers both; a refund lowers the units.
    cancelled = await api.post(f"/api/v1/orders/{second.json()['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200
    assert await counters() == (CAP - 2, 1)
    await _set_status(ctx, first.json()["id"], "refunded")
    assert await counters() == (0, 0)
    assert (await order(3)).status_code == 201
    assert await counters() == (1, 3)


async def test_an_order_costs_one_redis_round_trip(
    api: httpx.AsyncClient, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rate limits, revocation, the key's stored answer, the caps and the stock: one script
    call per order (the sold-out flood's whole request), the limits counted in it."""
    seller, _ = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=0)
    await ctx.stock_gate.load([product.id])  # warm, as during a sale
    scripts: list[str] = []
    real = ctx.redis.execute_command

    async def counting(*args: Any, **kwargs: Any) -> Any:
        if str(args[0]).upper() in ("EVALSHA", "EVAL"):
            scripts.append(str(args[0]))
        return await real(*args, **kwargs)

    async def refuse(*args: Any, **kwargs: Any) -> bool:
        raise AssertionError("the order limits were counted outside the fast path")

    monkeypatch.setattr(ctx.redis, "execute_command", counting)
    monkeypatch.setattr(type(ctx.limiter.storage), "acquire_sliding_window_entry", refuse)
    for n in range(3):
        reply = await api.post("/api/v1/orders", json=order_body((product.id, 1)),
                               headers={**headers, "Idempotency-Key": f"one-trip-{n}"})
        assert reply.json()["error"]["code"] == "out_of_stock", reply.text
    # The FastAPI route checks the token's revocation in its dependency first (one script of
    # its own); the hot route, which a flash sale hits, leaves it to the fast path.
    assert len(scripts) == (3 if ctx.settings.hot_routes_enabled else 6)
    window = OrderLimits(ctx.settings.rate_limits.orders_per_user,
                         ctx.settings.rate_limits.orders_per_ip).windows(
                             user_id=buyer.id, ip="127.0.0.1")[0]
    assert int(await ctx.redis.get(window.current_key)) == 3
