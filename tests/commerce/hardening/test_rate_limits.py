"""Per-user and per-address limits on orders, payment starts and cart writes, over HTTP (the hot
order route and the FastAPI one alike)."""

from __future__ import annotations

import httpx
import pytest

from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import order_body, order_count

LIMITS = {
    "orders_per_user": "2/minute",
    "orders_per_ip": "4/minute",  # every attempt counts, refused ones too
    "payments_per_user": "2/minute",
    "payments_per_ip": "100/minute",
    "cart_per_user": "3/minute",
    "cart_per_ip": "100/minute",
    "payment_return_per_ip": "2/minute",
}
# Nothing listens there: the check fails fast.
PAYMENTS = {"linepay": {"base_url": "http://127.0.0.1:9"}}


@pytest.fixture(params=[True, False], ids=["hot-route", "fastapi-route"])
def commerce_settings(
    request: pytest.FixtureRequest, commerce_settings: CommerceSettings
) -> CommerceSettings:
    return commerce_settings.updated(
        rate_limits=LIMITS, payments=PAYMENTS, hot_routes_enabled=request.param)

# `http` (tests/commerce/hardening/conftest.py) serves the app with these settings.


def _assert_429(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_orders_are_limited_per_user_then_per_address(
    http: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=100)
    _, greedy = await make_user(ctx)
    _, other = await make_user(ctx)
    for _ in range(2):
        placed = await http.post("/api/v1/orders", json=order_body((product.id, 1)), headers=greedy)
        assert placed.status_code == 201, placed.text
    _assert_429(await http.post("/api/v1/orders", json=order_body((product.id, 1)), headers=greedy))
    assert await order_count(ctx) == 2  # the refused order reserved nothing
    # Another account from the same address: its own budget, until the address's is used up.
    placed = await http.post("/api/v1/orders", json=order_body((product.id, 1)), headers=other)
    assert placed.status_code == 201
    _assert_429(await http.post("/api/v1/orders", json=order_body((product.id, 1)), headers=other))
    assert await order_count(ctx) == 3


async def test_payment_starts_and_cart_writes_are_limited_per_user(
    http: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller)
    _, buyer = await make_user(ctx)
    _, other = await make_user(ctx)
    for _ in range(2):
        missing = await http.post(
            "/api/v1/orders/999999/payments", json={"method": "ecpay"}, headers=buyer
        )
        assert missing.status_code == 404
    _assert_429(
        await http.post("/api/v1/orders/999999/payments", json={"method": "ecpay"}, headers=buyer)
    )
    url = f"/api/v1/cart/items/{product.id}"
    assert (await http.put(url, json={"quantity": 1}, headers=buyer)).status_code == 200
    assert (await http.put(url, json={"quantity": 2}, headers=buyer)).status_code == 200
    assert (await http.delete(url, headers=buyer)).status_code == 204
    _assert_429(await http.put(url, json={"quantity": 3}, headers=buyer))
    assert (await http.get("/api/v1/cart", headers=buyer)).json()["items"] == []
    assert (await http.put(url, json={"quantity": 1}, headers=other)).status_code == 200


async def test_anonymous_linepay_returns_are_limited_per_address(http: httpx.AsyncClient) -> None:
    url = "/api/v1/payments/webhooks/linepay?transactionId=2024112400000099999&orderId=x"
    for _ in range(2):
        assert (await http.get(url)).status_code != 429
    _assert_429(await http.get(url))
