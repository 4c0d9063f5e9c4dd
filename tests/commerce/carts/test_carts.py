"""Carts in Redis over HTTP: flows, errors, TTL, catalog-fresh prices and isolation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from commerce.carts import service
from commerce.context import AppContext
from tests.commerce.factories import make_product, make_user

CART = "/api/v1/cart"


def item_url(product_id: int) -> str:
    return f"{CART}/items/{product_id}"


async def test_cart_flow(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, seller_headers = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx, "buyer")
    earbuds = await make_product(
        ctx, seller, name="藍牙耳機", price="1290.00", stock=5,
        images=["https://cdn.example.com/e.jpg"],
    )
    case = await make_product(ctx, seller, name="Case", price="0.50", stock=100)

    empty = (await api.get(CART, headers=headers)).json()
    assert empty == {"items": [], "currency": None, "subtotal": None, "count": 0}

    put = await api.put(item_url(earbuds.id), json={"quantity": 2}, headers=headers)
    assert put.status_code == 200, put.text
    await api.put(item_url(case.id), json={"quantity": 3}, headers=headers)
    cart = (await api.get(CART, headers=headers)).json()
    assert cart == {
        "items": [
            {"product_id": earbuds.id, "name": "藍牙耳機", "price": "1290.00", "currency": "TWD",
             "quantity": 2, "line_total": "2580.00", "available": 5,
             "image_url": "https://cdn.example.com/e.jpg"},
            {"product_id": case.id, "name": "Case", "price": "0.50", "currency": "TWD",
             "quantity": 3, "line_total": "1.50", "available": 100, "image_url": None},
        ],
        "currency": "TWD",
        "subtotal": "2581.50",
        "count": 5,
    }
    assert await service.read_cart(ctx.redis, buyer.id) == {earbuds.id: 2, case.id: 3}

    # Setting a quantity replaces it; prices always come fresh from the catalog.
    await api.put(item_url(earbuds.id), json={"quantity": 1}, headers=headers)
    await api.patch(f"/api/v1/products/{case.id}", json={"price": "0.75"}, headers=seller_headers)
    cart = (await api.get(CART, headers=headers)).json()
    assert [(i["quantity"], i["price"]) for i in cart["items"]] == [(1, "1290.00"), (3, "0.75")]
    assert (cart["subtotal"], cart["count"]) == ("1292.25", 4)

    assert (await api.delete(item_url(case.id), headers=headers)).status_code == 204
    assert (await api.delete(item_url(case.id), headers=headers)).status_code == 204  # idempotent
    assert await service.read_cart(ctx.redis, buyer.id) == {earbuds.id: 1}
    assert (await api.delete(CART, headers=headers)).status_code == 204
    assert (await api.get(CART, headers=headers)).json()["items"] == []


async def test_ttl_is_set_and_refreshed_on_every_change(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx, "buyer")
    a, b = await make_product(ctx, seller), await make_product(ctx, seller)
    key = service.cart_key(buyer.id)
    ttl = ctx.settings.cart_ttl_s

    await api.put(item_url(a.id), json={"quantity": 1}, headers=headers)
    assert ttl - 5 <= await ctx.redis.ttl(key) <= ttl
    for change in (
        api.put(item_url(b.id), json={"quantity": 2}, headers=headers),
        api.put(item_url(b.id), json={"quantity": 3}, headers=headers),
        api.delete(item_url(b.id), headers=headers),
    ):
        await ctx.redis.expire(key, 60)
        assert (await change).status_code in (200, 204)
        assert ttl - 5 <= await ctx.redis.ttl(key) <= ttl


async def test_deleted_products_leave_the_cart(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, seller_headers = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx, "buyer")
    kept, gone = await make_product(ctx, seller), await make_product(ctx, seller)
    for product in (kept, gone):
        await api.put(item_url(product.id), json={"quantity": 1}, headers=headers)
    await api.delete(f"/api/v1/products/{gone.id}", headers=seller_headers)

    cart = (await api.get(CART, headers=headers)).json()
    assert [i["product_id"] for i in cart["items"]] == [kept.id]
    assert await service.read_cart(ctx.redis, buyer.id) == {kept.id: 1}  # dropped from the hash too
    again = await api.put(item_url(gone.id), json={"quantity": 1}, headers=headers)
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": 100},
        {"quantity": "2"},
        {"quantity": 2.5},
        {"quantity": 2.0},
        {"quantity": True},
        {"quantity": None},
        {},
        {"quantity": 1, "price": "0.01"},
        [1],
    ],
)
async def test_bad_quantities_are_422(
    api: httpx.AsyncClient, ctx: AppContext, body: Any
) -> None:
    seller, _ = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx, "buyer")
    product = await make_product(ctx, seller)
    response = await api.put(item_url(product.id), json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid"
    assert await service.read_cart(ctx.redis, buyer.id) == {}


async def test_errors(api: httpx.AsyncClient, ctx: AppContext) -> None:
    tw_seller, _ = await make_user(ctx, "seller", market="TW")
    th_seller, _ = await make_user(ctx, "seller", market="TH")
    _, headers = await make_user(ctx, "buyer")
    twd = await make_product(ctx, tw_seller, stock=3)
    thb = await make_product(ctx, th_seller)

    assert (await api.put(item_url(10**12), json={"quantity": 1}, headers=headers)).json()[
        "error"
    ]["code"] == "not_found"
    assert (await api.put("/api/v1/cart/items/abc", json={"quantity": 1}, headers=headers)
            ).status_code == 422
    malformed = await api.put(
        item_url(twd.id), content=b"{", headers={**headers, "Content-Type": "application/json"}
    )
    assert malformed.json()["error"]["code"] == "malformed_json"

    short = await api.put(item_url(twd.id), json={"quantity": 4}, headers=headers)
    assert short.status_code == 409
    assert short.json()["error"] == {
        "code": "out_of_stock", "message": "not enough stock", "details": {"available": 3},
    }
    assert (await api.put(item_url(twd.id), json={"quantity": 3}, headers=headers)
            ).status_code == 200

    mismatch = await api.put(item_url(thb.id), json={"quantity": 1}, headers=headers)
    assert mismatch.status_code == 409
    assert mismatch.json()["error"]["code"] == "currency_mismatch"
    assert mismatch.json()["error"]["details"] == {
        "cart_currency": "TWD", "product_currency": "THB",
    }
    # Emptying the cart lifts the currency restriction.
    await api.delete(CART, headers=headers)
    assert (await api.put(item_url(thb.id), json={"quantity": 1}, headers=headers)
            ).status_code == 200


async def test_distinct_items_are_capped(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    buyer, headers = await make_user(ctx, "buyer")
    products = [await make_product(ctx, seller) for _ in range(service.MAX_ITEMS + 1)]
    await ctx.redis.hset(
        service.cart_key(buyer.id), mapping={str(p.id): 1 for p in products[:-1]}
    )
    full = await api.put(item_url(products[-1].id), json={"quantity": 1}, headers=headers)
    assert full.status_code == 409
    assert full.json()["error"]["code"] == "cart_full"
    # Changing a line already in a full cart is still allowed.
    ok = await api.put(item_url(products[0].id), json={"quantity": 2}, headers=headers)
    assert ok.status_code == 200
    assert ok.json()["count"] == service.MAX_ITEMS + 1


async def test_concurrent_adds_cannot_mix_currencies(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    tw_seller, _ = await make_user(ctx, "seller", market="TW")
    th_seller, _ = await make_user(ctx, "seller", market="TH")
    _, headers = await make_user(ctx, "buyer")
    products = [await make_product(ctx, tw_seller) for _ in range(4)]
    products += [await make_product(ctx, th_seller) for _ in range(4)]
    responses = await asyncio.gather(
        *(api.put(item_url(p.id), json={"quantity": 1}, headers=headers) for p in products)
    )
    assert {r.status_code for r in responses} <= {200, 409}
    cart = (await api.get(CART, headers=headers)).json()
    assert len({i["currency"] for i in cart["items"]}) == 1
    assert cart["currency"] in ("TWD", "THB")


async def test_carts_are_per_user_and_need_a_token(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, seller_headers = await make_user(ctx, "seller")
    _, alice = await make_user(ctx, "buyer")
    _, bob = await make_user(ctx, "buyer")
    product = await make_product(ctx, seller)
    await api.put(item_url(product.id), json={"quantity": 2}, headers=alice)

    assert (await api.get(CART, headers=bob)).json()["items"] == []
    await api.delete(CART, headers=bob)
    assert (await api.get(CART, headers=alice)).json()["count"] == 2
    assert (await api.get(CART, headers=seller_headers)).json()["count"] == 0  # sellers shop too

    for method, url in [("GET", CART), ("PUT", item_url(product.id)),
                        ("DELETE", item_url(product.id)), ("DELETE", CART)]:
        response = await api.request(method, url, json={"quantity": 1} if method == "PUT" else None)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    bad_token = await api.get(CART, headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 401


async def test_clear_cart_helper(ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    buyer, _ = await make_user(ctx, "buyer")
    product = await make_product(ctx, seller)
    await service.set_item(ctx, user_id=buyer.id, product_id=product.id, quantity=2)
    assert await service.read_cart(ctx.redis, buyer.id) == {product.id: 2}
    await service.clear_cart(ctx.redis, buyer.id)
    assert await service.read_cart(ctx.redis, buyer.id) == {}
    assert await ctx.redis.exists(service.cart_key(buyer.id)) == 0
