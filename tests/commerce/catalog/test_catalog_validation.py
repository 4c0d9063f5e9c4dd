"""Bad product input of every kind is a 4xx error envelope with a machine-readable code."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from commerce.context import AppContext
from tests.commerce.factories import make_product, make_user

VALID: dict[str, Any] = {"name": "Earbuds", "price": "1290.00", "stock": 1}


async def post_raw(
    api: httpx.AsyncClient, headers: dict[str, str], raw: str | bytes
) -> httpx.Response:
    return await api.post(
        "/api/v1/products",
        content=raw.encode() if isinstance(raw, str) else raw,
        headers={**headers, "Content-Type": "application/json"},
    )


@pytest.mark.parametrize(
    ("raw_price", "expected"),
    [
        ('"1290.00"', "1290.00"),
        ('"7"', "7.00"),
        ("1290", "1290.00"),
        ("1290.1", "1290.10"),
        ("0.01", "0.01"),
        ("1.50e2", "150.00"),
        ("99999999.99", "99999999.99"),
    ],
)
async def test_prices_are_exact(
    api: httpx.AsyncClient, ctx: AppContext, raw_price: str, expected: str
) -> None:
    _, headers = await make_user(ctx, "seller")
    response = await post_raw(api, headers, f'{{"name": "x", "price": {raw_price}, "stock": 1}}')
    assert response.status_code == 201, response.text
    assert response.json()["price"] == expected


@pytest.mark.parametrize(
    "raw_price",
    [
        '"0.001"',
        "0.001",
        "12345678.105",  # a float would round this to 12345678.1 (or .11) silently
        "0.1000000000000000055511151231257827",
        "1e309",
        "-1e309",
        "1" + "0" * 5000,  # beyond Python's int digit limit: a parse error, not a 500
        "100000000",
        '"100000000.00"',
        "0",
        '"0.00"',
        "-5",
        '"-5.00"',
        '"1,290.00"',
        '"12.5e1"',
        '"NaN"',
        "NaN",
        "Infinity",
        '" 12.00"',
        "true",
        "null",
        '["1.00"]',
        '{"amount": "1.00"}',
    ],
)
async def test_bad_prices_are_refused(
    api: httpx.AsyncClient, ctx: AppContext, raw_price: str
) -> None:
    _, headers = await make_user(ctx, "seller")
    response = await post_raw(api, headers, f'{{"name": "x", "price": {raw_price}, "stock": 1}}')
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"]["code"] in ("invalid", "malformed_json")


def _bad_bodies() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("missing name", {"price": "1.00", "stock": 1}),
        ("missing price", {"name": "x", "stock": 1}),
        ("missing stock", {"name": "x", "price": "1.00"}),
        ("empty name", {**VALID, "name": "   "}),
        ("long name", {**VALID, "name": "x" * 201}),
        ("name not a string", {**VALID, "name": 5}),
        ("long description", {**VALID, "description": "x" * 5001}),
        ("stock as string", {**VALID, "stock": "5"}),
        ("stock as float", {**VALID, "stock": 5.0}),
        ("stock as bool", {**VALID, "stock": True}),
        ("negative stock", {**VALID, "stock": -1}),
        ("huge stock", {**VALID, "stock": 1_000_001}),
        ("unknown currency", {**VALID, "currency": "USD"}),
        ("lower-case currency", {**VALID, "currency": "twd"}),
        ("unknown field", {**VALID, "discount": 5}),
        ("attributes not an object", {**VALID, "attributes": ["a"]}),
        ("too many attributes", {**VALID, "attributes": {f"k{i}": i for i in range(51)}}),
        ("oversized attributes", {**VALID, "attributes": {"blob": "x" * 8200}}),
        ("too many images", {**VALID, "images": [f"https://c.example/{i}.jpg" for i in range(11)]}),
        ("http image", {**VALID, "images": ["http://c.example/1.jpg"]}),
        ("not a url", {**VALID, "images": ["not a url"]}),
        ("javascript url", {**VALID, "images": ["javascript:alert(1)"]}),
        ("images not a list", {**VALID, "images": "https://c.example/1.jpg"}),
        ("long url", {**VALID, "images": ["https://c.example/" + "a" * 2100]}),
        ("body is a list", [VALID]),  # type: ignore[dict-item]
        ("body is a string", "x"),  # type: ignore[dict-item]
    ]


@pytest.mark.parametrize(("case", "body"), _bad_bodies(), ids=[c for c, _ in _bad_bodies()])
async def test_bad_bodies_are_422(
    api: httpx.AsyncClient, ctx: AppContext, case: str, body: dict[str, Any]
) -> None:
    _, headers = await make_user(ctx, "seller")
    response = await api.post("/api/v1/products", json=body, headers=headers)
    assert response.status_code == 422, (case, response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"] and all(d["loc"][0] == "body" for d in error["details"])


async def test_non_finite_attribute_numbers_are_refused(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    _, headers = await make_user(ctx, "seller")
    raw = '{"name": "x", "price": "1.00", "stock": 1, "attributes": {"w": [1e400]}}'
    response = await post_raw(api, headers, raw)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", "attributes"]


@pytest.mark.parametrize(
    "raw", ["", "{", '{"name": "x",}', "{'name': 'x'}", b"\xff\xfe{}", "[" * 100_000]
)
async def test_malformed_json_is_400(
    api: httpx.AsyncClient, ctx: AppContext, raw: str | bytes
) -> None:
    _, headers = await make_user(ctx, "seller")
    response = await post_raw(api, headers, raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


async def test_attributes_at_the_limits_are_accepted(
    api: httpx.AsyncClient, ctx: AppContext
) -> None:
    _, headers = await make_user(ctx, "seller")
    fifty = {f"k{i}": i for i in range(50)}
    ok = await api.post("/api/v1/products", json={**VALID, "attributes": fifty}, headers=headers)
    assert ok.status_code == 201
    nested = {"size": {"eu": 42.5, "us": [9, 9.5]}, "tags": ["新品", "ใหม่"]}
    ok = await api.post("/api/v1/products", json={**VALID, "attributes": nested}, headers=headers)
    assert ok.json()["attributes"] == nested


@pytest.mark.parametrize(
    "patch",
    [
        {},
        {"name": None},
        {"stock": None},
        {"price": "0.001"},
        {"price": 0},
        {"stock": -3},
        {"seller_id": 99},
        {"id": 1},
        {"is_deleted": True},
        {"currency": "JPY"},
    ],
)
async def test_bad_patches_are_422_and_change_nothing(
    api: httpx.AsyncClient, ctx: AppContext, patch: dict[str, Any]
) -> None:
    seller, headers = await make_user(ctx, "seller")
    product = await make_product(ctx, seller, price="10.00", stock=4)
    url = f"/api/v1/products/{product.id}"
    response = await api.patch(url, json=patch, headers=headers)
    assert response.status_code == 422, response.text
    after = (await api.get(url)).json()
    assert (after["price"], after["stock"], after["seller_id"]) == ("10.00", 4, seller.id)


async def test_patch_may_clear_optional_fields(api: httpx.AsyncClient, ctx: AppContext) -> None:
    seller, headers = await make_user(ctx, "seller")
    product = await make_product(
        ctx, seller, description="d", attributes={"a": 1}, images=["https://c.example/1.jpg"]
    )
    response = await api.patch(
        f"/api/v1/products/{product.id}",
        json={"description": "", "attributes": {}, "images": []},
        headers=headers,
    )
    body = response.json()
    assert (body["description"], body["attributes"], body["images"]) == ("", {}, [])
