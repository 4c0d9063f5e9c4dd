"""`Idempotency-Key` on `POST /orders`: replay, conflict, and concurrent duplicates."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from commerce.context import AppContext
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import (
    ADDRESS,
    order_body,
    order_count,
    stock_of,
    use_stock_gate,
)


async def test_same_key_same_body_replays_the_first_response(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=5)
    keyed = {**headers, "Idempotency-Key": "order-1f3a"}

    first = await api.post("/api/v1/orders", json=order_body((product.id, 2)), headers=keyed)
    assert first.status_code == 201
    # Same body with keys in another order and other spacing: still the same request.
    address = json.dumps(ADDRESS, indent=2, ensure_ascii=False)
    line = f'{{"quantity": 2, "product_id": {product.id}}}'
    reordered = f'{{"shipping_address": {address},\n "items": [{line}]}}'
    again = await api.post(
        "/api/v1/orders",
        content=reordered,
        headers={**keyed, "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await order_count(ctx) == 1
    assert await stock_of(ctx, product.id) == 3


async def test_same_key_different_body_is_a_conflict(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=5)
    keyed = {**headers, "Idempotency-Key": "k"}

    assert (await api.post(
        "/api/v1/orders", json=order_body((product.id, 1)), headers=keyed
    )).status_code == 201
    conflict = await api.post("/api/v1/orders", json=order_body((product.id, 2)), headers=keyed)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert await stock_of(ctx, product.id) == 4


async def test_keys_are_per_user_and_optional(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, alice = await make_user(ctx)
    _, bob = await make_user(ctx)
    product = await make_product(ctx, seller, stock=10)
    body = order_body((product.id, 1))

    a = await api.post("/api/v1/orders", json=body, headers={**alice, "Idempotency-Key": "same"})
    b = await api.post("/api/v1/orders", json=body, headers={**bob, "Idempotency-Key": "same"})
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]
    # Without a key nothing is replayed: two requests are two orders.
    assert (await api.post("/api/v1/orders", json=body, headers=alice)).status_code == 201
    assert (await api.post("/api/v1/orders", json=body, headers=alice)).status_code == 201
    assert await order_count(ctx) == 4
    assert await stock_of(ctx, product.id) == 6


async def test_concurrent_duplicates_create_one_order(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=50)
    keyed = {**headers, "Idempotency-Key": "double-tap"}
    body = order_body((product.id, 3))

    responses = await asyncio.gather(
        *(api.post("/api/v1/orders", json=body, headers=keyed) for _ in range(12))
    )
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await order_count(ctx) == 1
    assert await stock_of(ctx, product.id) == 47


async def test_replay_still_works_after_the_product_sold_out(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """The gate says out of stock now, but this key already bought the last unit."""
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=1)
    keyed = {**headers, "Idempotency-Key": "last-unit"}
    body = order_body((product.id, 1))

    first = await api.post("/api/v1/orders", json=body, headers=keyed)
    retry = await api.post("/api/v1/orders", json=body, headers=keyed)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    other = await api.post(
        "/api/v1/orders", json=body, headers={**headers, "Idempotency-Key": "new"}
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "out_of_stock"


@pytest.mark.parametrize("gate", ["gate-on", "gate-off"])
async def test_a_rejection_is_the_first_answer_for_its_key(
    api: httpx.AsyncClient, ctx: AppContext, monkeypatch: pytest.MonkeyPatch, gate: str
) -> None:
    """Out of stock is the first answer for its key, whoever gave it (the stock gate's script,
    or the database with the gate off): after a restock the same key and body replay it, another
    body is a conflict, and a new key buys."""
    use_stock_gate(monkeypatch, api, ctx, gate == "gate-on")
    seller, seller_headers = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=0)
    keyed = {**headers, "Idempotency-Key": "retry-me"}
    body = order_body((product.id, 1))

    first = await api.post("/api/v1/orders", json=body, headers=keyed)
    assert first.status_code == 409
    assert first.json()["error"] == {"code": "out_of_stock", "message": "not enough stock",
                                     "details": {"product_id": product.id, "available": 0}}
    restocked = await api.patch(
        f"/api/v1/products/{product.id}", json={"stock": 1}, headers=seller_headers
    )
    assert restocked.status_code == 200
    await ctx.redis.delete(f"stockgate:{product.id}")  # what the gate's TTL does

    again = await api.post("/api/v1/orders", json=body, headers=keyed)
    assert again.status_code == 409
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    other_address = {**body, "shipping_address": {**ADDRESS, "line2": "9F"}}
    other = await api.post("/api/v1/orders", json=other_address, headers=keyed)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"
    assert await stock_of(ctx, product.id) == 1 and await order_count(ctx) == 0
    fresh = await api.post("/api/v1/orders", json=body,
                           headers={**headers, "Idempotency-Key": "new-attempt"})
    assert fresh.status_code == 201
    assert await stock_of(ctx, product.id) == 0


async def test_rule_rejections_are_stored_and_request_shape_errors_are_not(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """A rule of the order (buying one's own product: 422 `own_product`) is decided by the
    checkout, so it is the key's first answer. An empty cart is the request's shape, not an
    answer of the checkout: the same key orders once the cart is filled."""
    seller, seller_headers = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    own = await make_product(ctx, seller, stock=5)
    other_seller, _ = await make_user(ctx, "seller")
    theirs = await make_product(ctx, other_seller, stock=5)

    keyed = {**seller_headers, "Idempotency-Key": "own"}
    first = await api.post("/api/v1/orders", json=order_body((own.id, 1)), headers=keyed)
    assert first.status_code == 422
    assert first.json()["error"]["code"] == "own_product"
    again = await api.post("/api/v1/orders", json=order_body((own.id, 1)), headers=keyed)
    assert (again.status_code, again.json()) == (422, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"
    conflict = await api.post("/api/v1/orders", json=order_body((theirs.id, 1)), headers=keyed)
    assert conflict.json()["error"]["code"] == "idempotency_conflict"

    cart_keyed = {**headers, "Idempotency-Key": "cart"}
    body = {"from_cart": True, "shipping_address": ADDRESS}
    empty = await api.post("/api/v1/orders", json=body, headers=cart_keyed)
    assert empty.json()["error"]["code"] == "cart_empty"
    added = await api.put(
        f"/api/v1/cart/items/{theirs.id}", json={"quantity": 2}, headers=headers
    )
    assert added.status_code in (200, 201), added.text
    ordered = await api.post("/api/v1/orders", json=body, headers=cart_keyed)
    assert ordered.status_code == 201, ordered.text
    assert await stock_of(ctx, theirs.id) == 3


async def test_malformed_keys_are_rejected(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=5)
    for bad in ("", "has space", "x" * 256, "tab\there"):
        response = await api.post(
            "/api/v1/orders",
            json=order_body((product.id, 1)),
            headers={**headers, "Idempotency-Key": bad},
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert await stock_of(ctx, product.id) == 5


async def test_replay_wins_over_rules_that_changed_since(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """The product was deleted after the first success: a retry still replays, and the same key
    with another body is still a conflict rather than a 422."""
    seller, seller_headers = await make_user(ctx, "seller")
    _, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=5)
    keyed = {**headers, "Idempotency-Key": "before-delete"}
    first = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=keyed)
    assert first.status_code == 201
    deleted = await api.delete(f"/api/v1/products/{product.id}", headers=seller_headers)
    assert deleted.status_code == 204

    retry = await api.post("/api/v1/orders", json=order_body((product.id, 1)), headers=keyed)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    other = await api.post("/api/v1/orders", json=order_body((product.id, 2)), headers=keyed)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"


async def test_keys_are_forgotten_after_their_retention(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """The beat task deletes records past `RETENTION_S` (with their marker gone by then too):
    that key is then a new request; younger keys still replay."""
    from datetime import timedelta

    from sqlalchemy import func, select, update

    from commerce.db import utcnow
    from commerce.orders.checkout import answers as idempotency
    from commerce.orders.models import IdempotencyRecord
    from commerce.orders.tasks import purge_idempotency_records
    from commerce.tasks import BEAT, REGISTRY

    assert REGISTRY["orders.purge_idempotency_records"] is purge_idempotency_records
    assert BEAT["orders.purge_idempotency_records"] == timedelta(minutes=10)

    seller, _ = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx)
    product = await make_product(ctx, seller, stock=10)
    body = order_body((product.id, 1))
    old_key = {**headers, "Idempotency-Key": "old"}
    young_key = {**headers, "Idempotency-Key": "young"}
    old = await api.post("/api/v1/orders", json=body, headers=old_key)
    young = await api.post("/api/v1/orders", json=body, headers=young_key)
    assert (old.status_code, young.status_code) == (201, 201)

    async with ctx.sessions() as session, session.begin():
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "old")
            .values(created_at=utcnow() - timedelta(seconds=idempotency.RETENTION_S + 60))
        )
    await ctx.redis.delete(idempotency.AnswerKey.of(buyer.id, "old", {}).marker_key)  # its TTL

    assert await purge_idempotency_records(ctx) == 1
    assert await purge_idempotency_records(ctx) == 0
    async with ctx.sessions() as session:
        left = await session.scalar(
            select(func.count()).select_from(IdempotencyRecord)
            .where(IdempotencyRecord.user_id == buyer.id)
        )
    assert left == 1

    replay = await api.post("/api/v1/orders", json=body, headers=young_key)
    assert replay.status_code == 201 and replay.json()["id"] == young.json()["id"]
    fresh = await api.post("/api/v1/orders", json=body, headers=old_key)
    assert fresh.status_code == 201 and fresh.json()["id"] != old.json()["id"]
    assert await stock_of(ctx, product.id) == 7
