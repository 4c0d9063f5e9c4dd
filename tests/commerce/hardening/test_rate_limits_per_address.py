"""Payment starts and cart writes are also limited per address (issue 17: "per user and per
address"): accounts one client makes up to spread its writes share the address's budget."""

from __future__ import annotations

import httpx
import pytest

from commerce.context import AppContext
from shared.settings import CommerceSettings
from tests.commerce.factories import make_product, make_user
from tests.commerce.hardening.test_rate_limits import _assert_429

LIMITS = {
    "payments_per_user": "100/minute",
    "payments_per_ip": "3/minute",
    "cart_per_user": "100/minute",
    "cart_per_ip": "3/minute",
}


@pytest.fixture(params=[True, False], ids=["hot-route", "fastapi-route"])
def commerce_settings(
    request: pytest.FixtureRequest, commerce_settings: CommerceSettings
) -> CommerceSettings:
    return commerce_settings.updated(rate_limits=LIMITS, hot_routes_enabled=request.param)


async def test_payment_starts_are_limited_per_address(
    http: httpx.AsyncClient, ctx: AppContext
) -> None:
    accounts = [(await make_user(ctx))[1] for _ in range(4)]
    url = "/api/v1/orders/999999/payments"
    for headers in accounts[:3]:  # three accounts, one attempt each: the address's budget
        missing = await http.post(url, json={"method": "ecpay"}, headers=headers)
        assert missing.status_code == 404, missing.text
    _assert_429(await http.post(url, json={"method": "ecpay"}, headers=accounts[3]))


async def test_cart_writes_are_limited_per_address(
    http: httpx.AsyncClient, ctx: AppContext
) -> None:
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller)
    accounts = [(await make_user(ctx))[1] for _ in range(4)]
    url = f"/api/v1/cart/items/{product.id}"
    for headers in accounts[:3]:
        assert (await http.put(url, json={"quantity": 1}, headers=headers)).status_code == 200
    _assert_429(await http.put(url, json={"quantity": 1}, headers=accounts[3]))
    assert (await http.get("/api/v1/cart", headers=accounts[3])).json()["items"] == []
