"""Bad input of every kind is a 4xx error envelope with a machine-readable code, never a 500,
and never reserves anything."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from commerce.context import AppContext
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import ADDRESS, make_stream, order_body, order_count, stock_of


def _address(**changes: Any) -> dict[str, Any]:
    address = copy.deepcopy(ADDRESS)
    for key, value in changes.items():
        if value is None:
            address.pop(key)
        else:
            address[key] = value
    return address


BAD_BODIES: list[tuple[str, Any]] = [
    ("no source", {"shipping_address": ADDRESS}),
    ("both sources", {**order_body((1, 1)), "from_cart": True}),
    ("empty items", {"items": [], "shipping_address": ADDRESS}),
    ("51 lines", {"items": [{"product_id": i, "quantity": 1} for i in range(1, 52)],
                  "shipping_address": ADDRESS}),
    ("quantity 0", order_body((1, 0))),
    ("quantity 100", order_body((1, 100))),
    ("quantity as string", {"items": [{"product_id": 1, "quantity": "2"}],
                            "shipping_address": ADDRESS}),
    ("quantity float", {"items": [{"product_id": 1, "quantity": 1.5}],
                        "shipping_address": ADDRESS}),
    ("quantity bool", {"items": [{"product_id": 1, "quantity": True}],
                       "shipping_address": ADDRESS}),
    ("product id 0", order_body((0, 1))),
    ("product id huge", order_body((2**70, 1))),
    ("duplicate lines", order_body((1, 1), (1, 2))),
    ("unknown field", {**order_body((1, 1)), "discount": "100"}),
    ("item unknown field", {"items": [{"product_id": 1, "quantity": 1, "price": "0.01"}],
                            "shipping_address": ADDRESS}),
    ("no address", {"items": [{"product_id": 1, "quantity": 1}]}),
    ("address country", order_body((1, 1)) | {"shipping_address": _address(country="JP")}),
    ("address no city", order_body((1, 1)) | {"shipping_address": _address(city=None)}),
    ("address blank name", order_body((1, 1)) | {"shipping_address": _address(name="   ")}),
    ("address phone", order_body((1, 1)) | {"shipping_address": _address(phone="call me")}),
    ("address long line", order_body((1, 1)) | {"shipping_address": _address(line1="x" * 201)}),
    ("stream id string", {**order_body((1, 1)), "stream_id": "abc"}),
    ("stream id negative", {**order_body((1, 1)), "stream_id": -3}),
    ("from_cart string", {"from_cart": "yes", "shipping_address": ADDRESS}),
    ("items not a list", {"items": {"product_id": 1}, "shipping_address": ADDRESS}),
    ("body is a list", [order_body((1, 1))]),
    ("body is null", None),
]


@pytest.mark.parametrize(("case", "body"), BAD_BODIES, ids=[c for c, _ in BAD_BODIES])
async def test_malformed_bodies_are_422(
    api: httpx.AsyncClient, ctx: AppContext, case: str, body: Any
) -> None:
    _, headers = await make_user(ctx)
    response = await api.post("/api/v1/orders", json=body, headers=headers)
    assert response.status_code == 422, (case, response.text)
    assert response.json()["error"]["code"] == "invalid"


async def test_non_json_bodies_are_4xx(api: httpx.AsyncClient, ctx: AppContext) -> None:
    _, headers = await make_user(ctx)
    for content, ctype in (
        (b"{not json", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"items=1", "application/x-www-form-urlencoded"),
        (b"", "application/json"),
    ):
        response = await api.post(
            "/api/v1/orders", content=content, headers={**headers, "Content-Type": ctype}
        )
        assert 400 <= response.status_code < 500, (content, response.text)
        assert "error" in response.json()


async def test_business_rule_violations(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, seller_h = await make_user(ctx, "seller")
    _, buyer_h = await make_user(ctx)
    twd = await make_product(ctx, seller, stock=5, currency="TWD")
    thb = await make_product(ctx, seller, stock=5, currency="THB")
    gone = await make_product(ctx, seller, stock=5)
    deleted = await api.delete(f"/api/v1/products/{gone.id}", headers=seller_h)
    assert deleted.status_code == 204
    ended = await make_stream(ctx, seller.id, "ended")

    cases: list[tuple[dict[str, str], dict[str, Any], str, Any]] = [
        (buyer_h, order_body((twd.id, 1), (thb.id, 1)), "currency_mismatch",
         {"currencies": ["THB", "TWD"]}),
        (buyer_h, order_body((twd.id, 1), (gone.id, 1), (987654, 1)), "product_not_found",
         {"product_ids": [gone.id, 987654]}),
        (seller_h, order_body((twd.id, 1)), "own_product", {"product_ids": [twd.id]}),
        (buyer_h, order_body((twd.id, 1), stream_id=ended), "invalid_stream",
         {"stream_id": ended, "status": "ended"}),
        (buyer_h, order_body((twd.id, 1), stream_id=424242), "invalid_stream",
         {"stream_id": 424242, "status": None}),
    ]
    for headers, body, code, details in cases:
        response = await api.post("/api/v1/orders", json=body, headers=headers)
        assert response.status_code == 422, (code, response.text)
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["details"] == details
    assert await order_count(ctx) == 0
    assert await stock_of(ctx, twd.id) == 5
    assert await stock_of(ctx, thb.id) == 5


async def test_the_app_middleware_wraps_post_orders(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    """Request id, CORS and the body-size limit apply to `POST /orders` whichever route serves
    it (the hot route sits inside the app's own middleware)."""
    _, headers = await make_user(ctx)
    response = await api.post(
        "/api/v1/orders", json={"items": []},
        headers={**headers, "X-Request-ID": "req-42", "Origin": "https://shop.example"},
    )
    assert response.status_code == 422
    assert response.headers["x-request-id"] == "req-42"
    assert response.headers["access-control-allow-origin"] in ("*", "https://shop.example")
    too_big = await api.post(
        "/api/v1/orders", content=b"{" + b" " * 2_000_000 + b"}",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
