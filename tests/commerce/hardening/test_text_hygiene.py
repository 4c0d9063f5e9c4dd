"""Names and titles shown to other users go through shared.text, over HTTP."""

from __future__ import annotations

import httpx
import pytest

from commerce.context import AppContext
from tests.commerce.auth.helpers import PASSWORD, new_email
from tests.commerce.factories import make_user

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
