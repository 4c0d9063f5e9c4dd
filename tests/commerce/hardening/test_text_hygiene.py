"""Names and titles shown to other users go through shared.text, over HTTP."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from commerce.context import AppContext
from commerce.orders.schemas import RefundIn, ShipIn
from tests.commerce.auth.helpers import PASSWORD, new_email
from tests.commerce.factories import make_product, make_user
from tests.commerce.orders.helpers import ADDRESS, order_body, stock_of

INVISIBLE = [
    "\u200b\u200b\u200b", "\u3164", "\u202e", "\x00", "\r\n",  # nothing visible
    "Mei\u202eLin", "Mei\x00", "Mei\r\nLin", "a\u2066b",  # controls in a one-line name
]


@pytest.mark.parametrize("name", INVISIBLE)
async def test_invisible_names_and_titles_are_422(
    http: httpx.AsyncClient, ctx: AppContext, name: str
) -> None:
    _, seller = await make_user(ctx, "seller")
    register = await http.post(
        "/api/v1/auth/register",
        json={"email": new_email(), "password": PASSWORD, "display_name": name},
    )
    profile = await http.patch("/api/v1/users/me", json={"display_name": name}, headers=seller)
    product = await http.post(
        "/api/v1/products", json={"name": name, "price": "10.00", "stock": 1}, headers=seller
    )
    stream = await http.post("/api/v1/streams", json={"title": name}, headers=seller)
    for response in (register, profile, product, stream):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid"


async def test_names_are_normalised_and_descriptions_cleaned(
    http: httpx.AsyncClient, ctx: AppContext
) -> None:
    _, seller = await make_user(ctx, "seller")
    registered = await http.post(
        "/api/v1/auth/register",
        json={
            "email": new_email(), "password": PASSWORD, "display_name": " Cafe\u0301 👩\u200d💻 "
        },
    )
    assert registered.status_code == 201
    assert registered.json()["user"]["display_name"] == "Café 👩\u200d💻"
    product = await http.post(
        "/api/v1/products",
        json={"name": "Tea", "description": "line 1\r\nline 2\x07 \u202egpj.exe",
              "price": "10.00", "stock": 1},
        headers=seller,
    )
    assert product.status_code == 201, product.text
    assert product.json()["description"] == "line 1\nline 2 gpj.exe"
    patched = await http.patch(
        f"/api/v1/products/{product.json()['id']}", json={"name": "Cafe\u0301"}, headers=seller
    )
    assert patched.json()["name"] == "Café"
    invisible = await http.patch(
        f"/api/v1/products/{product.json()['id']}", json={"description": "\u200b\u200d"},
        headers=seller,
    )
    assert invisible.status_code == 422


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "Mei\u202eLin"), ("name", "\u200b\u3164"), ("line1", "No. 7\r\nX-Injected: 1"),
     ("city", "Taipei\x00"), ("district", "a\u2066b")],
)
async def test_shipping_addresses_are_refused_like_names(
    http: httpx.AsyncClient, ctx: AppContext, field: str, value: str
) -> None:
    """The address a buyer types is what the seller reads (host console, orders CSV)."""
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=5)
    _, buyer = await make_user(ctx)
    body = order_body((product.id, 1))
    body["shipping_address"] = {**ADDRESS, field: value}
    response = await http.post(
        "/api/v1/orders", json=body, headers={**buyer, "Idempotency-Key": f"hyg-{field}"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid"
    assert await stock_of(ctx, product.id) == 5  # nothing reserved


async def test_shipping_addresses_are_normalised(http: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, _ = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, stock=5)
    _, buyer = await make_user(ctx)
    body = order_body((product.id, 1))
    body["shipping_address"] = {**ADDRESS, "city": " Cafe\u0301 City "}
    response = await http.post(
        "/api/v1/orders", json=body, headers={**buyer, "Idempotency-Key": "hyg-nfc"}
    )
    assert response.status_code == 201, response.text
    shown = await http.get(f"/api/v1/orders/{response.json()['id']}", headers=buyer)
    assert shown.json()["shipping_address"]["city"] == "Café City"


@pytest.mark.parametrize("carrier", ["Kerry\u202eExpress", "\u200b", "Post\r\nX"])
def test_carriers_are_refused_like_names(carrier: str) -> None:
    with pytest.raises(ValidationError):
        ShipIn.model_validate({"carrier": carrier, "tracking_number": "TW123"})
    assert ShipIn.model_validate(
        {"carrier": "黑貓宅急便", "tracking_number": "TW123"}).carrier == "黑貓宅急便"


def test_refund_reasons_are_cleaned_like_descriptions() -> None:
    with pytest.raises(ValidationError):
        RefundIn.model_validate({"reason": "\u200b\u200d"})
    reason = RefundIn.model_validate({"reason": "broken\r\nscreen\x07 \u202e"}).reason
    assert reason == "broken\nscreen"
